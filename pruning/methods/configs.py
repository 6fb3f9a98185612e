"""The named PFEC configurations of Li et al. (2017) as used by Liu et al. (2019, "Rethinking")
and Le & Hua (2021, NPTM): ResNet-56-A…D, ResNet-110-A…D, VGG-16-A…C.

ResNet configs name conv ids counted from 1 = the stem conv in module order; in block b the
first conv has id 2 + 2b, so the even ids are the prunable first convs. The stage of an id is
fixed by the authors' cut points (≤ 18 / ≤ 36 for ResNet-56, ≤ 36 / ≤ 72 for ResNet-110), as in
rethinking-network-pruning's res56prune.py / res110prune.py. VGG configs are target width lists
("M" = max-pool), reached by keeping the most important filters of each conv.

Iterative PFEC ("I", docs/science.md §3: 8 rounds, each removing 10 %/15 %/20 % of the *current*
filters in stages 1/2/3): ResNet-56-I and ResNet-110-I skip no conv id, as in Le & Hua's code
(github lehduong/NPTM, norm-pruning/cifar/l1-norm-pruning/res56prune.py and res110prune.py:
`skip['I'] = []`, `prune_prob['I'] = [0.1, 0.15, 0.2]`, keep int(C·(1 − p)) of the conv's
*current* out_channels, so applying it to the previous round's pruned model compounds).

Ratio configs (A–D, I) apply round after round: each call keeps int(C_current·(1 − p)) per
layer. Width-list configs (VGG-16-A/B/C) name absolute widths, so they apply once, to the
unpruned VGG-16; `config_is_iterable` tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass

_RESNET56_SKIP_B = (16, 18, 20, 34, 38, 54)
_RESNET110_SKIP_B = (36, 38, 74)
_ITERATIVE_RATIOS = (0.1, 0.15, 0.2)


@dataclass(frozen=True)
class PaperConfig:
    """One named configuration; either (skip_ids, stage_ratios, stage_bounds) or widths."""

    name: str
    model: str
    num_convs: int
    skip_ids: tuple[int, ...] = ()
    stage_ratios: tuple[float, ...] = ()
    stage_bounds: tuple[int, ...] = ()
    widths: tuple[int | str, ...] = ()
    rounds: int = 1  # the rounds the paper applies it for (iterative PFEC: 8)

    def stage_of(self, conv_id: int) -> int:
        """Stage (0-based) of a conv id, by the authors' cut points."""
        return sum(conv_id > bound for bound in self.stage_bounds)

    def conv_ratio(self, conv_id: int) -> float:
        """Fraction of filters removed from the conv with this id (0 for a skipped id)."""
        if conv_id in self.skip_ids:
            return 0.0
        return self.stage_ratios[self.stage_of(conv_id)]

    @property
    def iterable(self) -> bool:
        """Whether the config can be applied again to an already-pruned model (ratios: yes;
        absolute width lists: no)."""
        return not self.widths

    def conv_widths(self) -> list[int]:
        """VGG: the target out-channels of every conv in order (pool markers dropped)."""
        return [int(w) for w in self.widths if w != "M"]


def _resnet(
    name: str, depth: int, skip: tuple[int, ...], ratios: tuple[float, ...], rounds: int = 1
) -> PaperConfig:
    bounds = (18, 36) if depth == 56 else (36, 72)
    model = f"resnet{depth}"
    return PaperConfig(f"{model}-{name}", model, depth - 1, skip, ratios, bounds, rounds=rounds)


def _vgg(name: str, widths: list[int | str]) -> PaperConfig:
    return PaperConfig(f"vgg16-{name}", "vgg16", 13, widths=tuple(widths))


PAPER_CONFIGS: dict[str, PaperConfig] = {
    c.name: c
    for c in (
        _resnet("A", 56, (16, 20, 38, 54), (0.1, 0.1, 0.1)),
        _resnet("B", 56, _RESNET56_SKIP_B, (0.6, 0.3, 0.1)),
        _resnet("C", 56, _RESNET56_SKIP_B, (0.6, 0.5, 0.4)),
        _resnet("D", 56, _RESNET56_SKIP_B, (0.6, 0.6, 0.6)),
        _resnet("A", 110, (36,), (0.5, 0.0, 0.0)),
        _resnet("B", 110, _RESNET110_SKIP_B, (0.5, 0.4, 0.3)),
        _resnet("C", 110, _RESNET110_SKIP_B, (0.5, 0.5, 0.5)),
        _resnet("D", 110, _RESNET110_SKIP_B, (0.5, 0.6, 0.7)),
        _resnet("I", 56, (), _ITERATIVE_RATIOS, rounds=8),
        _resnet("I", 110, (), _ITERATIVE_RATIOS, rounds=8),
        _vgg(
            "A",
            [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256],
        ),
        _vgg(
            "B",
            [32, 64, "M", 128, 128, "M", 196, 196, 196, "M", 196, 196, 256, "M", 256, 256, 256],
        ),
        _vgg(
            "C", [32, 64, "M", 64, 128, "M", 128, 128, 128, "M", 196, 196, 196, "M", 196, 196, 196]
        ),
    )
}

# docs/science.md §3: percent of MACs / parameters (conv + FC, CIFAR-10, 32×32) each config removes
# (one-shot configs only: no source states one round of "I").
PAPER_REDUCTIONS: dict[str, tuple[float, float]] = {
    "resnet56-A": (10.4, 9.4),
    "resnet56-B": (27.6, 13.8),
    "resnet56-C": (40.3, 34.7),
    "resnet56-D": (48.9, 48.9),
    "resnet110-A": (15.9, 2.3),
    "resnet110-B": (38.7, 32.5),
    "resnet110-C": (47.6, 47.8),
    "resnet110-D": (58.0, 64.9),
    "vgg16-A": (34.2, 64.0),
    "vgg16-B": (48.8, 71.9),
    "vgg16-C": (69.6, 82.4),
}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def configs_for(model: str) -> list[str]:
    """Names of the paper configs that apply to a model name (e.g. "resnet56")."""
    return [c.name for c in PAPER_CONFIGS.values() if c.model == model]


def resolve_config(name: str, model: str | None) -> PaperConfig:
    """Find a config by full name ("resnet56-B", "ResNet-56-B") or by its letter ("B") for the
    given model name; a config that does not belong to the model is a one-line ValueError."""
    valid = configs_for(model) if model else []
    key = _canonical(name)
    for config in PAPER_CONFIGS.values():
        full, letter = _canonical(config.name), _canonical(config.name.split("-")[-1])
        if key == full or (key == letter and config.model == model):
            if model is not None and config.model != model:
                break
            return config
    raise ValueError(
        f"config {name!r} does not fit model {model or 'unknown'}; valid configs for it: "
        f"{', '.join(valid) or 'none'}"
    )


def config_is_iterable(name: str, model: str | None) -> bool:
    """Whether config `name` (full name, or a letter resolved against `model`) may be applied
    round after round: ratio configs (ResNet A–D, I) yes, VGG width lists no. Raises the same
    ValueError as `resolve_config` for a config that does not fit the model."""
    return resolve_config(name, model).iterable

"""What a pruning call is asked to do (PruneTarget), what it may use (PruneContext) and what it
did (PruneReport).

The report keeps the *requested* ratio and the *achieved* one apart: per-layer keep counts are
rounded down (PFEC's int(C·(1 − p))), slimming never empties a layer, and an unstructured round
only removes still-alive weights, so the two differ by design and both are worth logging.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

LossBatches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]


def check_ratio(value: float, name: str = "ratio") -> float:
    """Validate a pruning fraction: it must lie in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class PruneTarget:
    """How much to prune: exactly one of a uniform `ratio`, per-stage `stage_ratios`, or a
    named paper `config` ("resnet56-B", or "B" resolved against the model being pruned).

    For structured methods a ratio is the fraction of *filters* removed per prunable layer
    (slimming: of all prunable channels, globally); for unstructured ones the fraction of the
    *remaining* weights removed in this round.
    """

    ratio: float | None = None
    stage_ratios: tuple[float, ...] | None = None
    config: str | None = None

    def __post_init__(self) -> None:
        given = [k for k in ("ratio", "stage_ratios", "config") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "PruneTarget needs exactly one of ratio, stage_ratios, config; "
                f"got {', '.join(given) or 'none'}"
            )
        if self.ratio is not None:
            object.__setattr__(self, "ratio", check_ratio(self.ratio))
        if self.stage_ratios is not None:
            if len(self.stage_ratios) == 0:
                raise ValueError("stage_ratios must list one ratio per stage, got an empty list")
            ratios = tuple(check_ratio(r, "stage_ratios") for r in self.stage_ratios)
            object.__setattr__(self, "stage_ratios", ratios)
        if self.config is not None and not (isinstance(self.config, str) and self.config):
            raise ValueError(
                f"config must be a non-empty name like 'resnet56-B', got {self.config!r}"
            )

    def describe(self) -> dict[str, Any]:
        """The target as a flat, JSON-able dict (for logging)."""
        out = {"ratio": self.ratio, "config": self.config}
        out["stage_ratios"] = list(self.stage_ratios) if self.stage_ratios is not None else None
        return out


@dataclass
class PruneContext:
    """What a method may use besides the model.

    example_inputs: one batch of the model's input shape, for tracing and MAC counting.
    seed: seeds every random choice (random filters, random unstructured).
    masks: unstructured masks of earlier rounds (param name → bool tensor); None = dense.
    loss_batches: zero-argument callable yielding (x, y) batches; taylor sums gradients over the
        first `taylor_batches` of them (an epoch's iterator may be passed: it is cut short).
    include_fc: unstructured methods also prune the linear layers' weights (default: conv only).
    previous_weights: for methods that rank weights by how far they moved (weight_change): each
        weight one epoch before the end of the round, keyed like `masks` (a state_dict snapshot
        taken after the round's second-to-last epoch serves); None otherwise.
    """

    example_inputs: torch.Tensor
    seed: int = 0
    masks: dict[str, torch.Tensor] | None = None
    loss_batches: LossBatches | None = None
    include_fc: bool = False
    taylor_batches: int = 32
    previous_weights: dict[str, torch.Tensor] | None = None

    @classmethod
    def for_model(
        cls,
        model: nn.Module,
        *,
        shape: tuple[int, ...],
        num_classes: int | None = None,
        batch_size: int = 1,
        **fields: Any,
    ) -> PruneContext:
        """A context whose example_inputs are a fixed random batch of `shape` ((C, H, W) or
        (C, L)) on the model's device; `fields` are the other PruneContext fields.
        `num_classes` is accepted for symmetry with the model builders and not needed."""
        del num_classes
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(0)
        inputs = torch.randn((batch_size, *shape), generator=generator).to(device)
        return cls(example_inputs=inputs, **fields)


@dataclass
class PruneReport:
    """The outcome of one pruning call. `to_dict()` is JSON-able; masks stay out of it.

    achieved_ratio: structured — fraction of prunable filters removed; unstructured — fraction of
    the weights alive before this round that this round removed (the quantity `ratio` asks for;
    the cumulative figure is `sparsity_after`).
    sparsity_*: fraction of conv + linear weights that are zero or removed, relative to the dense
    model (structured: relative to the model as it was before this call, when no dense reference
    is known).
    kept: structured — per prunable conv (module name), the indices of the filters kept, into the
    model as it was just before this call (sorted); what `replay_pruning` needs to cut another
    model with the same architecture (weight rewinding, lottery-ticket init) identically.
    Unstructured: None (the masks say it).
    """

    method: str
    kind: str
    requested_ratio: float
    achieved_ratio: float
    macs_before: float
    macs_after: float
    params_before: float
    params_after: float
    sparsity_before: float
    sparsity_after: float
    widths: dict[str, int]
    config: str | None = None
    stage_ratios: list[float] | None = None
    kept: dict[str, list[int]] | None = field(default=None, repr=False)
    masks: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def macs_removed(self) -> float:
        """Fraction of MACs removed by this call."""
        return 1.0 - self.macs_after / self.macs_before if self.macs_before else 0.0

    @property
    def params_removed(self) -> float:
        """Fraction of parameters removed by this call."""
        return 1.0 - self.params_after / self.params_before if self.params_before else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of everything but the masks."""
        out = asdict(self)
        out.pop("masks")
        for key in ("macs_before", "macs_after", "params_before", "params_after"):
            out[key] = float(out[key])
        out["widths"] = {k: int(v) for k, v in self.widths.items()}
        if self.kept is not None:
            out["kept"] = {k: [int(i) for i in v] for k, v in self.kept.items()}
        out["macs_removed"] = self.macs_removed
        out["params_removed"] = self.params_removed
        return out


def removed_fractions(reports: Sequence[Mapping[str, Any]]) -> list[float]:
    """The fraction of the dense model's conv + linear weights removed (or zeroed) after each
    round, from the rounds' reports (`PruneReport.to_dict()`), in round order.

    Each round's `sparsity_after` is relative to the weights it started from where it removed
    channels (structured) and to the dense model where it masked (unstructured); the ratio
    (1 − after) / (1 − before) is the fraction of its input weights a round kept either way, so
    the product over rounds is the fraction of the dense weights still there. This is S-Cyc's
    x (docs/science.md §2), from what each round actually reached."""
    kept, out = 1.0, []
    for report in reports:
        before, after = float(report["sparsity_before"]), float(report["sparsity_after"])
        kept *= (1.0 - after) / (1.0 - before) if before < 1.0 else 0.0
        out.append(min(max(1.0 - kept, 0.0), 1.0))
    return out

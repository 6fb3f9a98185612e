"""Checks of a study spec that need several fields, or the `pruning` plug-ins themselves.

Pure: each check reads the spec and raises `CheckError` with the path of the field the user has
to change and the valid values; none changes the spec (studies.spec.loading fills in derived
params after the checks pass). Schedule params are validated by building the real schedule for
every budget and max LR the study can sample, so a value the schedule would refuse in a trial is
refused before anything runs.

The model zoo, data sets and pruning methods pull in torch, so they are imported inside the
checks that need them: `import studies.spec` stays cheap for the commands that only list or
parse (presets, --help).
"""

from __future__ import annotations

from pruning.schedules import SCHEDULES, build_schedule
from studies.spec import derived, retrain_checks
from studies.spec.check_error import CheckError, invalid
from studies.spec.contract import pretraining
from studies.spec.fields import RatioRange
from studies.spec.model import StudySpec


def check(spec: StudySpec) -> None:
    """Every cross-field check, in the order a reader of the file meets the fields."""
    _dataset_and_model(spec)
    _pretrain(spec)
    _pruning(spec)
    retrain_checks.check_retrain(spec)
    _search(spec)
    _oracle(spec)


# --- sections ------------------------------------------------------------------------------------


def _dataset_and_model(spec: StudySpec) -> None:
    from pruning.data.info import describe  # torch: see the module docstring
    from pruning.models import MODELS, build, supported_dims

    data, model = spec.dataset, spec.model
    info = describe(data.name, data.root or None, data.image_size or None)
    if info.needs_root and not data.root:
        raise invalid(
            f"{data.name} needs the folder it is stored in",
            "a directory path, e.g. root = /data/" + data.name,
            path="dataset.root",
        )
    if info.dims not in supported_dims(model.name):
        fits = [m for m in MODELS.names() if info.dims in supported_dims(m)]
        raise invalid(
            f"{model.name} cannot take {info.dims}-D inputs, and dataset {data.name} is "
            f"{info.dims}-D",
            ", ".join(fits),
            path="model.name",
        )
    if model.widths:
        try:
            build(
                model.name,
                info.num_classes,
                info.shape[0],
                info.shape[-1],
                info.dims,
                model.widths,
            )
        except (ValueError, TypeError) as err:
            raise invalid(str(err), "", path="model.widths") from None


def _pretrain(spec: StudySpec) -> None:
    recipe = spec.pretrain
    # The dense run sets the peak through max_lr (trainables/dense_cache.py): scyc has none,
    # and lrw would need an earlier run to replay.
    usable = [
        n
        for n in SCHEDULES.names()
        if derived.peak_param(n) is not None and not SCHEDULES.get(n).replays_pretraining
    ]
    if recipe.schedule not in usable:
        raise invalid(
            f"{recipe.schedule} cannot train a dense model",
            ", ".join(usable),
            path="pretrain.schedule",
        )
    params = pretraining(recipe).run_params()
    where = "pretrain.schedule_params" if recipe.schedule_params else "pretrain"
    spe, _ = derived.steps_per_epoch(spec, "pretrain")
    try:
        build_schedule(recipe.schedule, epochs=recipe.epochs, steps_per_epoch=spe, **params)
    except ValueError as err:
        raise invalid(f"{err} (pretrain.epochs = {recipe.epochs})", "", path=where) from None
    for section in ("pretrain", "retrain"):
        part = getattr(spec, section)
        if part.nesterov and part.momentum == 0:
            raise invalid(
                "nesterov needs momentum > 0", "false, or momentum > 0", path=f"{section}.nesterov"
            )


def _pruning(spec: StudySpec) -> None:
    _pruning_amount(spec)
    _pruning_rounds(spec)


def _pruning_amount(spec: StudySpec) -> None:
    """Ratio or configs (not both, not neither), configs that fit the model and the methods."""
    from pruning.methods import (  # torch: see above
        STRUCTURED,
        configs_for,
        ranks_globally,
        resolve_config,
    )

    p = spec.pruning
    if p.configs and p.ratio is not None:
        raise invalid(
            "give configs or ratio, not both",
            "remove ratio, or set configs = []",
            path="pruning.configs",
        )
    if not p.configs and p.ratio is None:
        raise invalid(
            "no pruning amount given",
            "ratio = [0.5], ratio = {low = 0.3, high = 0.9}, or configs = [...]",
            path="pruning.ratio",
        )
    for i, name in enumerate(p.configs):
        try:
            resolve_config(name, spec.model.name)
        except ValueError:
            fits = configs_for(spec.model.name)
            raise invalid(
                f"config {name!r} does not fit model {spec.model.name}",
                ", ".join(fits) or "none for this model (use ratio)",
                path=f"pruning.configs[{i}]",
            ) from None
    if p.configs:
        # Slimming and the unstructured methods rank globally: they take one uniform ratio.
        by_config = [m for m in STRUCTURED if not ranks_globally(m)]
        for i, method in enumerate(p.methods):
            if method not in by_config:
                raise invalid(
                    f"{method} cannot prune to a named config",
                    ", ".join(by_config),
                    path=f"pruning.methods[{i}]",
                )


def _pruning_rounds(spec: StudySpec) -> None:
    """Rounds that fit the pruning schedule; include_fc only where it means something."""
    from pruning.methods import UNSTRUCTURED, config_is_iterable  # torch: see the docstring

    p = spec.pruning
    if p.schedule == "iterative" and p.rounds < 2:
        raise invalid(
            f"iterative pruning needs rounds >= 2, got {p.rounds}", ">= 2", path="pruning.rounds"
        )
    for i, name in enumerate(p.configs if p.schedule == "iterative" else []):
        if not config_is_iterable(name, spec.model.name):
            raise invalid(
                f"config {name!r} lists absolute widths: it can be applied once, not per round",
                "a ratio config (ResNet A-D, I), or ratio = [...]",
                path=f"pruning.configs[{i}]",
            )
    if p.schedule == "one-shot" and p.rounds != 1:
        raise invalid(
            f"rounds = {p.rounds} needs schedule = 'iterative'",
            "1 for one-shot",
            path="pruning.rounds",
        )
    if p.include_fc and not set(p.methods) & set(UNSTRUCTURED):
        raise invalid(
            "only unstructured methods prune the classifier",
            ", ".join(UNSTRUCTURED),
            path="pruning.include_fc",
        )


def _search(spec: StudySpec) -> None:
    _sampler(spec)
    _objective(spec)


def _sampler(spec: StudySpec) -> None:
    """Trial counts and value lists the sampler can walk."""
    s = spec.search
    if s.sampler == "cells" and s.trials != 0:
        raise invalid(
            "with sampler = 'cells' the trial count follows from the cells "
            "(search.trials_per_cell for schedules with a searched max LR)",
            "0",
            path="search.trials",
        )
    if s.trials == 0 and s.sampler not in ("grid", "cells"):
        raise invalid(
            "0 trials means 'the grid size', for sampler = 'grid' or 'cells' only",
            ">= 1",
            path="search.trials",
        )
    if s.sampler == "cells" and not isinstance(spec.pruning.ratio, list | None):
        raise invalid(
            "sampler = 'cells' runs every ratio: it needs a list, not a range",
            "a list, e.g. [0.5, 0.8]",
            path="pruning.ratio",
        )
    if s.sampler == "grid":
        for path, value, example in (
            ("pruning.ratio", spec.pruning.ratio, "[0.3, 0.5, 0.7]"),
            ("retrain.max_lr", spec.retrain.max_lr, "[0.01, 0.03, 0.1]"),
        ):
            if value is not None and not isinstance(value, list):
                raise invalid(
                    "the grid sampler needs a list of values, not a range",
                    f"a list, e.g. {example}",
                    path=path,
                )
    if s.baselines and isinstance(spec.pruning.ratio, RatioRange):
        raise invalid(
            "Scratch-E/B baselines need the ratios to train, not a range",
            "a list, e.g. [0.5]",
            path="pruning.ratio",
        )


def _objective(spec: StudySpec) -> None:
    """What the search optimises fits its sampler, scheduler and data split."""
    s, multi = spec.search, isinstance(spec.search.objective, list)
    if multi and s.sampler == "grid":
        raise invalid(
            f"grid cannot run a multi-objective search (objective = {s.objective})",
            "tpe, random",
            path="search.sampler",
        )
    if multi and s.scheduler == "asha":
        raise invalid(
            "ASHA stops trials on a single metric; the objective has several",
            "fifo",
            path="search.scheduler",
        )
    metrics = s.objective if multi else [s.objective]
    if spec.dataset.val_fraction == 0 and any("val" in m for m in metrics):
        raise invalid(
            "0 leaves no validation split, and search.objective selects on it",
            "(0, 1)",
            path="dataset.val_fraction",
        )
    max_t = derived.asha_max_t(spec)
    if s.scheduler == "asha" and s.grace_period > max_t:
        raise invalid(
            f"grace period {s.grace_period} exceeds the longest trial ({max_t} epochs)",
            f"[1, {max_t}]",
            path="search.grace_period",
        )


def _oracle(spec: StudySpec) -> None:
    o = spec.oracle
    if not o.grid and o.low >= o.high:
        raise invalid(f"low {o.low} >= high {o.high}", "low < high", path="oracle.low")
    if derived.schedule_class(o.schedule).peak_param is None:
        raise invalid(
            f"schedule {o.schedule!r} computes its own peak; the oracle tunes a max LR",
            "clr, slr, cosine, constant, step",
            path="oracle.schedule",
        )
    if spec.kind == "oracle" and len(spec.retrain.start) > 1:
        raise invalid(
            "the oracle tunes max LR for one retraining start",
            "one value, e.g. start = ['pruned']",
            path="retrain.start",
        )
    if spec.kind == "oracle" and isinstance(spec.pruning.ratio, RatioRange):
        raise invalid(
            "the oracle grid needs a list of ratios, not a range",
            "a list, e.g. [0.2]",
            path="pruning.ratio",
        )


__all__ = ["CheckError", "check", "invalid"]

"""A study spec → the Optuna search space, sampler and objective (what Ray's OptunaSearch takes).

    space = define_space(spec)          # define-by-run: space(trial) -> constants
    sampler = make_sampler(spec)
    metric, mode = objective_metrics(spec)

Parameter names are flat (Ray splits config keys on "/"): `schedule`, `max_lr`, `method`,
`ratio` or `config`, `epochs`, `seed`. A dimension with one value is not suggested: it comes
back in the dict the space returns, which OptunaSearch merges into the trial's config. `max_lr`
is conditional: suggested only when the sampled schedule has a free peak LR
(`studies.spec.schedules_with_max_lr`), log-uniform over a range or categorical over a list.

Grids: with no conditional dimension Optuna's GridSampler walks `grid(spec)`; when `max_lr`
applies to some schedules and not others, a product grid would repeat every point of the
schedules without it, so the grid sampler is then BruteForceSampler, which walks the
define-by-run tree exactly once per distinct trial. `grid_size(spec)` counts the points the
chosen sampler walks, which is the `num_samples` to give Tune.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from studies.spec import OBJECTIVES, StudySpec, schedules_with_max_lr

if TYPE_CHECKING:
    import optuna

# TPE's default of 10 random start-up trials would leave a 12-trial quickstart almost all random.
_MAX_STARTUP_TRIALS = 10


class SearchSpace:
    """The define-by-run space of a spec; a module-level class (not a closure) so that
    OptunaSearch.save(), which pickles the searcher, can pickle it."""

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec
        self.with_max_lr = frozenset(schedules_with_max_lr(spec))

    def __call__(self, trial: optuna.Trial) -> dict[str, Any] | None:
        spec, constants = self.spec, {}
        schedule = _choose(trial, "schedule", spec.retrain.schedules, constants)
        if schedule in self.with_max_lr:
            max_lr = spec.retrain.max_lr
            if isinstance(max_lr, list):
                _choose(trial, "max_lr", max_lr, constants)
            else:
                trial.suggest_float("max_lr", max_lr.low, max_lr.high, log=True)
        _choose(trial, "method", spec.pruning.methods, constants)
        ratio = spec.pruning.ratio
        if spec.pruning.configs:
            _choose(trial, "config", spec.pruning.configs, constants)
        elif isinstance(ratio, list):
            _choose(trial, "ratio", ratio, constants)
        else:
            trial.suggest_float("ratio", ratio.low, ratio.high)
        _choose(trial, "epochs", spec.retrain.epochs, constants)
        _choose(trial, "seed", spec.search.seeds, constants)
        return constants or None


def _choose(trial: optuna.Trial, name: str, values: list[Any], constants: dict[str, Any]) -> Any:
    """Suggest among `values`, or record the only value as a constant."""
    if len(values) == 1:
        constants[name] = values[0]
        return values[0]
    return trial.suggest_categorical(name, values)


def define_space(spec: StudySpec) -> Callable[[optuna.Trial], dict[str, Any] | None]:
    """The Optuna define-by-run function for OptunaSearch(space=...)."""
    return SearchSpace(spec)


def grid(spec: StudySpec) -> dict[str, list[Any]]:
    """Every multi-valued dimension with its values (GridSampler's search_space). Ranges have
    no grid; the spec refuses them with sampler = "grid"."""
    dims: dict[str, Any] = {
        "schedule": spec.retrain.schedules,
        "max_lr": spec.retrain.max_lr if schedules_with_max_lr(spec) else None,
        "method": spec.pruning.methods,
        "config": spec.pruning.configs or None,
        "ratio": None if spec.pruning.configs else spec.pruning.ratio,
        "epochs": spec.retrain.epochs,
        "seed": spec.search.seeds,
    }
    out = {}
    for name, values in dims.items():
        if values is None:
            continue
        if not isinstance(values, list):
            raise ValueError(f"{name}: a range has no grid; give a list of values")
        if len(values) > 1:
            out[name] = list(values)
    return out


def is_conditional(spec: StudySpec) -> bool:
    """True when max_lr is a grid dimension for some schedules but not for others."""
    dims = grid(spec)
    return "max_lr" in dims and set(schedules_with_max_lr(spec)) != set(spec.retrain.schedules)


def grid_size(spec: StudySpec) -> int:
    """The number of distinct trials of the grid: schedules without a free max LR count once,
    not once per max LR value."""
    dims = grid(spec)
    rest = math.prod(len(v) for k, v in dims.items() if k not in ("schedule", "max_lr"))
    n_lr = len(dims.get("max_lr", [None]))
    with_lr = set(schedules_with_max_lr(spec))
    per_schedule = sum(n_lr if s in with_lr else 1 for s in spec.retrain.schedules)
    return per_schedule * rest


def make_sampler(spec: StudySpec, seed: int = 0) -> optuna.samplers.BaseSampler:
    """tpe: multivariate, grouped (conditional max_lr) TPE with the constant liar for parallel
    trials; random; grid: GridSampler, or BruteForceSampler for a conditional grid."""
    import optuna

    with warnings.catch_warnings():
        # TPE's group/constant_liar and BruteForceSampler are "experimental": chosen knowingly.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(spec, seed)


def _sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    sampler = spec.search.sampler
    if sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed,
            constant_liar=True,
            multivariate=True,
            group=True,
            n_startup_trials=max(2, min(_MAX_STARTUP_TRIALS, spec.search.trials // 3)),
        )
    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if is_conditional(spec):
        return optuna.samplers.BruteForceSampler(seed=seed)
    return optuna.samplers.GridSampler(grid(spec), seed=seed)


def objective_metrics(spec: StudySpec) -> tuple[str | list[str], str | list[str]]:
    """(metric, mode) for Tune/OptunaSearch: accuracies are maximised, costs minimised."""
    objective = spec.search.objective
    if isinstance(objective, list):
        return list(objective), [OBJECTIVES[m] for m in objective]
    return objective, OBJECTIVES[objective]


__all__ = [
    "SearchSpace",
    "define_space",
    "grid",
    "grid_size",
    "is_conditional",
    "make_sampler",
    "objective_metrics",
]

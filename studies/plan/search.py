"""The search phase: the spec → Optuna's search space, sampler and objective, Ray's
OptunaSearch on the study's persistent Optuna storage, and the optional ASHA scheduler.

    space = define_space(spec)          # define-by-run: space(trial) -> constants
    sampler = make_sampler(spec)
    metric, mode = objective_metrics(spec)

Parameter names are flat (Ray splits config keys on "/"): `schedule`, `max_lr`, `method`,
`ratio` or `config`, `epochs`, `seed`. A dimension with one value is not suggested: it comes
back in the dict the space returns, which OptunaSearch merges into the trial's config. `max_lr`
is conditional: suggested only when the sampled schedule has a free peak LR
(`studies.spec.derived.schedules_with_max_lr`), log-uniform over a range or categorical over a list.

Grids: with no conditional dimension Optuna's GridSampler walks `grid(spec)`; when `max_lr`
applies to some schedules and not others, a product grid would repeat every point of the
schedules without it, so the grid sampler is then BruteForceSampler, which walks the
define-by-run tree exactly once per distinct trial (`derived.search_grid_size` counts them).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend
from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search.optuna import OptunaSearch

from studies import storage
from studies.errors import UsageError
from studies.plan.phase import Phase, TunerParts, build_tuner, trainable_factory
from studies.plan.searcher import LinkedOptunaSearch
from studies.session.records import StudyRecord
from studies.spec import OBJECTIVES, StudySpec
from studies.spec.derived import (
    asha_max_t,
    is_conditional,
    oracle_study_name,
    rounds,
    schedules_with_max_lr,
    search_cells,
    search_grid,
    search_trials,
)
from trainables.keys import Result, Role, Sampled
from trainables.trial import prune_retrain

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
        schedule = _choose(trial, Sampled.SCHEDULE, spec.retrain.schedules, constants)
        if schedule in self.with_max_lr:
            max_lr = spec.retrain.max_lr
            if isinstance(max_lr, list):
                _choose(trial, Sampled.MAX_LR, max_lr, constants)
            else:
                trial.suggest_float(Sampled.MAX_LR, max_lr.low, max_lr.high, log=True)
        _choose(trial, Sampled.METHOD, spec.pruning.methods, constants)
        ratio = spec.pruning.ratio
        if spec.pruning.configs:
            _choose(trial, Sampled.CONFIG, spec.pruning.configs, constants)
        elif isinstance(ratio, list):
            _choose(trial, Sampled.RATIO, ratio, constants)
        else:
            trial.suggest_float(Sampled.RATIO, ratio.low, ratio.high)
        _choose(trial, Sampled.EPOCHS, spec.retrain.epochs, constants)
        _choose(trial, Sampled.START, spec.retrain.start, constants)
        _choose(trial, Sampled.SEED, spec.search.seeds, constants)
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


def make_sampler(spec: StudySpec, seed: int = 0) -> optuna.samplers.BaseSampler:
    """tpe: multivariate, grouped (conditional max_lr) TPE with the constant liar for parallel
    trials; random; grid: GridSampler, or BruteForceSampler for a conditional grid."""
    with warnings.catch_warnings():
        # TPE's group/constant_liar and BruteForceSampler are "experimental": chosen knowingly.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(spec, seed)


def _sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    sampler = spec.search.sampler
    if sampler in ("tpe", "cells"):  # cells: TPE over what the enqueued cell leaves open
        return optuna.samplers.TPESampler(
            seed=seed,
            constant_liar=True,
            multivariate=True,
            group=True,
            n_startup_trials=max(2, min(_MAX_STARTUP_TRIALS, search_trials(spec) // 3)),
        )
    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if is_conditional(spec):
        return optuna.samplers.BruteForceSampler(seed=seed)
    return optuna.samplers.GridSampler(search_grid(spec), seed=seed)


def objective_metrics(spec: StudySpec) -> tuple[str | list[str], str | list[str]]:
    """(metric, mode) for Tune/OptunaSearch: accuracies are maximised, costs minimised."""
    objective = spec.search.objective
    if isinstance(objective, list):
        return list(objective), [OBJECTIVES[m] for m in objective]
    return objective, OBJECTIVES[objective]


@functools.lru_cache(maxsize=8)
def optuna_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage *object* (OptunaSearch rejects URLs): RDB for sqlite/postgres URLs,
    a journal file for ``journal:<path>``; one per URL and process (building one checks the
    schema, ~0.2 s). Pooled connections are pinged before use: a PostgreSQL restarted
    mid-study leaves dead ones behind."""
    path = storage.local_file(url)
    if path is not None and not storage.is_sql(url):  # a journal file
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


SPEC_HASH_ATTR = "prunetune.spec_hash"


def claim_optuna_study(
    url: str, name: str, spec_hash: str, modes: list[str], metric_names: list[str]
) -> None:
    """Create the named Optuna study for this spec, or check that the existing one is this
    spec's: a study is found by name, and trials of two specs must never mix in one study."""
    storage = optuna_storage(url)
    directions = ["minimize" if m == "min" else "maximize" for m in modes]
    study = optuna.create_study(
        storage=storage, study_name=name, directions=directions, load_if_exists=True
    )
    owner = study.user_attrs.get(SPEC_HASH_ATTR)
    if owner is None and not study.trials:
        study.set_user_attr(SPEC_HASH_ATTR, spec_hash)
        with warnings.catch_warnings():  # "experimental since 3.2": noise on every run
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names)  # optuna-dashboard's axes say what was optimised
        return
    if owner != spec_hash:
        whose = f"spec {owner}" if owner else "no prunetune spec"
        raise UsageError(
            f"storage.optuna: Optuna study {name!r} in {url} belongs to {whose}, not to this "
            f"spec ({spec_hash}); choose another study name (--set name=...) or storage"
        )
    if [d.name.lower() for d in study.directions] != directions:
        raise UsageError(f"storage.optuna: Optuna study {name!r} optimises other objectives")


def optuna_studies(spec: StudySpec) -> list[tuple[str, list[str], list[str]]]:
    """(Optuna study name, modes, metric names) of every Optuna study the spec's phases use."""
    if spec.kind == "oracle":
        return [
            (oracle_study_name(spec.name, k), ["max"], [Result.VAL_ACC])
            for k in range(1, rounds(spec) + 1)
        ]
    metric, mode = objective_metrics(spec)
    return [(spec.name, _as_list(mode), _as_list(metric))]


def _as_list(value: str | list[str]) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def make_search_alg(spec: StudySpec) -> OptunaSearch:
    metric, mode = objective_metrics(spec)
    return LinkedOptunaSearch(
        space=define_space(spec),
        metric=metric,
        mode=mode,
        sampler=make_sampler(spec),
        study_name=spec.name,  # unnamed studies silently append to "optuna"
        storage=optuna_storage(spec.storage.optuna),
        points_to_evaluate=_cells_to_enqueue(spec),
    )


def _cells_to_enqueue(spec: StudySpec) -> list[dict[str, Any]] | None:
    """The cells, once: a study rebuilt after its first driver died finds them still queued
    (WAITING) in the storage, and enqueueing again would run cells twice."""
    if spec.search.sampler != "cells":
        return None
    existing = optuna.load_study(study_name=spec.name, storage=optuna_storage(spec.storage.optuna))
    return None if existing.trials else search_cells(spec)


def make_scheduler(spec: StudySpec) -> TrialScheduler | None:
    """ASHA on the single objective, over epochs (Tune's training_iteration), or none."""
    if spec.search.scheduler == "fifo":
        return None
    metric, mode = objective_metrics(spec)
    if isinstance(metric, list) or isinstance(mode, list):
        raise UsageError("search.scheduler: asha needs a single objective; valid: fifo")
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=metric,
        mode=mode,
        max_t=asha_max_t(spec),
        grace_period=spec.search.grace_period,
    )


def _progress_metric(spec: StudySpec) -> tuple[str, str]:
    metric, mode = objective_metrics(spec)
    if isinstance(metric, list) and isinstance(mode, list):  # multi-objective: show the first
        return metric[0], mode[0]
    return str(metric), str(mode)


def search_phase(spec: StudySpec, record: StudyRecord) -> Phase:
    """The Optuna search over the spec's space, as one Tune run."""
    trainable = trainable_factory(spec, record, prune_retrain)

    def build() -> Any:
        parts = TunerParts(
            ray_name=spec.name,
            param_space={"role": Role.SEARCH},
            num_samples=search_trials(spec),
            search_alg=make_search_alg(spec),
            scheduler=make_scheduler(spec),
            metric=_progress_metric(spec),
        )
        return build_tuner(spec, record, trainable, parts)

    return Phase("search", spec.name, trainable, build, search_trials(spec), spec.name)


__all__ = [
    "SearchSpace",
    "define_space",
    "make_sampler",
    "make_search_alg",
    "objective_metrics",
    "optuna_storage",
    "search_phase",
]

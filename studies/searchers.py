"""The spec's search section → Ray Tune's searcher (Optuna, persistent, named) and scheduler."""

from __future__ import annotations

from typing import Any

from studies.errors import UsageError


def optuna_storage(url: str):
    """An Optuna storage *object* (OptunaSearch rejects URLs): RDB for sqlite/postgres URLs,
    a journal file for ``journal:<path>``."""
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    return optuna.storages.RDBStorage(url)


def make_search_alg(spec: Any):
    from ray.tune.search.optuna import OptunaSearch

    from studies.space import define_space, make_sampler, objective_metrics

    metric, mode = objective_metrics(spec)
    return OptunaSearch(
        space=define_space(spec),
        metric=metric,
        mode=mode,
        sampler=make_sampler(spec),
        study_name=spec.name,  # unnamed studies silently append to "optuna" (STACK.md)
        storage=optuna_storage(spec.storage.optuna),
    )


def num_samples(spec: Any) -> int:
    from studies.space import grid_size

    if spec.search.sampler == "grid":
        size = grid_size(spec)
        # More samples than grid points would repeat points (STACK.md).
        return min(spec.search.trials, size) if spec.search.trials else size
    return spec.search.trials


def make_scheduler(spec: Any):
    if spec.search.scheduler == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    from studies.space import objective_metrics

    metric, mode = objective_metrics(spec)
    if isinstance(metric, list):
        raise UsageError("search.scheduler: asha needs a single objective; valid: fifo")
    epochs = spec.retrain.epochs
    max_t = max(epochs) * max(1, spec.pruning.rounds)
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=metric,
        mode=mode,
        max_t=max_t,
        grace_period=spec.search.grace_period,
    )

"""A study is an ordered list of phases, each one Ray Tune run: the Optuna search, the
Scratch-E/B baselines, or one round of the greedy oracle. Each phase has its own Tune
experiment directory, so an interrupted study resumes the phase it was in and skips the
phases it finished (recorded in the study record)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from studies.records import StudyRecord


@dataclass
class Phase:
    name: str  # "search", "baselines", "oracle-r1", ...
    ray_name: str  # Tune experiment name under the study's Ray storage
    trainable: Callable[[], Any]  # a fresh resource-wrapped trainable (Tuner and restore)
    build: Callable[[], Any]  # a new Tuner for this phase
    expected: int  # trials the phase must end, to tell "finished" from "interrupted"
    optuna_study: str | None = None
    after: Callable[[], None] | None = None  # e.g. tag the oracle's winners


def study_context(record: StudyRecord) -> dict[str, str]:
    from pathlib import Path

    return {
        "name": record.name,
        "workdir": record.workdir,
        "tracking_uri": record.tracking_uri,
        "experiment_id": record.experiment_id,
        "parent_run_id": record.parent_run_id,
        "dense_dir": str(Path(record.workdir) / "dense"),
        "spec_hash": record.spec_hash,
    }


def resource_wrapped(spec: Any, fn: Callable[[dict[str, Any]], None]) -> Callable[[], Any]:
    def make() -> Any:
        from ray import tune

        def trainable(config: dict[str, Any]) -> None:  # fresh: with_resources mutates it
            # A grid over whole points ({"method", "ratio", "seed", ...}) arrives nested.
            point = config.get("point") or {}
            fn({**{k: v for k, v in config.items() if k != "point"}, **point})

        return tune.with_resources(
            trainable, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
        )

    return make


def run_config(spec: Any, ray_name: str):
    from ray import tune

    return tune.RunConfig(
        name=ray_name,
        storage_path=spec.storage.ray,
        failure_config=tune.FailureConfig(max_failures=spec.search.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        verbose=0,
    )


def plan(spec: Any, record: StudyRecord) -> list[Phase]:
    if spec.kind == "oracle":
        from studies.oracle import oracle_phases

        return oracle_phases(spec, record)
    phases = [search_phase(spec, record)]
    if spec.search.baselines:
        phases.append(baseline_phase(spec, record))
    return phases


def search_phase(spec: Any, record: StudyRecord) -> Phase:
    from trainables.trial import prune_retrain

    trainable = resource_wrapped(spec, prune_retrain)

    def build() -> Any:
        from ray import tune

        from studies.searchers import make_scheduler, make_search_alg, num_samples

        return tune.Tuner(
            trainable(),
            param_space={"spec": record.spec, "study": study_context(record), "role": "search"},
            tune_config=tune.TuneConfig(
                search_alg=make_search_alg(spec),
                scheduler=make_scheduler(spec),
                num_samples=num_samples(spec),
                max_concurrent_trials=spec.search.concurrency,
                reuse_actors=True,
            ),
            run_config=run_config(spec, spec.name),
        )

    from studies.searchers import num_samples

    return Phase("search", spec.name, trainable, build, num_samples(spec), spec.name)


def pruning_targets(spec: Any) -> list[dict[str, Any]]:
    """Every (method, ratio|config) pair of the spec, as trial-config fragments."""
    methods = list(spec.pruning.methods)
    if spec.pruning.configs:
        return [
            {"method": m, "config": c} for m, c in itertools.product(methods, spec.pruning.configs)
        ]
    ratios = spec.pruning.ratio if isinstance(spec.pruning.ratio, list) else []
    return [{"method": m, "ratio": r} for m, r in itertools.product(methods, ratios)]


def baseline_phase(spec: Any, record: StudyRecord) -> Phase:
    """Scratch-E / Scratch-B for every (method, target, seed): a plain grid, no Optuna."""
    from trainables.scratch import scratch_train

    trainable = resource_wrapped(spec, scratch_train)
    points = [
        {**target, "baseline": b, "seed": seed}
        for target in pruning_targets(spec)
        for b in spec.search.baselines
        for seed in spec.search.seeds
    ]

    def build() -> Any:
        from ray import tune

        return tune.Tuner(
            trainable(),
            param_space={
                "spec": record.spec,
                "study": study_context(record),
                "role": "baseline",
                "schedule": "step",
                "epochs": int(spec.pretrain.epochs),
                "point": tune.grid_search(points),
            },
            tune_config=tune.TuneConfig(
                max_concurrent_trials=spec.search.concurrency, reuse_actors=True
            ),
            run_config=run_config(spec, f"{spec.name}-baselines"),
        )

    return Phase("baselines", f"{spec.name}-baselines", trainable, build, len(points))

"""A phase: one Ray Tune run of a study (the Optuna search, the Scratch-E/B baselines, or one
round of the greedy oracle), and the one place a Tuner is built.

Each phase has its own Tune experiment directory, so an interrupted study resumes the phase it
was in (Tuner.restore) and skips the phases it finished (recorded in the study record).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import tune

from studies.session.progress import Progress
from studies.session.records import StudyRecord
from studies.spec import StudySpec
from studies.spec.contract import trial_plan
from trainables.config import StudyContext
from trainables.keys import Result
from trainables.trial_plan import TrialPlan

TrainableFactory = Callable[[], Any]


@dataclass
class Phase:
    name: str  # "search", "baselines", "oracle-r1", ...
    ray_name: str  # Tune experiment name under the study's Ray storage
    trainable: TrainableFactory  # a fresh resource-wrapped trainable (Tuner and restore)
    build: Callable[[], tune.Tuner]  # a new Tuner for this phase
    expected: int  # trials the phase must end, to tell "finished" from "interrupted"
    optuna_study: str | None = None
    after: Callable[[], None] | None = None  # e.g. tag the oracle's winners


@dataclass
class TunerParts:
    """What differs between phases' Tuners; build_tuner adds what they share."""

    ray_name: str
    param_space: dict[str, Any]
    num_samples: int = 1
    search_alg: Any = None
    scheduler: Any = None
    phase: str = "search"  # what the progress line calls it
    expected: int | None = None  # trials the phase runs, if not num_samples (a grid_search)
    metric: tuple[str, str] = (Result.VAL_ACC, "max")  # what "best so far" means


def study_context(record: StudyRecord) -> StudyContext:
    """Where trials report to, fixed for the whole study."""
    return StudyContext(
        name=record.name,
        workdir=record.workdir,
        tracking_uri=record.tracking_uri,
        experiment_id=record.experiment_id,
        parent_run_id=record.parent_run_id,
        spec_hash=record.spec_hash,
        # storage.shared (resolved: "" became the workdir): the dense cache, final checkpoints
        shared=record.spec.get("storage", {}).get("shared") or record.workdir,
    )


def trainable_factory(
    spec: StudySpec, record: StudyRecord, fn: Callable[[dict[str, Any]], None]
) -> TrainableFactory:
    """A factory of `fn` wrapped with the spec's per-trial resources. The typed trial plan and
    the study's context reach every trial through Ray's object store (tune.with_parameters), not
    through each trial's config: Tune rewrites every trial's config into its experiment state at
    every checkpoint, and a whole spec per trial made that grow with the study."""
    plan = trial_plan(spec)

    def make() -> Any:
        def trainable(
            config: dict[str, Any],
            plan: TrialPlan | None = None,  # frozen dataclasses: Tune pickles them
            study: StudyContext | None = None,
        ) -> None:
            # A grid over whole points ({"method", "ratio", "seed", ...}) arrives nested.
            point = config.get("point") or {}
            flat = {k: v for k, v in config.items() if k != "point"}
            fn({**flat, **point, "plan": plan, "study": study})

        shared = tune.with_parameters(trainable, plan=plan, study=study_context(record))
        # fresh per call: with_resources mutates what it wraps
        return tune.with_resources(shared, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})

    return make


def build_tuner(
    spec: StudySpec, record: StudyRecord, trainable: TrainableFactory, parts: TunerParts
) -> tune.Tuner:
    """The Tuner of a phase: the spec's concurrency and retries, one kept checkpoint per trial,
    actors reused across trials (the spec and study context ride with the trainable)."""
    return tune.Tuner(
        trainable(),
        param_space=dict(parts.param_space),
        tune_config=tune.TuneConfig(
            search_alg=parts.search_alg,
            scheduler=parts.scheduler,
            num_samples=parts.num_samples,
            max_concurrent_trials=spec.search.concurrency,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=parts.ray_name,
            storage_path=spec.storage.ray,
            failure_config=tune.FailureConfig(max_failures=spec.search.max_failures),
            # 2, not 1: keeping one checkpoint makes Tune snapshot the whole experiment state
            # after every epoch of every trial (a cost that grows with the study). A restore
            # from a snapshot one epoch older re-trains that epoch exactly (per-(seed, epoch)
            # data order) and MLflow keeps each epoch once.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            callbacks=[Progress(parts.phase, parts.expected or parts.num_samples, *parts.metric)],
            verbose=0,  # our Progress line instead of Tune's tables and temp-dir hints
        ),
    )

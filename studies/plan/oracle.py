"""The S-Cyc oracle (docs/science.md §4): the best max LR by grid search, per round for iterative
pruning.

One-shot pruning: one phase, a grid over max LR × (method, ratio|config, budget, seed).
Iterative pruning: greedy, one phase per round: every grid value retrains round k from the
round-(k−1) winner of its (method, ratio, budget, seed) group; the winner by *validation*
accuracy seeds round k+1. Grids run through Optuna's GridSampler, so they live in the study's
Optuna storage (one Optuna study per round) and its MLflow experiment, tagged role=oracle;
each round's winners are tagged oracle_winner=true and the parent run records the chosen max LR
per round (metric oracle_max_lr.<group>, step = round).
"""

from __future__ import annotations

import optuna
from ray import tune

from studies.plan.phase import Phase, TunerParts, build_tuner, trainable_factory
from studies.plan.search import optuna_storage
from studies.plan.searcher import LinkedOptunaSearch
from studies.results.runs import oracle_round_winners
from studies.session.records import StudyRecord
from studies.spec import StudySpec
from studies.spec.derived import (
    grid_points,
    oracle_constants,
    oracle_grid,
    oracle_study_name,
    rounds,
)
from trainables.keys import Metric, Result, Role, Tag
from trainables.runs import StudyRun, TrialRun
from trainables.trial import prune_retrain


def oracle_phases(spec: StudySpec, record: StudyRecord) -> list[Phase]:
    return [_round_phase(spec, record, k) for k in range(1, rounds(spec) + 1)]


def _round_phase(spec: StudySpec, record: StudyRecord, k: int) -> Phase:
    trainable = trainable_factory(spec, record, prune_retrain)
    grid = oracle_grid(spec)
    study_name = oracle_study_name(spec.name, k)
    ray_name = f"{spec.name}-oracle-r{k}"

    def build() -> tune.Tuner:
        starts = winners_checkpoints(record, k - 1) if k > 1 else {}
        searcher = LinkedOptunaSearch(
            space={
                name: optuna.distributions.CategoricalDistribution(v) for name, v in grid.items()
            },
            metric=Result.VAL_ACC,
            mode="max",
            sampler=optuna.samplers.GridSampler(grid, seed=0),
            study_name=study_name,
            storage=optuna_storage(spec.storage.optuna),
        )
        parts = TunerParts(
            ray_name=ray_name,
            param_space={
                "role": Role.ORACLE,
                "oracle_round": k,
                "oracle_starts": starts,
                **oracle_constants(spec),
            },
            num_samples=grid_points(grid),  # more samples than points would repeat points
            search_alg=searcher,
            phase=f"oracle round {k}",
        )
        return build_tuner(spec, record, trainable, parts)

    return Phase(
        f"oracle-r{k}",
        ray_name,
        trainable,
        build,
        grid_points(grid),
        study_name,
        after=lambda: tag_winners(record, k),
    )


def tag_winners(record: StudyRecord, k: int) -> None:
    """Tag round k's winners and log each group's chosen max LR on the study run."""
    study_run = StudyRun.attach(record.tracking_uri, record.parent_run_id)
    for winner in oracle_round_winners(record, k).itertuples():
        TrialRun.attach(record.tracking_uri, winner.run_id).set_tags({Tag.ORACLE_WINNER: "true"})
        key = f"{Metric.ORACLE_MAX_LR}.{_metric_safe(winner.group)}"
        study_run.log_metric(key, winner.max_lr, step=k)


def winners_checkpoints(record: StudyRecord, k: int) -> dict[str, str]:
    """group → the final checkpoint of round k's winner (the start of round k+1)."""
    winners = oracle_round_winners(record, k)
    return dict(zip(winners["group"], winners["final_checkpoint"], strict=True))


def _metric_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-/ " else "_" for c in text)

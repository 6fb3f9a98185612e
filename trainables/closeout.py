"""How a trial's run opens and ends, shared by prune_retrain and the Scratch-E/B baselines: the
run (re)attached with its running tags, the summary metrics, the outcome tag, and what a diverged
trial reports so the searcher sees its poor score."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ray import tune

from trainables.config import TrialConfig
from trainables.keys import Metric, Outcome, Result, Tag
from trainables.resources import node_label
from trainables.round_run import loggable
from trainables.runs import TrialRun
from trainables.state import TrialState


def running_tags() -> dict[str, str]:
    """Tags of a trial that is training: given when its run is opened (one write, not two)."""
    return {Tag.STATUS: Outcome.RUNNING, Tag.NODE: node_label()}


def open_trial_run(
    tc: TrialConfig,
    state: TrialState,
    key: str,
    params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> TrialRun:
    """The trial's MLflow run: the one its checkpoint names (a retry), else a new one; what an
    earlier attempt could not store is queued again."""
    run = TrialRun.open(
        tc.study.tracking_uri,
        tc.study.experiment_id,
        tc.study.parent_run_id,
        tc.run_name(key),
        tags={**tc.tags(), **running_tags(), **(tags or {})},
        params=tc.params() if params is None else params,
        run_id=state.run_id,
        trial_key=key,
    )
    state.run_id = run.run_id
    run.resend(state.pending_metrics)
    return run


@contextmanager
def tracked_outcome(run: TrialRun, state: TrialState) -> Iterator[None]:
    """A trial that Tune stops while the block trains (ASHA, end of study: SystemExit inside
    tune.report) is tagged stopped, with its epochs."""
    try:
        yield
    except SystemExit:
        run.set_tags({Tag.STATUS: Outcome.STOPPED, Tag.EPOCHS_REACHED: state.epochs_reached})
        raise


def summary_metrics(state: TrialState) -> dict[str, float]:
    """What a finished trial (or baseline) reports once: accuracies, cost, time."""
    final = state.last_report
    return {
        Metric.FINAL_BEST_VAL_ACC: state.best_val,
        Metric.FINAL_TEST_AT_BEST_VAL: state.best_test_at_best_val,
        Metric.FINAL_VAL_ACC: state.last_val,
        Metric.FINAL_TEST_ACC: state.last_test,
        Metric.SPARSITY: final.get("sparsity_after", float("nan")),
        Metric.MACS: final.get("macs_after", float("nan")),
        Metric.PARAMS: final.get("params_after", float("nan")),
        Metric.MACS_RATIO: safe_ratio(state.dense_macs, final.get("macs_after")),
        Metric.EPOCHS_REACHED: float(state.epochs_reached),
        Metric.WALL_TIME: state.wall_time(),
        Metric.DENSE_VAL_ACC: state.dense_val_acc,
        Metric.DENSE_TEST_ACC: state.dense_test_acc,
    }


def close_trial(run: TrialRun, state: TrialState, tags: dict[str, str] | None = None) -> None:
    """Log the summary and the outcome; a diverged trial ends cleanly: the searcher sees its
    last (poor) score, MLflow says why."""
    summary = summary_metrics(state)
    run.log_summary({k: v for k, v in summary.items() if loggable(v)})
    status = Outcome.DIVERGED if state.diverged else Outcome.COMPLETED
    run.set_tags({Tag.STATUS: status, **(tags or {})})
    if state.diverged:
        tune.report(
            {
                Result.VAL_ACC: finite_or_zero(summary),
                Result.BEST_VAL_ACC: finite_or_zero(summary),
                Result.MACS: summary[Metric.MACS],
                Result.PARAMS: summary[Metric.PARAMS],
                Result.DIVERGED: 1.0,
            }
        )


def final_checkpoint_key(tc: TrialConfig, run_id: str) -> str:
    """Where a finished trial leaves its weights (+ masks): a key of the study's shared store
    (trainables.shared_store), since the next oracle round may run on another node."""
    return f"checkpoints/{tc.study.name}/{run_id}.pt"


def finite_or_zero(summary: dict[str, float]) -> float:
    value = summary.get(Metric.FINAL_VAL_ACC, float("nan"))
    return value if math.isfinite(value) else 0.0


def safe_ratio(before: float | None, after: float | None) -> float:
    return float(before) / float(after) if before and after else float("nan")

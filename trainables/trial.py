"""``prune_retrain``: one trial = take the dense model, prune it, retrain it with one schedule.

A Ray Tune function trainable. After every epoch it reports the metrics and a checkpoint
(model, masks, optimizer, round/epoch position, the MLflow run id); a retried trial restores that
checkpoint and continues, and because every epoch's data order and augmentation derive from
(seed, epoch) it ends with exactly the metrics of an uninterrupted run. Iterative pruning runs
``rounds`` prune+retrain rounds inside one trial.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune

from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.data import DataBundle
from pruning.methods import PruneContext, PruneReport, PruneTarget, prune
from pruning.schedules import Schedule
from pruning.train import EpochMetrics, make_optimizer, train
from trainables import artifacts
from trainables.config import TrialConfig
from trainables.data_cache import load_bundle
from trainables.dense_cache import get_dense
from trainables.resources import node_label, trial_device_and_threads
from trainables.tracking import TrialRun

CHECKPOINT_FILE = "trial.pt"
# Test hook, config key "_fail_once" = "<marker path>:<epoch>": the trial crashes once after that
# epoch's checkpoint, the way a lost node would; the marker file lets the retry go through.
# Study files cannot set it (unknown fields are rejected), only a Tuner built by hand.
FAIL_ONCE_KEY = "_fail_once"


@dataclass
class TrialState:
    """Where a trial stands; saved with every checkpoint."""

    round: int = 1  # 1-indexed round being retrained
    epoch: int = 0  # epochs finished in this round
    pruned_this_round: bool = False
    run_id: str | None = None
    started: float = field(default_factory=time.time)
    wall_before: float = 0.0  # wall time spent in earlier attempts
    best_val: float = -math.inf
    best_test_at_best_val: float = float("nan")
    last_val: float = float("nan")
    last_test: float = float("nan")
    epochs_reached: int = 0
    dense_macs: float = float("nan")  # MACs of the unpruned model: macs_ratio is against it
    dense_val_acc: float = float("nan")  # of the dense model this trial started from
    dense_test_acc: float = float("nan")
    reports: list[dict[str, Any]] = field(default_factory=list)
    diverged: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["wall_before"] = self.wall_time()
        d.pop("started")
        return d

    def wall_time(self) -> float:
        return self.wall_before + (time.time() - self.started)


def prune_retrain(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable."""
    tc = TrialConfig.from_tune(config)
    device = trial_device_and_threads()
    bundle = load_bundle(tc.dataset, device=device)
    model, masks, opt_state, state = start_or_resume(tc, bundle, device)
    run = TrialRun.open(
        tc.study.tracking_uri,
        tc.study.experiment_id,
        tc.study.parent_run_id,
        trial_name(),
        tags=tc.tags(),
        params=tc.params(),
        run_id=state.run_id,
    )
    state.run_id = run.run_id
    with run:
        run.set_tags({"status": "running", "node": node_label()})
        try:
            model, masks = _run_rounds(tc, bundle, device, model, masks, opt_state, state, run)
        except SystemExit:  # Tune stops a trial (ASHA, end of study) by raising SystemExit
            run.set_tags({"status": "stopped", "epochs_reached": str(state.epochs_reached)})
            raise
        _finish(tc, bundle, model, masks, state, run)


def trial_name() -> str:
    try:
        return tune.get_context().get_trial_name() or "trial"
    except Exception:  # outside Tune (direct call in a test)
        return "trial"


def start_or_resume(tc: TrialConfig, bundle: DataBundle, device: str):
    checkpoint = tune.get_checkpoint()
    if checkpoint is None and tc.start_checkpoint:  # greedy oracle: round k from k-1's winner
        start = load_checkpoint(tc.start_checkpoint)
        masks = None if start.masks is None else {k: v.to(device) for k, v in start.masks.items()}
        state = TrialState(
            round=tc.first_round, dense_macs=start.extra.get("dense_macs", math.nan)
        )
        return start.model.to(device), masks, None, state
    if checkpoint is None:
        model, accs = get_dense(tc, bundle, device)
        state = TrialState(round=tc.first_round, **accs)
        return model.to(device), None, None, state
    with checkpoint.as_directory() as path:
        saved = load_checkpoint(Path(path) / CHECKPOINT_FILE)
    state = TrialState(**saved.extra["state"])
    return saved.model.to(device), saved.masks, saved.optimizer_state, state


def _run_rounds(tc, bundle, device, model, masks, opt_state, state: TrialState, run: TrialRun):
    for round_index in range(state.round, tc.rounds + 1):
        state.round = round_index
        if not state.pruned_this_round:
            model, masks = prune_round(tc, bundle, device, model, masks, state, run)
            opt_state, state.epoch, state.pruned_this_round = None, 0, True
        schedule = tc.schedule_for_round(bundle, round_index)
        if state.epoch < schedule.epochs and not state.diverged:
            _retrain_round(tc, bundle, device, model, masks, opt_state, schedule, state, run)
        if state.diverged:
            break
        round_metrics = {
            "round_val_acc": state.last_val,
            "round_test_acc": state.last_test,
            "round_max_lr": schedule.max_lr,
        }
        run.log_epoch(round_index, {k: v for k, v in round_metrics.items() if loggable(v)})
        state.pruned_this_round = False
        opt_state = None
    return model, masks


def prune_round(tc, bundle, device, model, masks, state: TrialState, run: TrialRun):
    target = (
        PruneTarget(ratio=tc.ratio)
        if tc.prune_config is None
        else PruneTarget(config=tc.prune_config)
    )
    ctx = PruneContext.for_model(
        model,
        shape=bundle.shape,
        num_classes=bundle.num_classes,
        seed=tc.seed * 1000 + state.round,
        masks=masks,
        include_fc=bool(tc.spec["pruning"].get("include_fc", False)),
        loss_batches=lambda: bundle.train_batches(
            tc.spec["retrain"].get("batch_size", 64), epoch_seed=tc.seed, device=device
        ),
    )
    model, report = prune(model.cpu(), tc.method, target, ctx)
    model = model.to(device)
    masks = report.masks if report.masks is not None else masks
    if masks is not None:
        masks = {k: v.to(device) for k, v in masks.items()}
    if not math.isfinite(state.dense_macs) and state.round == 1:
        state.dense_macs = float(report.macs_before)
    entry = {"round": state.round, **report.to_dict()}
    state.reports.append(entry)
    run.log_dict(entry, f"pruning/round{state.round:02d}.json")
    run.log_epoch(
        state.round,
        {
            "round_sparsity": report.sparsity_after,
            "round_macs": report.macs_after,
            "round_params": report.params_after,
        },
    )
    return model, masks


def _retrain_round(tc, bundle, device, model, masks, opt_state, schedule, state, run) -> None:
    cfg = tc.retrain_config(device)
    offset = (state.round - 1) * tc.epochs
    train_and_report(tc, bundle, cfg, model, masks, opt_state, schedule, state, run, offset)


def train_and_report(tc, bundle, cfg, model, masks, opt_state, schedule, state, run, offset: int):
    """Train with `schedule` from `state.epoch`; after every epoch log the metrics to MLflow and
    hand Tune the metrics with a checkpoint to resume from. Shared by prune_retrain (offset =
    the epochs of earlier rounds) and the Scratch-E/B baselines (offset 0)."""
    optimizer = make_optimizer(model, cfg)
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)
    fail_at = fail_once_epoch(tc.extra.get(FAIL_ONCE_KEY))

    def on_epoch(m: EpochMetrics) -> bool:
        state.epoch = m.epoch + 1
        metrics = epoch_metrics(m, state, schedule, offset)
        run.log_epoch(offset + m.epoch, {k: v for k, v in metrics.items() if loggable(v)})
        with tempfile.TemporaryDirectory(prefix="prunetune-ckpt-") as tmp:
            save_checkpoint(
                Path(tmp) / CHECKPOINT_FILE,
                model=model,
                masks=masks,
                optimizer=optimizer,
                extra={"state": state.to_dict()},
            )
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        if fail_at is not None and offset + m.epoch + 1 == fail_at[1]:
            crash_once(fail_at[0])
        return False

    result = train(
        model,
        bundle,
        schedule,
        cfg,
        masks=masks,
        callback=on_epoch,
        start_epoch=state.epoch,
        optimizer=optimizer,
    )
    state.diverged = state.diverged or result.diverged
    return result


def epoch_metrics(m: EpochMetrics, state: TrialState, schedule: Schedule, offset: int):
    state.last_val, state.last_test = m.val_acc, m.test_acc
    state.epochs_reached = offset + m.epoch + 1
    if math.isfinite(m.val_acc) and m.val_acc > state.best_val:
        state.best_val, state.best_test_at_best_val = m.val_acc, m.test_acc
    last = state.reports[-1] if state.reports else {}
    return {
        "epoch": offset + m.epoch + 1,
        "round": state.round,
        "train_loss": m.train_loss,
        "train_acc": m.train_acc,
        "val_acc": m.val_acc,
        "test_acc": m.test_acc,
        "lr": m.lr,
        "max_lr": schedule.max_lr,
        "best_val_acc": state.best_val,
        "test_acc_at_best_val": state.best_test_at_best_val,
        "sparsity": last.get("sparsity_after", float("nan")),
        "macs": last.get("macs_after", float("nan")),
        "params": last.get("params_after", float("nan")),
        "diverged": 0.0,
    }


def loggable(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))


def _finish(tc, bundle, model, masks, state: TrialState, run: TrialRun) -> None:
    path = final_checkpoint_path(tc, run.run_id)
    extra = {"trial": tc.params()["trial"], "dense_macs": state.dense_macs}
    save_checkpoint(path, model=model.cpu(), masks=masks, extra=extra)
    schedules = artifacts.round_schedules(tc, bundle)
    title = f"{tc.schedule} (max LR {tc.max_lr})"
    artifacts.log_trial_artifacts(run, tc, model, masks, state.reports, schedules, title)
    close_trial(run, state, {"final_checkpoint": str(path)})


def summary_metrics(state: TrialState) -> dict[str, float]:
    """What a finished trial (or baseline) reports once: accuracies, cost, time."""
    final = state.reports[-1] if state.reports else {}
    return {
        "best_val_acc": state.best_val,
        "test_acc_at_best_val": state.best_test_at_best_val,
        "final_val_acc": state.last_val,
        "final_test_acc": state.last_test,
        "sparsity": final.get("sparsity_after", float("nan")),
        "macs": final.get("macs_after", float("nan")),
        "params": final.get("params_after", float("nan")),
        "macs_ratio": safe_ratio(state.dense_macs, final.get("macs_after")),
        "epochs_reached": float(state.epochs_reached),
        "wall_time_s": state.wall_time(),
        "dense_val_acc": state.dense_val_acc,
        "dense_test_acc": state.dense_test_acc,
    }


def close_trial(run: TrialRun, state: TrialState, tags: dict[str, str] | None = None) -> None:
    """Log the summary and the outcome; a diverged trial ends cleanly: the searcher sees its
    last (poor) score, MLflow says why."""
    summary = summary_metrics(state)
    run.log_summary({k: v for k, v in summary.items() if loggable(v)})
    status = "diverged" if state.diverged else "completed"
    run.set_tags({"status": status, **(tags or {})})
    if state.diverged:
        tune.report({**summary, "diverged": 1.0, "val_acc": finite_or_zero(summary)})


def final_checkpoint_path(tc: TrialConfig, run_id: str) -> Path:
    """Where a finished trial leaves its weights (+ masks) in the study's workdir."""
    return Path(tc.study.workdir) / "checkpoints" / tc.study.name / f"{run_id}.pt"


def finite_or_zero(summary: dict[str, float]) -> float:
    value = summary.get("final_val_acc", float("nan"))
    return value if math.isfinite(value) else 0.0


def safe_ratio(before: float | None, after: float | None) -> float:
    return float(before) / float(after) if before and after else float("nan")


def fail_once_epoch(raw: str | None) -> tuple[Path, int] | None:
    if not raw:
        return None
    marker, _, epoch = raw.rpartition(":")
    return Path(marker), int(epoch)


def crash_once(marker: Path) -> None:
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("crashed once\n")
    raise RuntimeError(f"{FAIL_ONCE_KEY}: injected failure (marker {marker})")


__all__ = ["CHECKPOINT_FILE", "FAIL_ONCE_KEY", "PruneReport", "TrialState", "prune_retrain"]

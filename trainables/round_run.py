"""One trial in progress: prune a round, retrain it epoch by epoch, report every epoch.

`RoundRun` holds what every step of a trial needs — its config, data, device, MLflow run and
state — so the steps take a model and a schedule, not ten positional arguments. After every
epoch the metrics go to MLflow (one batched call) and to Tune together with a checkpoint to
resume from; the same loop serves prune_retrain (offset = epochs of earlier rounds) and the
Scratch-E/B baselines (offset 0).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from ray import tune

from pruning.checkpoint import save_checkpoint
from pruning.data import DataBundle
from pruning.methods import (
    PruneContext,
    PruneTarget,
    needs_previous_weights,
    prune,
    replay_pruning,
)
from pruning.reinit import random_init
from pruning.schedules import Schedule
from pruning.snapshots import state_snapshot
from pruning.train import EpochMetrics, TrainConfig, TrainResult, make_optimizer, train
from trainables.config import TrialConfig
from trainables.dense_cache import dense_at
from trainables.keys import EPOCH_METRICS, Metric, Result
from trainables.recipe import PRUNED, REINIT, REINIT_SEED_BASE, parse_start, rewind_epoch
from trainables.state import TrialState

CHECKPOINT_FILE = "trial.pt"
# Test hook, config key "_fail_once" = "<marker path>:<epoch>": the trial crashes once after that
# epoch's checkpoint, the way a lost node would; the marker file lets the retry go through.
# Study files cannot set it (unknown fields are rejected), only a Tuner built by hand.
FAIL_ONCE_KEY = "_fail_once"

Masks = dict[str, torch.Tensor] | None


class RunLog(Protocol):
    """What the steps log to: a TrialRun, or a stand-in that replays into one later."""

    def log_epoch(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def log_dict(self, obj: Any, file_name: str) -> None: ...

    def pending_rows(self) -> list[list[Any]]: ...


@dataclass
class RoundRun:
    """A trial's fixed context (config, data, device, where it logs) and its moving state."""

    tc: TrialConfig
    bundle: DataBundle
    device: str
    run: RunLog
    state: TrialState

    def prune(self, model: torch.nn.Module, masks: Masks) -> tuple[torch.nn.Module, Masks]:
        """Prune round `state.round` of the trial's method and target; log what was removed."""
        tc, state = self.tc, self.state
        target = (
            PruneTarget(ratio=tc.ratio)
            if tc.prune_config is None
            else PruneTarget(config=tc.prune_config)
        )
        ctx = PruneContext.for_model(
            model,
            shape=self.bundle.shape,
            num_classes=self.bundle.num_classes,
            seed=tc.seed * 1000 + state.round,
            masks=masks,
            include_fc=tc.include_fc,
            previous_weights=self._previous_weights(),
            loss_batches=lambda: self.bundle.train_batches(
                tc.retrain_batch_size, epoch_seed=tc.seed, device=self.device
            ),
        )
        model, report = prune(model.cpu(), tc.method, target, ctx)
        model = model.to(self.device)
        masks = report.masks if report.masks is not None else masks
        if masks is not None:
            masks = {k: v.to(self.device) for k, v in masks.items()}
        if not math.isfinite(state.dense_macs) and state.round == 1:
            state.dense_macs = float(report.macs_before)
        entry = {"round": state.round, **report.to_dict()}
        state.reports.append(entry)
        self.run.log_dict(entry, f"pruning/round{state.round:02d}.json")
        self.run.log_epoch(
            state.round,
            {
                Metric.ROUND_SPARSITY: report.sparsity_after,
                Metric.ROUND_MACS: report.macs_after,
                Metric.ROUND_PARAMS: report.params_after,
            },
        )
        return model, masks

    def restart(self, model: torch.nn.Module, masks: Masks) -> torch.nn.Module:
        """Where the round's retraining starts (retrain.start): the pruned weights as they are,
        fresh random ones (reinit), or the dense run's weights at an epoch cut by the same
        pruning (init, rewind, rewind:K: Renda et al.'s weight rewinding, the lottery ticket)."""
        tc, state = self.tc, self.state
        kind, _ = parse_start(tc.start)
        if kind == PRUNED:
            return model
        cpu_masks = None if masks is None else {k: v.cpu() for k, v in masks.items()}
        if kind == REINIT:
            seed = REINIT_SEED_BASE * (tc.seed + 1) + state.round
            fresh = random_init(model.cpu(), seed, tc.reinit_scheme, cpu_masks)
            return fresh.to(self.device)
        epoch = rewind_epoch(tc.start, tc.pretrain_epochs, tc.epochs)
        assert epoch is not None
        rewound = replay_pruning(dense_at(tc, epoch), state.reports, masks=cpu_masks)
        return rewound.to(self.device)

    def _previous_weights(self) -> dict[str, torch.Tensor] | None:
        """weight_change's reference: one epoch before the end of the last training (the dense
        run's for round 1)."""
        if not needs_previous_weights(self.tc.method):
            return None
        if self.state.previous_weights is None:
            dense = dense_at(self.tc, self.tc.pretrain_epochs - 1)
            return dict(dense.state_dict())
        return dict(self.state.previous_weights)

    def _keep_previous(self, model: torch.nn.Module, done: int, total: int) -> None:
        """After `done` of `total` epochs: remember the weights if the next round's criterion
        compares the last epoch with the one before."""
        if done == total - 1 and needs_previous_weights(self.tc.method):
            self.state.previous_weights = state_snapshot(model)

    def train_and_report(
        self,
        cfg: TrainConfig,
        model: torch.nn.Module,
        masks: Masks,
        opt_state: dict[str, Any] | None,
        schedule: Schedule,
        offset: int,
    ) -> TrainResult:
        """Train with `schedule` from `state.epoch`; after every epoch log the metrics and hand
        Tune the metrics with a checkpoint to resume from."""
        optimizer = make_optimizer(model, cfg)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        fail_at = fail_once_epoch(self.tc.extra.get(FAIL_ONCE_KEY))
        state = self.state
        if state.epoch == 0:
            self._keep_previous(model, 0, schedule.epochs)

        def on_epoch(m: EpochMetrics) -> bool:
            state.epoch = m.epoch + 1
            self._keep_previous(model, state.epoch, schedule.epochs)
            metrics = epoch_metrics(m, state, schedule, offset)
            self.run.log_epoch(offset + m.epoch, mlflow_epoch(metrics))
            state.pending_metrics = self.run.pending_rows()  # a retry sends what MLflow lacks
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
            self.bundle,
            schedule,
            cfg,
            masks=masks,
            callback=on_epoch,
            start_epoch=state.epoch,
            optimizer=optimizer,
        )
        state.diverged = state.diverged or result.diverged
        return result


def epoch_metrics(
    m: EpochMetrics, state: TrialState, schedule: Schedule, offset: int
) -> dict[str, Any]:
    """What one epoch reports to Tune (MLflow keeps part of it, `mlflow_epoch`); updates the
    running bests in `state`."""
    state.last_val, state.last_test = m.val_acc, m.test_acc
    state.epochs_reached = offset + m.epoch + 1
    if math.isfinite(m.val_acc) and m.val_acc > state.best_val:
        state.best_val, state.best_test_at_best_val = m.val_acc, m.test_acc
    last = state.last_report
    return {
        Result.EPOCH: offset + m.epoch + 1,
        Result.ROUND: state.round,
        Result.TRAIN_LOSS: m.train_loss,
        Result.TRAIN_ACC: m.train_acc,
        Result.VAL_ACC: m.val_acc,
        Result.TEST_ACC: m.test_acc,
        Result.LR: m.lr,
        Result.MAX_LR: schedule.max_lr,
        Result.BEST_VAL_ACC: state.best_val,
        Result.TEST_AT_BEST_VAL: state.best_test_at_best_val,
        Result.SPARSITY: last.get("sparsity_after", float("nan")),
        Result.MACS: last.get("macs_after", float("nan")),
        Result.PARAMS: last.get("params_after", float("nan")),
        Result.DIVERGED: 0.0,
        Result.RUN_ID: state.run_id or "",
    }


def mlflow_epoch(result: Mapping[str, Any]) -> dict[str, float]:
    """The part of an epoch's result MLflow keeps as series, under MLflow's names."""
    return {
        EPOCH_METRICS[k]: float(v) for k, v in result.items() if k in EPOCH_METRICS and loggable(v)
    }


def loggable(value: Any) -> bool:
    """Finite numbers only: MLflow rejects NaN/inf in some stores, and they carry nothing."""
    return isinstance(value, int | float) and math.isfinite(float(value))


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

"""``prune_retrain``: one prune-and-retrain trial as a Ray Tune function trainable.

1. resume from Tune's checkpoint if there is one (model, masks, optimizer, round, epoch);
   else start from the study's dense model (trained once, cached) or, for round k of the greedy
   oracle, from round k−1's winner;
2. prune (one-shot, or round r of R for iterative pruning);
3. retrain with the schedule, reporting + checkpointing every epoch (round_run.RoundRun);
4. close out: summary metrics, outcome tag, artifacts, the final weights in the shared store.

``rounds`` prune+retrain rounds inside one trial.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import torch
from ray import tune

from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.data import DataBundle
from trainables import artifacts
from trainables.closeout import (
    close_trial,
    final_checkpoint_key,
    open_trial_run,
    tracked_outcome,
)
from trainables.config import TrialConfig
from trainables.data_cache import load_bundle
from trainables.dense_cache import get_dense
from trainables.keys import Metric, Role, Tag
from trainables.resources import trial_device_and_threads
from trainables.round_run import CHECKPOINT_FILE, Masks, RoundRun, loggable
from trainables.runs import TrialRun, warm_up
from trainables.shared_store import open_store, read_location, serialise
from trainables.state import TrialState

Start = tuple[torch.nn.Module, Masks, dict[str, Any] | None, TrialState]


def prune_retrain(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable."""
    tc = TrialConfig.from_tune(config)
    warming = warm_up(tc.study.tracking_uri)
    device = trial_device_and_threads()
    bundle = load_bundle(tc.dataset)
    model, masks, opt_state, state = start_or_resume(tc, bundle, device)
    key = trial_name()
    warming.join()
    run = open_trial_run(tc, state, key)
    rr = RoundRun(tc, bundle, device, run, state)
    with run:
        with tracked_outcome(run, state):
            model, masks = _run_rounds(rr, model, masks, opt_state)
        _finish(rr, run, model, masks)


def trial_name() -> str:
    try:
        return tune.get_context().get_trial_name() or "trial"
    except Exception:  # outside Tune (direct call in a test)
        return "trial"


def start_or_resume(tc: TrialConfig, bundle: DataBundle, device: str) -> Start:
    """(model, masks, optimizer state, state) to continue from: Tune's checkpoint of this
    trial, else round k−1's winner (greedy oracle), else the dense model."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None and tc.start_checkpoint:
        # Its final_checkpoint tag: a path or URI in the shared store, maybe another node's.
        start = load_checkpoint(io.BytesIO(read_location(tc.start_checkpoint)))
        masks = None if start.masks is None else {k: v.to(device) for k, v in start.masks.items()}
        state = TrialState(
            round=tc.first_round,
            dense_macs=start.extra.get("dense_macs", math.nan),
            reports=list(start.extra.get("reports", [])),  # rewinding replays every round
            previous_weights=start.extra.get("previous_weights"),
        )
        return start.model.to(device), masks, None, state
    if checkpoint is None and tc.role == Role.ORACLE and tc.first_round > 1:
        # Round k retrains from round k − 1's winner; a group without one (all its trials failed
        # or lack a validation accuracy) must not silently restart from the dense model.
        raise RuntimeError(
            f"oracle round {tc.first_round}: group {tc.method}/{tc.prune_config or tc.ratio}/"
            f"e{tc.epochs}/s{tc.seed} has no round {tc.first_round - 1} winner to start from"
        )
    if checkpoint is None:
        model, accs = get_dense(tc, bundle, device)
        state = TrialState(round=tc.first_round, **accs)
        return model.to(device), None, None, state
    with checkpoint.as_directory() as path:
        saved = load_checkpoint(Path(path) / CHECKPOINT_FILE)
    state = TrialState(**saved.extra["state"])
    return saved.model.to(device), saved.masks, saved.optimizer_state, state


def _run_rounds(
    rr: RoundRun, model: torch.nn.Module, masks: Masks, opt_state: dict[str, Any] | None
) -> tuple[torch.nn.Module, Masks]:
    tc, state = rr.tc, rr.state
    for round_index in range(state.round, tc.rounds + 1):
        state.round = round_index
        if not state.pruned_this_round:
            model, masks = rr.prune(model, masks)
            model = rr.restart(model, masks)
            opt_state, state.epoch, state.pruned_this_round = None, 0, True
            # Bests are per round: carried over, they would come from the least sparse round
            # and sit next to the final sparsity.
            state.new_round()
        schedule = tc.schedule_for_round(rr.bundle, round_index, state.reports)
        if state.epoch < schedule.epochs and not state.diverged:
            cfg = tc.retrain_config(rr.device)
            offset = (state.round - 1) * tc.epochs
            rr.train_and_report(cfg, model, masks, opt_state, schedule, offset)
        if state.diverged:
            break
        round_metrics = {
            Metric.ROUND_VAL_ACC: state.last_val,
            Metric.ROUND_TEST_ACC: state.last_test,
            Metric.ROUND_MAX_LR: schedule.max_lr,
        }
        rr.run.log_epoch(round_index, {k: v for k, v in round_metrics.items() if loggable(v)})
        state.pruned_this_round = False
        opt_state = None
    return model, masks


def _finish(rr: RoundRun, run: TrialRun, model: torch.nn.Module, masks: Masks) -> None:
    tc, state = rr.tc, rr.state
    if run.closed_out:  # restored after an earlier attempt closed it: nothing to log twice
        return
    store, key = open_store(tc.study.shared_root), final_checkpoint_key(tc, run.run_id)
    extra = {
        "trial": tc.params()["trial"],
        "dense_macs": state.dense_macs,
        "reports": state.reports,  # the next oracle round rewinds through all of them
        "previous_weights": state.previous_weights,
    }
    store.write(key, serialise(save_checkpoint, model=model.cpu(), masks=masks, extra=extra))
    schedules = artifacts.round_schedules(tc, rr.bundle, state.reports)
    artifacts.log_trial_artifacts(run, tc, model, masks, state.reports, schedules)
    close_trial(run, state, {Tag.FINAL_CHECKPOINT: store.location(key)})


__all__ = ["prune_retrain", "start_or_resume", "trial_name"]

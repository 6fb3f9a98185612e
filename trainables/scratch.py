"""``scratch_train``: the Scratch-E / Scratch-B baselines of Liu et al. 2019 ("Rethinking the
Value of Network Pruning") as a Ray Tune function trainable.

The dense model is pruned exactly as ``prune_retrain`` prunes it (same method, target, seeds),
so the baseline has the fine-tuned trials' architecture: the same per-layer widths, or for
unstructured methods the same masks. Its weights are then drawn afresh and it is trained with the
original (pretraining) recipe: Scratch-E for the pretraining epochs, Scratch-B for
int(E · MACs_dense / MACs_pruned) epochs (nonzero-weight MACs for masks), LR drops at the
recipe's milestone fractions of those epochs (SCIENCE.md §2). Checkpoints, retries and MLflow
logging follow ``prune_retrain``: a retried trial ends with the metrics of an uninterrupted one.

Iterative studies prune their ``rounds`` back to back without retraining in between: the widths
match the fine-tuned trials' for every count-based method (l1, l2, random, taylor with a ratio),
while weight-dependent selections (slimming, magnitude masks) may differ in where they prune.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pruning.budget import scratch_b_epochs
from pruning.reinit import random_init
from pruning.schedules import Schedule
from trainables.artifacts import log_trial_artifacts
from trainables.config import TrialConfig
from trainables.data_cache import load_bundle
from trainables.dense_cache import pretrain_schedule
from trainables.resources import node_label, trial_device_and_threads
from trainables.tracking import TrialRun
from trainables.trial import (
    TrialState,
    close_trial,
    prune_round,
    start_or_resume,
    train_and_report,
    trial_name,
)

BASELINES = ("scratch-e", "scratch-b")
# Fresh weights must not be the dense model's own initial draw (torch.manual_seed(seed)): with
# masks that would be a lottery ticket (Frankle & Carbin), not a random re-initialisation.
INIT_SEED_BASE = 1_000_003


def scratch_train(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable of the ``baseline`` role."""
    baseline = str(config.get("baseline", ""))
    if baseline not in BASELINES:
        raise ValueError(f"baseline: unknown {baseline!r}; valid: {', '.join(BASELINES)}")
    pretrain = config["spec"]["pretrain"]
    # The recipe fixes schedule and budget: nothing sampled for retraining applies here.
    config = {**config, "schedule": pretrain.get("schedule", "step"), "max_lr": None}
    config.update(epochs=int(pretrain["epochs"]), role="baseline")
    tc = TrialConfig.from_tune(config)
    device = trial_device_and_threads()
    bundle = load_bundle(tc.dataset, device=device)
    deferred = _DeferredRun()
    model, masks, opt_state, state = start_or_resume(tc, bundle, device)
    if not state.reports:  # a fresh start: ``model`` is the dense model
        model, masks = _pruned_from_scratch(tc, bundle, device, model, state, deferred)
    first, last = state.reports[0], state.reports[-1]
    epochs = tc.epochs
    if baseline == "scratch-b":
        epochs = scratch_b_epochs(tc.epochs, first["macs_before"], last["macs_after"])
    tc = dataclasses.replace(tc, epochs=epochs)
    params = tc.params()
    params["trial"].update(
        baseline=baseline, scratch_epochs=epochs, pretrain_epochs=pretrain["epochs"]
    )
    run = TrialRun.open(
        tc.study.tracking_uri,
        tc.study.experiment_id,
        tc.study.parent_run_id,
        trial_name(),
        tags={**tc.tags(), "baseline": baseline},
        params=params,
        run_id=state.run_id,
    )
    state.run_id = run.run_id
    with run:
        run.set_tags({"status": "running", "node": node_label()})
        deferred.replay(run)
        # Network slimming's BN-γ penalty served the dense model's channel selection; the pruned
        # architecture is trained with the plain recipe, as in the Rethinking code.
        cfg = dataclasses.replace(tc.pretrain_config(device), bn_l1=0.0)
        schedule = pretrain_schedule(
            _with_recipe_epochs(tc), bundle.steps_per_epoch(cfg.batch_size)
        )
        try:
            if state.epoch < epochs and not state.diverged:
                _train_scratch(tc, bundle, cfg, model, masks, opt_state, schedule, state, run)
        except SystemExit:  # Tune stops a trial (end of study) by raising SystemExit
            run.set_tags({"status": "stopped", "epochs_reached": str(state.epochs_reached)})
            raise
        _finish(tc, model, masks, schedule, state, run)


def _pruned_from_scratch(tc, bundle, device, dense, state: TrialState, log):
    """Prune the dense model as prune_retrain does, then redraw every weight at random."""
    model, masks = dense, None
    for round_index in range(1, tc.rounds + 1):
        state.round = round_index
        model, masks = prune_round(tc, bundle, device, model, masks, state, log)
    state.pruned_this_round = True
    return random_init(model, INIT_SEED_BASE * (tc.seed + 1)).to(device), masks


class _DeferredRun:
    """Holds what pruning logs until the MLflow run exists: the run's params include the
    Scratch-B epochs, which are known only once the pruned MACs are."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def log_dict(self, *args: Any) -> None:
        self.calls.append(("log_dict", args))

    def log_epoch(self, *args: Any) -> None:
        self.calls.append(("log_epoch", args))

    def replay(self, run: TrialRun) -> None:
        for name, args in self.calls:
            getattr(run, name)(*args)


def _with_recipe_epochs(tc: TrialConfig) -> TrialConfig:
    """The pretraining recipe for ``tc.epochs`` epochs: milestones are fractions, so they move."""
    spec = {**tc.spec, "pretrain": {**tc.spec["pretrain"], "epochs": tc.epochs}}
    return dataclasses.replace(tc, spec=spec)


def _train_scratch(tc, bundle, cfg, model, masks, opt_state, schedule, state, run) -> None:
    train_and_report(tc, bundle, cfg, model, masks, opt_state, schedule, state, run, offset=0)


def _finish(tc, model, masks, schedule: Schedule, state: TrialState, run: TrialRun) -> None:
    title = f"{schedule.name} (from scratch)"
    log_trial_artifacts(run, tc, model, masks, state.reports, [schedule], title)
    close_trial(run, state)


__all__ = ["BASELINES", "INIT_SEED_BASE", "random_init", "scratch_train"]

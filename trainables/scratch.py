"""``scratch_train``: the Scratch-E / Scratch-B baselines of Liu et al. 2019 ("Rethinking the
Value of Network Pruning") as a Ray Tune function trainable.

The dense model is pruned exactly as ``prune_retrain`` prunes it (same method, target, seeds),
so the baseline has the fine-tuned trials' architecture: the same per-layer widths, or for
unstructured methods the same masks. Its weights are then drawn afresh and it is trained with the
original (pretraining) recipe: Scratch-E for the pretraining epochs, Scratch-B for
int(E · MACs_dense / MACs_pruned) epochs (nonzero-weight MACs for masks), LR drops at the
recipe's milestone fractions of those epochs (docs/science.md §2). Checkpoints, retries and MLflow
logging follow ``prune_retrain``: a retried trial ends with the metrics of an uninterrupted one.

Iterative studies prune their ``rounds`` back to back without retraining in between: the widths
match the fine-tuned trials' for every count-based method (l1, l2, random, taylor with a ratio),
while weight-dependent selections (slimming, magnitude masks) may differ in where they prune.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from pruning.budget import scratch_b_epochs
from pruning.reinit import random_init
from trainables.artifacts import log_trial_artifacts
from trainables.closeout import close_trial, open_trial_run, tracked_outcome
from trainables.config import TrialConfig
from trainables.data_cache import load_bundle
from trainables.dense_cache import pretrain_schedule
from trainables.keys import Role, Tag
from trainables.recipe import REINIT_SEED_BASE
from trainables.resources import trial_device_and_threads
from trainables.round_run import Masks, RoundRun
from trainables.runs import TrialRun, warm_up
from trainables.trial import start_or_resume, trial_name

BASELINES = ("scratch-e", "scratch-b")


def scratch_train(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable of the ``baseline`` role."""
    baseline = str(config.get("baseline", ""))
    if baseline not in BASELINES:
        raise ValueError(f"baseline: unknown {baseline!r}; valid: {', '.join(BASELINES)}")
    pretrain = config["plan"].pretrain
    # The recipe fixes schedule and budget: nothing sampled for retraining applies here.
    config = {**config, "schedule": pretrain.schedule, "max_lr": None}
    config.update(epochs=pretrain.epochs, role=Role.BASELINE)
    tc = TrialConfig.from_tune(config)
    warming = warm_up(tc.study.tracking_uri)
    device = trial_device_and_threads()
    bundle = load_bundle(tc.dataset)
    model, masks, opt_state, state = start_or_resume(tc, bundle, device)
    deferred = _DeferredRun()
    if not state.reports:  # a fresh start: ``model`` is the dense model
        model, masks = _pruned_from_scratch(RoundRun(tc, bundle, device, deferred, state), model)
    first, last = state.reports[0], state.last_report
    epochs = tc.epochs
    if baseline == "scratch-b":
        epochs = scratch_b_epochs(tc.epochs, first["macs_before"], last["macs_after"])
    tc = dataclasses.replace(tc, epochs=epochs)
    params = tc.params()
    params["trial"].update(
        baseline=baseline, scratch_epochs=epochs, pretrain_epochs=pretrain.epochs
    )
    key = trial_name()
    warming.join()
    run = open_trial_run(tc, state, key, params, {Tag.BASELINE: baseline})
    with run:
        deferred.replay(run)
        # Network slimming's BN-γ penalty served the dense model's channel selection; the pruned
        # architecture is trained with the plain recipe, as in the Rethinking code.
        cfg = dataclasses.replace(tc.pretrain_config(device), bn_l1=0.0)
        schedule = pretrain_schedule(
            _with_recipe_epochs(tc), bundle.steps_per_epoch(cfg.batch_size)
        )
        with tracked_outcome(run, state):
            if state.epoch < epochs and not state.diverged:
                rr = RoundRun(tc, bundle, device, run, state)
                rr.train_and_report(cfg, model, masks, opt_state, schedule, offset=0)
        if not run.closed_out:  # a restored trial that an earlier attempt closed
            log_trial_artifacts(run, tc, model, masks, state.reports, [schedule])
            close_trial(run, state)


def _pruned_from_scratch(rr: RoundRun, dense: nn.Module) -> tuple[nn.Module, Masks]:
    """Prune the dense model as prune_retrain does, then redraw every weight at random."""
    model, masks = dense, None
    for round_index in range(1, rr.tc.rounds + 1):
        rr.state.round = round_index
        model, masks = rr.prune(model, masks)
    rr.state.pruned_this_round = True
    return random_init(model, REINIT_SEED_BASE * (rr.tc.seed + 1)).to(rr.device), masks


class _DeferredRun:
    """Holds what pruning logs until the MLflow run exists: the run's params include the
    Scratch-B epochs, which are known only once the pruned MACs are."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def log_dict(self, *args: Any) -> None:
        self.calls.append(("log_dict", args))

    def log_epoch(self, *args: Any) -> None:
        self.calls.append(("log_epoch", args))

    def pending_rows(self) -> list[list[Any]]:
        return []

    def replay(self, run: TrialRun) -> None:
        for name, args in self.calls:
            getattr(run, name)(*args)


def _with_recipe_epochs(tc: TrialConfig) -> TrialConfig:
    """The pretraining recipe for ``tc.epochs`` epochs: milestones are fractions, so they move."""
    plan = dataclasses.replace(tc.plan, pretrain=tc.plan.pretrain.with_epochs(tc.epochs))
    return dataclasses.replace(tc, plan=plan)


__all__ = ["BASELINES", "scratch_train"]

"""What every arm of a study will run, before anything runs: `prunetune plan` and `run --dry-run`.

An *arm* is one (schedule, method, target, budget, start) of the study — what a seed repeats.
For each arm and round the plan gives the epochs, the first, highest and last LR of the round's
schedule, the max LR (or its search range) and the sparsity the round reaches; for the study the
trial count and trial-epochs. Schedules are built by `trainables.config.round_schedule`, the
function the trials build theirs with, at the data set's steps per epoch, so the plan cannot
disagree with the trials. The sparsity each round reaches is found by pruning an untrained model
of the study's architecture round by round with the study's method (torch-pruning surgery or
masks, CPU, seconds): count-based methods remove the same amounts whatever the weights; methods
that rank globally on trained weights (slimming's BN γ) are marked estimated.

Needs no data, no Ray, no stores; starts nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import torch

from pruning.budget import scratch_b_epochs
from pruning.data.info import describe
from pruning.methods import (
    PruneContext,
    PruneTarget,
    is_structured,
    needs_previous_weights,
    prune,
    ranks_globally,
    removed_fractions,
)
from pruning.models import build
from pruning.schedules import Schedule
from studies.spec import derived
from studies.spec.contract import pretraining, trial_plan
from studies.spec.model import StudySpec
from trainables.config import round_schedule


@dataclass(frozen=True)
class RoundPlan:
    round: int
    epochs: int
    lr_first: float | list[float]  # a list of two: at the low and high end of a searched range
    lr_peak: float | list[float]
    lr_last: float | list[float]
    max_lr: float | list[float]
    sparsity: float  # fraction of the dense conv + linear weights removed after this round


@dataclass(frozen=True)
class ArmPlan:
    schedule: str
    method: str
    target: str  # "ratio 0.7" or a config name
    budget: int
    start: str
    max_lr: Any  # a value, {"low", "high"} for a searched range, or None (the recipe's)
    trials: int
    trial_epochs: int
    sparsity_exact: bool
    rounds: list[RoundPlan] = field(default_factory=list)


@dataclass(frozen=True)
class StudyPlan:
    study: str
    kind: str
    steps_per_epoch: int
    steps_per_epoch_known: bool
    dense_epochs: int  # pretraining, once per seed (cached across studies)
    arms: list[ArmPlan]
    trials: int
    trial_epochs: int
    trial_epochs_exact: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_study(spec: StudySpec) -> StudyPlan:
    """The plan of a validated spec (see the module docstring)."""
    spe, known = derived.steps_per_epoch(spec)
    if spec.kind == "oracle":
        arms = _oracle_arms(spec, spe)
    else:
        arms = _search_arms(spec, spe) + _baseline_arms(spec)
    exact = spec.kind == "oracle" or spec.search.sampler in ("grid", "cells")
    trials = sum(a.trials for a in arms)
    if not exact and spec.kind != "oracle":  # TPE/random: trials spread over the cells
        trials = derived.search_trials(spec) + sum(
            a.trials for a in arms if a.schedule.startswith("scratch")
        )
    return StudyPlan(
        study=spec.name,
        kind=spec.kind,
        steps_per_epoch=spe,
        steps_per_epoch_known=known,
        dense_epochs=spec.pretrain.epochs * len(spec.search.seeds),
        arms=arms,
        trials=trials,
        trial_epochs=sum(a.trial_epochs for a in arms) if exact else _expected_epochs(spec, arms),
        trial_epochs_exact=exact,
    )


# --- the arms of each kind of phase ---------------------------------------------------------------


def _search_arms(spec: StudySpec, spe: int) -> list[ArmPlan]:
    seeds, rounds = len(spec.search.seeds), derived.rounds(spec)
    per_cell = _trials_per_cell(spec)
    searched = set(derived.schedules_with_max_lr(spec))
    arms = []
    for schedule, target, budget, start in itertools.product(
        spec.retrain.schedules,
        derived.pruning_targets(spec),
        spec.retrain.epochs,
        spec.retrain.start,
    ):
        for max_lr in _max_lr_choices(spec, schedule in searched):
            n = seeds * (per_cell.get(schedule, 1) if schedule in searched else 1)
            arms.append(
                _arm(spec, spe, schedule, target, budget, start, max_lr, n, n * budget * rounds)
            )
    return arms


def _oracle_arms(spec: StudySpec, spe: int) -> list[ArmPlan]:
    """One arm per grid max LR and group: the greedy oracle runs every grid value at every round
    (from the previous round's winner), one trial per value, group and round."""
    seeds, rounds = len(spec.search.seeds), derived.rounds(spec)
    arms = []
    for target, budget in itertools.product(derived.pruning_targets(spec), spec.retrain.epochs):
        for lr in derived.oracle_values(spec.oracle):
            n = seeds * rounds
            arms.append(
                _arm(
                    spec,
                    spe,
                    spec.oracle.schedule,
                    target,
                    budget,
                    spec.retrain.start[0],
                    lr,
                    n,
                    n * budget,
                )
            )
    return arms


def _baseline_arms(spec: StudySpec) -> list[ArmPlan]:
    """Scratch-E/B: the pruned architecture from fresh weights with the pretraining recipe for
    its epochs, or for int(T · MACs_dense / MACs_pruned) epochs (docs/science.md §2)."""
    spe, _ = derived.steps_per_epoch(spec, "pretrain")
    seeds, total = len(spec.search.seeds), spec.pretrain.epochs
    arms = []
    for baseline, target in itertools.product(
        spec.search.baselines, derived.pruning_targets(spec)
    ):
        reach = _reach(spec, target["method"], _target_key(target))
        epochs = total
        if baseline == "scratch-b":
            epochs = scratch_b_epochs(total, reach.macs_dense, reach.macs[-1])
        schedule = pretraining(spec.pretrain).with_epochs(epochs).run_schedule(spe)
        first = _round(1, schedule, reach.removed[-1])
        arms.append(
            ArmPlan(
                schedule=baseline,
                method=target["method"],
                target=_target_text(target),
                budget=epochs,
                start="reinit",
                max_lr=None,
                trials=seeds,
                trial_epochs=seeds * epochs,
                sparsity_exact=reach.exact,
                rounds=[first],
            )
        )
    return arms


# --- one arm, round by round -----------------------------------------------------------------------


def _arm(
    spec: StudySpec,
    spe: int,
    schedule: str,
    target: dict[str, Any],
    budget: int,
    start: str,
    max_lr: Any,
    trials: int,
    trial_epochs: int,
) -> ArmPlan:
    reach = _reach(spec, target["method"], _target_key(target))
    ends = [max_lr["low"], max_lr["high"]] if isinstance(max_lr, dict) else [max_lr]
    ratio = target.get("ratio")
    plan = trial_plan(spec)
    rounds = []
    for k in range(1, derived.rounds(spec) + 1):
        built = [
            round_schedule(plan, schedule, budget, lr, ratio, k, spe, start, removed=reach.removed)
            for lr in ends
        ]
        plans = [_round(k, s, reach.removed[k - 1]) for s in built]
        rounds.append(plans[0] if len(plans) == 1 else _span(plans))
    return ArmPlan(
        schedule=schedule,
        method=target["method"],
        target=_target_text(target),
        budget=budget,
        start=start,
        max_lr=max_lr,
        trials=trials,
        trial_epochs=trial_epochs,
        sparsity_exact=reach.exact,
        rounds=rounds,
    )


def _round(k: int, schedule: Schedule, sparsity: float) -> RoundPlan:
    steps = schedule.probe_steps()
    return RoundPlan(
        round=k,
        epochs=schedule.epochs,
        lr_first=schedule.lr(0),
        lr_peak=max(schedule.lr(t) for t in steps),
        lr_last=schedule.lr(schedule.total_steps - 1),
        max_lr=schedule.max_lr,
        sparsity=round(sparsity, 6),
    )


def _span(plans: list[RoundPlan]) -> RoundPlan:
    """A round of a searched-range arm: each LR at the range's low and high end."""
    low, high = plans

    def pair(name: str) -> list[float]:
        return [getattr(low, name), getattr(high, name)]

    return RoundPlan(
        round=low.round,
        epochs=low.epochs,
        lr_first=pair("lr_first"),
        lr_peak=pair("lr_peak"),
        lr_last=pair("lr_last"),
        max_lr=pair("max_lr"),
        sparsity=low.sparsity,
    )


def _max_lr_choices(spec: StudySpec, searched: bool) -> list[Any]:
    """The max LRs an arm runs at: each value of a list (grid or categorical), the range as one
    arm, or None where the schedule's peak is fixed (scyc's S-curve, ft/lrw's recipe)."""
    value = spec.retrain.max_lr
    if not searched or value is None:
        return [None]
    if isinstance(value, list):
        return list(value)
    return [{"low": value.low, "high": value.high}]


def _trials_per_cell(spec: StudySpec) -> dict[str, int]:
    """Trials of one (schedule, target, budget, start, seed) cell per max-LR choice."""
    if spec.search.sampler == "cells":
        return {s: spec.search.trials_per_cell for s in spec.retrain.schedules}
    return {}


def _expected_epochs(spec: StudySpec, arms: list[ArmPlan]) -> int:
    """TPE / random: trials × rounds × the mean budget (which cell each trial lands in is the
    sampler's choice); Scratch-E/B exactly."""
    search = derived.search_trials(spec) * derived.rounds(spec)
    mean_budget = sum(spec.retrain.epochs) / len(spec.retrain.epochs)
    scratch = sum(a.trial_epochs for a in arms if a.schedule.startswith("scratch"))
    return round(search * mean_budget) + scratch


# --- how far each round prunes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    removed: list[float]  # after each round, fraction of the dense conv + linear weights
    macs_dense: float
    macs: list[float]  # after each round
    exact: bool


def _target_key(target: dict[str, Any]) -> tuple[str, Any]:
    return ("config", target["config"]) if "config" in target else ("ratio", target["ratio"])


def _target_text(target: dict[str, Any]) -> str:
    return target["config"] if "config" in target else f"ratio {target['ratio']:g}"


def _reach(spec: StudySpec, method: str, target: tuple[str, Any]) -> Reach:
    data, model = spec.dataset, spec.model
    return _prune_rounds(
        model.name,
        tuple(model.widths) if model.widths else None,
        data.name,
        data.root or None,
        data.image_size or None,
        method,
        target,
        derived.rounds(spec),
        spec.pruning.include_fc,
    )


@cache
def _prune_rounds(
    model_name: str,
    widths: tuple[Any, ...] | None,
    dataset: str,
    root: str | None,
    image_size: int | None,
    method: str,
    target: tuple[str, Any],
    rounds: int,
    include_fc: bool,
) -> Reach:
    """Prune an untrained model of the study's architecture `rounds` times, as the trials do."""
    torch.manual_seed(0)
    info = describe(dataset, root, image_size)
    shape = info.shape
    net = build(
        model_name, info.num_classes, shape[0], shape[-1], info.dims, list(widths or []) or None
    )
    masks, reports = None, []
    goal = PruneTarget(**{target[0]: target[1]})
    for k in range(1, rounds + 1):
        ctx = PruneContext.for_model(
            net,
            shape=shape,
            seed=k,
            masks=masks,
            include_fc=include_fc,
            loss_batches=lambda: _random_batches(shape, info.num_classes),
            taylor_batches=2,
            previous_weights=dict(net.state_dict()) if needs_previous_weights(method) else None,
        )
        net, report = prune(net, method, goal, ctx)
        masks = report.masks if report.masks is not None else masks
        reports.append(report.to_dict())
    # A global threshold over filters (slimming's BN γ) thins other layers on trained weights
    # than here, so the removed weights differ; unstructured counts are exact either way.
    exact = not (is_structured(method) and ranks_globally(method))
    return Reach(
        removed=removed_fractions(reports),
        macs_dense=float(reports[0]["macs_before"]),
        macs=[float(r["macs_after"]) for r in reports],
        exact=exact,
    )


def _random_batches(shape: tuple[int, ...], classes: int):
    """Two small random batches: what a data-driven criterion (taylor) ranks on in a plan."""
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        x = torch.randn((8, *shape), generator=generator)
        yield x, torch.randint(0, classes, (8,), generator=generator)

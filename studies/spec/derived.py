"""Facts of a valid study spec, each computed in one place: which schedules take a searched max
LR, the pruning targets, rounds, ASHA's horizon, the search grid and the oracle's grid.

Schedule facts come from the `pruning.schedules` classes themselves and the pretraining-recipe
facts from `trainables.config`, which builds the trials' schedules: the spec and the trials
cannot disagree.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from pruning.schedules import SCHEDULES, Schedule
from studies.spec.contract import pretraining
from studies.spec.model import OracleSection, StudySpec


def schedule_class(name: str) -> type[Schedule]:
    return SCHEDULES.get(name)


def peak_param(schedule: str) -> str | None:
    """The param a schedule's max LR sets (ft: lr, step: base_lr, ...); None for scyc."""
    return schedule_class(schedule).peak_param


# Steps per epoch assumed where the data set's size is unknown without reading it (an
# ImageFolder not yet on this machine): a CIFAR-sized epoch at batch 64.
UNKNOWN_STEPS_PER_EPOCH = 782


def steps_per_epoch(spec: StudySpec, section: str = "retrain") -> tuple[int, bool]:
    """(optimizer steps per epoch of `section`'s batch size, whether that count is known from
    the data set's size) — what the schedules are checked and planned at."""
    from pruning.data.info import nominal_steps_per_epoch  # torch: not for listing or parsing

    data = spec.dataset
    batch = getattr(spec, section).batch_size
    spe = nominal_steps_per_epoch(data.name, data.root or None, data.val_fraction, batch)
    return (UNKNOWN_STEPS_PER_EPOCH, False) if spe is None else (spe, True)


def schedules_with_max_lr(spec: StudySpec) -> list[str]:
    """The study's schedules for which `retrain.max_lr` is sampled: those with a free peak LR
    (not scyc, which computes its own; not ft/lrw, whose LRs the original recipe defines) whose
    peak is not pinned in `retrain.schedule_params`."""
    if spec.retrain.max_lr is None:
        return []
    out = []
    for name in spec.retrain.schedules:
        peak = peak_param(name)
        pinned = spec.retrain.schedule_params.get(name, {})
        searched = schedule_class(name).searched_peak
        if searched and peak is not None and peak not in pinned and "max_lr" not in pinned:
            out.append(name)
    return out


def max_lr_values(spec: StudySpec) -> list[float]:
    """The max LR values to probe schedules with: the list, or a range's two ends."""
    max_lr = spec.retrain.max_lr
    if max_lr is None:
        return []
    return list(max_lr) if isinstance(max_lr, list) else [max_lr.low, max_lr.high]


def pretrain_milestones(spec: StudySpec) -> list[int]:
    """The pretraining LR drops in epochs, rounded as the trials round them."""
    return pretraining(spec.pretrain).milestone_epochs


def lrw_params(spec: StudySpec) -> dict[str, Any]:
    """The params of LR rewinding: a replay of the pretraining run (docs/science.md §2)."""
    return pretraining(spec.pretrain).replay_params()


def rounds(spec: StudySpec) -> int:
    """Prune+retrain rounds per trial (1 for one-shot pruning)."""
    return spec.pruning.rounds if spec.pruning.schedule == "iterative" else 1


def asha_max_t(spec: StudySpec) -> int:
    """The longest trial in epochs (Tune's training_iteration counts epochs)."""
    return max(spec.retrain.epochs) * rounds(spec)


def pruning_targets(spec: StudySpec) -> list[dict[str, Any]]:
    """Every (method, ratio|config) pair of the spec, as trial-config fragments."""
    methods = list(spec.pruning.methods)
    if spec.pruning.configs:
        return [
            {"method": m, "config": c} for m, c in itertools.product(methods, spec.pruning.configs)
        ]
    ratios = spec.pruning.ratio if isinstance(spec.pruning.ratio, list) else []
    return [{"method": m, "ratio": r} for m, r in itertools.product(methods, ratios)]


def grid_points(grid: dict[str, list[Any]]) -> int:
    """The number of points of a product grid."""
    return math.prod(len(v) for v in grid.values())


# --- the search grid --------------------------------------------------------------------------


def search_grid(spec: StudySpec) -> dict[str, list[Any]]:
    """Every multi-valued search dimension with its values (GridSampler's search_space).
    Ranges have no grid; the spec refuses them with sampler = "grid"."""
    dims: dict[str, Any] = {
        "schedule": spec.retrain.schedules,
        "max_lr": spec.retrain.max_lr if schedules_with_max_lr(spec) else None,
        "method": spec.pruning.methods,
        "config": spec.pruning.configs or None,
        "ratio": None if spec.pruning.configs else spec.pruning.ratio,
        "epochs": spec.retrain.epochs,
        "start": spec.retrain.start,
        "seed": spec.search.seeds,
    }
    out = {}
    for name, values in dims.items():
        if values is None:
            continue
        if not isinstance(values, list):
            raise ValueError(f"{name}: a range has no grid; give a list of values")
        if len(values) > 1:
            out[name] = list(values)
    return out


def is_conditional(spec: StudySpec) -> bool:
    """True when max_lr is a grid dimension for some schedules but not for others."""
    dims = search_grid(spec)
    return "max_lr" in dims and set(schedules_with_max_lr(spec)) != set(spec.retrain.schedules)


def search_grid_size(spec: StudySpec) -> int:
    """The number of distinct trials of the grid: schedules without a free max LR count once,
    not once per max LR value."""
    dims = search_grid(spec)
    rest = math.prod(len(v) for k, v in dims.items() if k not in ("schedule", "max_lr"))
    n_lr = len(dims.get("max_lr", [None]))
    with_lr = set(schedules_with_max_lr(spec))
    per_schedule = sum(n_lr if s in with_lr else 1 for s in spec.retrain.schedules)
    return per_schedule * rest


def search_cells(spec: StudySpec) -> list[dict[str, Any]]:
    """sampler = "cells": the fixed values of every trial to run, in the order to run them —
    every cell once (coverage first), then the cells whose schedule has a searched max LR again
    until each has `trials_per_cell` trials; the max LR itself is left to the sampler."""
    ratio = spec.pruning.ratio
    dims: dict[str, list[Any]] = {
        "schedule": spec.retrain.schedules,
        "method": spec.pruning.methods,
        ("config" if spec.pruning.configs else "ratio"): (
            spec.pruning.configs or (list(ratio) if isinstance(ratio, list) else [])
        ),
        "epochs": spec.retrain.epochs,
        "start": spec.retrain.start,
        "seed": spec.search.seeds,
    }
    cells = [dict(zip(dims, values, strict=True)) for values in itertools.product(*dims.values())]
    searched = set(schedules_with_max_lr(spec))
    repeats = spec.search.trials_per_cell
    return [
        cell
        for round_ in range(repeats)
        for cell in cells
        if round_ == 0 or cell["schedule"] in searched
    ]


def search_trials(spec: StudySpec) -> int:
    """How many trials the search runs (Tune's num_samples): for a grid at most its size,
    since more samples than grid points would repeat points; for cells, every cell's trials."""
    if spec.search.sampler == "cells":
        return len(search_cells(spec))
    if spec.search.sampler == "grid":
        size = search_grid_size(spec)
        return min(spec.search.trials, size) if spec.search.trials else size
    return spec.search.trials


# --- the oracle's grid --------------------------------------------------------------------------


def oracle_study_name(study: str, round_index: int) -> str:
    """The Optuna study of one oracle round (one per round, in the study's storage)."""
    return f"{study}.round{round_index}"


def oracle_values(oracle: OracleSection) -> list[float]:
    """The oracle's max LRs: the explicit grid, else `points` log-spaced from low to high."""
    if oracle.grid:
        return sorted(oracle.grid)
    if oracle.points == 1:
        return [oracle.low]
    ratio = (oracle.high / oracle.low) ** (1.0 / (oracle.points - 1))
    return [float(f"{oracle.low * ratio**i:.6g}") for i in range(oracle.points)]


def oracle_grid(spec: StudySpec) -> dict[str, list[Any]]:
    """The Optuna grid of one oracle round: max LR × every group dimension with several values."""
    grid: dict[str, list[Any]] = {"max_lr": oracle_values(spec.oracle)}
    targets = pruning_targets(spec)
    methods = sorted({t["method"] for t in targets})
    if len(methods) > 1:
        grid["method"] = methods
    key = "config" if spec.pruning.configs else "ratio"
    values = sorted({t[key] for t in targets})
    if len(values) > 1:
        grid[key] = values
    for name, values in (("epochs", spec.retrain.epochs), ("seed", spec.search.seeds)):
        if len(values) > 1:
            grid[name] = list(values)
    return grid


def oracle_constants(spec: StudySpec) -> dict[str, Any]:
    """Group dimensions with a single value: fixed in every oracle trial's config."""
    target = pruning_targets(spec)[0]
    out: dict[str, Any] = {"schedule": spec.oracle.schedule}
    grid = oracle_grid(spec)
    for key in ("method", "ratio", "config"):
        if key in target and key not in grid:
            out[key] = target[key]
    out["start"] = spec.retrain.start[0]  # one start per oracle (checked)
    if "epochs" not in grid:
        out["epochs"] = spec.retrain.epochs[0]
    if "seed" not in grid:
        out["seed"] = spec.search.seeds[0]
    return out

"""The pretraining recipe's facts, from a spec's sections as plain dicts: its LR drops, the
params of its schedule, what LR rewinding replays of it, and the identity of a dense model.

Torch-free, so the study spec (studies.spec.derived) checks against the same functions the
trials build their schedules with.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pruning.schedules import SCHEDULES


def pretrain_milestones(pretrain: dict[str, Any]) -> list[int]:
    """The pretraining LR drops in epochs: the section's fractions of its epochs, rounded."""
    epochs = int(pretrain["epochs"])
    return [round(f * epochs) for f in pretrain["milestones"]]


def pretrain_schedule_params(pretrain: dict[str, Any]) -> dict[str, Any]:
    """The schedule params that make the pretraining recipe's schedule: `step` drops the
    recipe's LR at its milestones; any other schedule peaks at the recipe's LR; the section's
    `schedule_params` add the rest (e.g. SILO's in-round shape for clr)."""
    fixed = dict(pretrain["schedule_params"])
    if "milestones" in SCHEDULES.get(pretrain["schedule"]).param_names():  # a step schedule
        return {
            **fixed,
            "base_lr": float(pretrain["lr"]),
            "milestones": pretrain_milestones(pretrain),
        }
    return {**fixed, "max_lr": float(pretrain["lr"])}


def lrw_params(pretrain: dict[str, Any]) -> dict[str, Any]:
    """LR rewinding replays the pretraining run's step schedule: these params describe it."""
    return {
        "original_epochs": int(pretrain["epochs"]),
        "base_lr": float(pretrain["lr"]),
        "milestones": pretrain_milestones(pretrain),
    }


def recipe_key(spec: dict[str, Any], seed: int) -> str:
    """Identity of a dense model: the same key means the same pretrained weights."""
    data = spec["dataset"]
    recipe = {
        "model": spec["model"],
        "dataset": {k: data[k] for k in ("name", "val_fraction", "split_seed", "image_size")},
        "pretrain": spec["pretrain"],
        "seed": seed,
    }
    blob = json.dumps(recipe, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# --- where retraining starts from (retrain.start) ---------------------------------------------

PRUNED, INIT, REINIT, REWIND = "pruned", "init", "reinit", "rewind"
# Fresh weights must not be the dense model's own initial draw (torch.manual_seed(seed)): with
# masks that would be a lottery ticket (Frankle & Carbin), not a random re-initialisation.
REINIT_SEED_BASE = 1_000_003
STARTS = (PRUNED, INIT, REINIT, REWIND, "rewind:EPOCH")


def parse_start(start: str) -> tuple[str, int | None]:
    """'pruned' | 'reinit' → (kind, None); 'init' → ('rewind', 0); 'rewind' → ('rewind', None)
    (the epoch follows from the budget); 'rewind:K' → ('rewind', K). ValueError otherwise."""
    kind, sep, epoch = start.partition(":")
    if not sep and kind in (PRUNED, REINIT, REWIND):
        return kind, None
    if not sep and kind == INIT:
        return REWIND, 0
    if sep and kind == REWIND and epoch.isdigit():
        return REWIND, int(epoch)
    raise ValueError(f"unknown retraining start {start!r}; valid: {', '.join(STARTS)}")


def rewind_epoch(start: str, pretrain_epochs: int, budget: int) -> int | None:
    """The dense run's epoch whose weights (and, for lrw, LR) retraining starts from; None for
    pruned/reinit. Plain 'rewind' is Renda et al.'s weight rewinding: T − E."""
    kind, epoch = parse_start(start)
    if kind != REWIND:
        return None
    return max(0, pretrain_epochs - budget) if epoch is None else epoch


def snapshot_epochs(spec: dict[str, Any], *, needs_previous_weights: bool) -> list[int]:
    """The dense-run epochs a study's trials load: rewinding targets for every start × budget,
    and T − 1 when the pruning criterion compares the last epoch's weights with the one before
    (weight_change: round 1 compares the dense run's last two epochs)."""
    total = int(spec["pretrain"]["epochs"])
    epochs = {
        epoch
        for start in spec["retrain"]["start"]
        for budget in spec["retrain"]["epochs"]
        if (epoch := rewind_epoch(start, total, int(budget))) is not None
    }
    if needs_previous_weights:
        epochs.add(total - 1)
    epochs.discard(total)  # the end of the run is the cached dense model itself
    return sorted(epochs)


def start_schedule_params(schedule: str, start: str, pretrain_epochs: int, budget: int) -> dict:
    """Schedule params a start implies: LR rewinding replays the original run from the epoch
    the weights were rewound to (Renda et al.: rewind weights and LR together; a budget other
    than T − K replays that segment compressed, docs/science.md §2)."""
    epoch = rewind_epoch(start, pretrain_epochs, budget)
    if SCHEDULES.get(schedule).replays_pretraining and epoch is not None:
        return {"start_epoch": epoch}
    return {}

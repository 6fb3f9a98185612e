"""The pretraining recipe's facts, from a spec's sections as plain dicts: its LR drops, the
params of its schedule, what LR rewinding replays of it, and the identity of a dense model.

Torch-free, so the study spec (studies.spec.derived) checks against the same functions the
trials build their schedules with.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def pretrain_milestones(pretrain: dict[str, Any]) -> list[int]:
    """The pretraining LR drops in epochs: the section's fractions of its epochs, rounded."""
    epochs = int(pretrain["epochs"])
    return [round(f * epochs) for f in pretrain["milestones"]]


def pretrain_schedule_params(pretrain: dict[str, Any]) -> dict[str, Any]:
    """The schedule params that make the pretraining recipe's schedule: `step` drops the
    recipe's LR at its milestones; any other schedule peaks at the recipe's LR."""
    if pretrain["schedule"] == "step":
        return {"base_lr": float(pretrain["lr"]), "milestones": pretrain_milestones(pretrain)}
    return {"max_lr": float(pretrain["lr"])}


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

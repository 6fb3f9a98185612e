"""The trial contract: what a trial needs from its study, typed and frozen.

`studies/` builds one `TrialPlan` from the validated study spec (studies.spec.contract) and hands
it to every trial through Ray's object store (pickled); trials read these fields, never the
study file by string paths. What a trial samples (schedule, max LR, method, target, budget,
start, seed) comes on top, in Tune's config (`trainables.keys.Sampled`).

Each piece knows its own facts: the pretraining recipe its drops, the schedule it runs, what LR
rewinding replays of it and the identity of the dense model it produces. Torch-free, so the
study spec's checks use the same facts the trials run on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pruning.schedules import SCHEDULES, Schedule, build_schedule


@dataclass(frozen=True)
class Sgd:
    """SGD settings of a recipe (docs/science.md §1); bn_l1 is network slimming's penalty."""

    batch_size: int
    momentum: float
    weight_decay: float
    nesterov: bool
    label_smoothing: float
    bn_l1: float = 0.0


@dataclass(frozen=True)
class Pretraining:
    """The dense (original) recipe: also Scratch-E/B's, and what FT and LRW refer to."""

    epochs: int
    schedule: str
    lr: float
    milestones: tuple[float, ...]  # fractions of `epochs`
    schedule_params: dict[str, Any]
    sgd: Sgd

    @property
    def milestone_epochs(self) -> list[int]:
        """The LR drops in epochs: the fractions of the epochs, rounded."""
        return [round(f * self.epochs) for f in self.milestones]

    def run_params(self) -> dict[str, Any]:
        """The params that make the recipe's schedule: a step schedule drops the recipe's LR at
        its milestones; any other peaks at the recipe's LR; `schedule_params` add the rest."""
        fixed = dict(self.schedule_params)
        if SCHEDULES.get(self.schedule).milestone_drops:
            return {**fixed, "base_lr": float(self.lr), "milestones": self.milestone_epochs}
        return {**fixed, "max_lr": float(self.lr)}

    def replay_params(self) -> dict[str, Any]:
        """What LR rewinding replays: this run's step schedule."""
        return {
            "original_epochs": self.epochs,
            "base_lr": float(self.lr),
            "milestones": self.milestone_epochs,
        }

    def run_schedule(self, steps_per_epoch: int) -> Schedule:
        return build_schedule(
            self.schedule, epochs=self.epochs, steps_per_epoch=steps_per_epoch, **self.run_params()
        )

    def with_epochs(self, epochs: int) -> Pretraining:
        """The same recipe for another length (Scratch-B): the milestones are fractions."""
        return replace(self, epochs=epochs)

    def identity(self) -> dict[str, Any]:
        """The recipe as the study file states it (what names a dense model)."""
        flat = {k: v for k, v in asdict(self).items() if k != "sgd"}
        return {**flat, **asdict(self.sgd), "milestones": list(self.milestones)}


@dataclass(frozen=True)
class Data:
    """A data set and its validation split."""

    name: str
    root: str = ""
    val_fraction: float = 0.1
    split_seed: int = 0
    download: bool = False
    image_size: int = 0  # 0 = the data set's native size

    def identity(self) -> dict[str, Any]:
        """What changes the data a dense model sees (not where it is stored)."""
        return {
            "name": self.name,
            "val_fraction": self.val_fraction,
            "split_seed": self.split_seed,
            "image_size": self.image_size,
        }


@dataclass(frozen=True)
class Architecture:
    name: str
    widths: tuple[int | str, ...] = ()

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "widths": list(self.widths)}


@dataclass(frozen=True)
class Pruning:
    """How each trial prunes; `rounds` is 1 for one-shot pruning."""

    methods: tuple[str, ...]
    ratios: tuple[float, ...] | None  # None: a searched range, or configs
    configs: tuple[str, ...]
    rounds: int
    include_fc: bool


@dataclass(frozen=True)
class Retraining:
    """The retraining arms a trial can be in, and their fixed settings."""

    schedules: tuple[str, ...]
    budgets: tuple[int, ...]
    starts: tuple[str, ...]
    schedule_params: dict[str, dict[str, Any]]
    reinit_scheme: str
    sgd: Sgd


@dataclass(frozen=True)
class TrialPlan:
    """Everything of the study that every trial shares."""

    data: Data
    model: Architecture
    pretrain: Pretraining
    pruning: Pruning
    retrain: Retraining
    seeds: tuple[int, ...]
    # What a trial of a single-valued dimension runs without Tune sampling it.
    defaults: dict[str, Any] = field(default_factory=dict)

    def dense_key(self, seed: int) -> str:
        """Identity of a dense model: the same key means the same pretrained weights."""
        recipe = {
            "model": self.model.identity(),
            "dataset": self.data.identity(),
            "pretrain": self.pretrain.identity(),
            "seed": seed,
        }
        blob = json.dumps(recipe, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


__all__ = [
    "Architecture",
    "Data",
    "Pretraining",
    "Pruning",
    "Retraining",
    "Sgd",
    "TrialPlan",
]

"""The original (dense) training schedule: base LR multiplied by gamma at each milestone epoch.

CIFAR protocol of all three papers (docs/science.md §1): 160 epochs, 0.1 ×0.1 at epochs 80 and 120.
Scratch-B uses the same rule with milestones at 50 % and 75 % of its own (longer) epoch count,
which is why the default milestones are fractions of `epochs` rather than fixed numbers.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Sequence

from pruning.schedules.base import (
    EpochwiseSchedule,
    Phase,
    check_decay,
    check_milestones,
    check_positive,
    decayed,
    epoch_fraction,
)

DEFAULT_MILESTONE_FRACTIONS = (0.5, 0.75)


def step_lr(epoch: int, *, base_lr: float, gamma: float, milestones: Sequence[int]) -> float:
    """MultiStepLR's value at `epoch`: base_lr · gamma^(number of milestones <= epoch)."""
    return decayed(base_lr, gamma, bisect_right(milestones, epoch))


def default_milestones(epochs: int) -> tuple[int, ...]:
    """Drops at 50 % and 75 % of the run (80/120 of 160)."""
    return tuple(epoch_fraction(f, epochs) for f in DEFAULT_MILESTONE_FRACTIONS)


def stage_bounds(milestones: Sequence[int], epochs: int) -> list[tuple[str, int, int]]:
    """The constant stages between drops, in epochs: ("stage 1", 0, m1), ("stage 2", m1, m2), ….
    Repeated milestones are one (double) drop; a milestone at the end starts no stage."""
    cuts = sorted({m for m in milestones if m < epochs})
    edges = [0, *cuts, epochs]
    pairs = list(itertools.pairwise(edges))
    return [
        (f"stage {i + 1} of {len(pairs)} (epochs [{a}, {b}))", a, b)
        for i, (a, b) in enumerate(pairs)
    ]


class StepSchedule(EpochwiseSchedule):
    """`step`: base_lr, ×gamma at every milestone epoch (default: 50 % and 75 % of `epochs`).

    `max_lr` given to build_schedule sets `base_lr`. Milestones lie in [1, epochs]: a drop at
    epoch 0 would leave no epoch at base_lr, one after the run would never happen. A milestone
    equal to `epochs` (the end of the run) is allowed and has no effect: a 2-epoch recipe with
    drops at 50 %/75 % rounds to [1, 2]. A repeated milestone drops twice (as MultiStepLR).
    """

    name = "step"
    peak_param = "base_lr"
    milestone_drops = True

    def __init__(
        self,
        *,
        epochs: int,
        steps_per_epoch: int,
        base_lr: float = 0.1,
        gamma: float = 0.1,
        milestones: Sequence[int] | None = None,
    ) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch)
        self.base_lr = check_positive(self.name, "base_lr", base_lr)
        self.gamma = check_decay(self.name, "gamma", gamma)
        if milestones is None:
            milestones = default_milestones(self.epochs)
        self.milestones = check_milestones(self.name, "milestones", milestones)
        late = [m for m in self.milestones if m > self.epochs]
        if late:
            raise ValueError(
                f"step: the drop at epoch {late[0]} is after the run's {self.epochs} epochs; "
                f"valid: milestones in [1, {self.epochs}]"
            )

    def phases(self) -> list[Phase]:
        return self.epoch_phases(stage_bounds(self.milestones, self.epochs))

    def _epoch_lr(self, epoch: int) -> float:
        return step_lr(epoch, base_lr=self.base_lr, gamma=self.gamma, milestones=self.milestones)

"""The original (dense) training schedule: base LR multiplied by gamma at each milestone epoch.

CIFAR protocol of all three papers (docs/science.md §1): 160 epochs, 0.1 ×0.1 at epochs 80 and 120.
Scratch-B uses the same rule with milestones at 50 % and 75 % of its own (longer) epoch count,
which is why the default milestones are fractions of `epochs` rather than fixed numbers.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from pruning.schedules.base import (
    EpochwiseSchedule,
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


class StepSchedule(EpochwiseSchedule):
    """`step`: base_lr, ×gamma at every milestone epoch (default: 50 % and 75 % of `epochs`).

    `max_lr` given to build_schedule sets `base_lr`.
    """

    name = "step"
    peak_param = "base_lr"

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
        self.gamma = check_positive(self.name, "gamma", gamma)
        if milestones is None:
            milestones = default_milestones(self.epochs)
        self.milestones = check_milestones(self.name, "milestones", milestones)

    def _epoch_lr(self, epoch: int) -> float:
        return step_lr(epoch, base_lr=self.base_lr, gamma=self.gamma, milestones=self.milestones)

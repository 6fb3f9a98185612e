"""LR rewinding (Renda et al. 2020): replay the last E epochs of the original schedule.

lr(e) = original_lr(original_epochs − E + e). CIFAR: E=72 → 32 epochs at 0.01 then 40 at 0.001;
E ≤ 40 → identical to FT. Weight rewinding (WR) uses the same LR schedule; rewinding the weights
themselves is the caller's job: the dense run's weights at epoch original_epochs − E
(`pruning.snapshots.EpochSnapshots`), cut as the pruning cut the trained model
(`pruning.methods.replay_pruning`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pruning.schedules.base import (
    EpochwiseSchedule,
    check_int,
    check_milestones,
    check_positive,
    check_positive_int,
)
from pruning.schedules.step import default_milestones, step_lr


class LRRewinding(EpochwiseSchedule):
    """`lrw`: the last `epochs` epochs of an original step schedule of `original_epochs` epochs.

    `start_epoch` replays from another epoch of the original run instead: weight rewinding to
    epoch k rewinds the LR to epoch k too (Renda et al.; k = 0 for the lottery-ticket `init`).
    None means `original_epochs − epochs`, LRW's own replay of the last epochs. Past the end of
    the original run the LR stays at its final value.

    The original is `step` with `base_lr`, `gamma` and `milestones` (default 50 %/75 % of
    `original_epochs`, i.e. 80/120 of 160). `max_lr` rescales the replayed segment so that its
    first (highest) LR equals `max_lr`; None keeps the original's own value (0.01 for E=72,
    0.001 for E ≤ 40), and `params()` then reports that natural peak.
    """

    name = "lrw"
    searched_peak = False

    def __init__(
        self,
        *,
        epochs: int,
        steps_per_epoch: int,
        original_epochs: int = 160,
        base_lr: float = 0.1,
        gamma: float = 0.1,
        milestones: Sequence[int] | None = None,
        max_lr: float | None = None,
        start_epoch: int | None = None,
    ) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch)
        self.original_epochs = check_positive_int(self.name, "original_epochs", original_epochs)
        self.start_epoch = (
            None
            if start_epoch is None
            else check_int(self.name, "start_epoch", start_epoch, minimum=0)
        )
        if self.start_epoch is not None and self.start_epoch > self.original_epochs:
            raise ValueError(
                f"lrw: start_epoch ({self.start_epoch}) is after the original run's "
                f"{self.original_epochs} epochs; valid: 0 to {self.original_epochs}"
            )
        if self.start_epoch is None and self.epochs > self.original_epochs:
            raise ValueError(
                f"lrw: epochs ({self.epochs}) cannot exceed original_epochs "
                f"({self.original_epochs}): there is no schedule before epoch 0 to replay"
            )
        self.base_lr = check_positive(self.name, "base_lr", base_lr)
        self.gamma = check_positive(self.name, "gamma", gamma)
        if milestones is None:
            milestones = default_milestones(self.original_epochs)
        self.milestones = check_milestones(self.name, "milestones", milestones)
        natural = max(self._original_lr(e) for e in range(self.epochs))
        self._max_lr = natural if max_lr is None else check_positive(self.name, "max_lr", max_lr)
        # x / x == 1.0 exactly, so the default (and its round trip) replays the original bits.
        self._scale = self._max_lr / natural

    @property
    def max_lr(self) -> float:
        return self._max_lr

    def _original_lr(self, epoch: int) -> float:
        start = (
            self.original_epochs - self.epochs if self.start_epoch is None else self.start_epoch
        )
        return step_lr(
            start + epoch, base_lr=self.base_lr, gamma=self.gamma, milestones=self.milestones
        )

    def _epoch_lr(self, epoch: int) -> float:
        return self._original_lr(epoch) * self._scale

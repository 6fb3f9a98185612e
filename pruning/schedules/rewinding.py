"""LR rewinding (Renda et al. 2020): replay a segment of the original schedule.

Renda et al. retrain for T − K epochs with the dense run's schedule replayed from epoch K:
lr(e) = original_lr(K + e). Plain LRW keeps the pruned weights and replays the last E epochs
(K = T − E), so E = T − K by construction: CIFAR E=72 → 32 epochs at 0.01 then 40 at 0.001;
E ≤ 40 → identical to FT. Weight rewinding (WR) uses the same LR segment with the weights of epoch
K (`pruning.snapshots.EpochSnapshots`, cut by `pruning.methods.replay_pruning`); the lottery
ticket (Frankle & Carbin) rewinds to K = 0 and trains the full dense schedule.

When the budget E differs from T − K (a study that rewinds to K but retrains E epochs), the
segment [K, T) is *compressed* (or stretched) into E epochs, every drop kept at the same fraction
of the segment: lr(e) = original_lr(K + ⌊e · (T − K) / E⌋). A flat LR never stands in for it: if
a drop of the segment falls on no epoch after compression, the schedule is refused.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pruning.schedules.base import (
    EpochwiseSchedule,
    Phase,
    check_decay,
    check_int,
    check_milestones,
    check_positive,
    check_positive_int,
)
from pruning.schedules.step import default_milestones, step_lr


class LRRewinding(EpochwiseSchedule):
    """`lrw`: the segment [start_epoch, original_epochs) of an original step schedule, replayed
    in `epochs` epochs (compressed or stretched when `epochs` ≠ its length, see the module).

    `start_epoch` None means `original_epochs − epochs`, LRW's own replay of the last epochs.
    The original is `step` with `base_lr`, `gamma` and `milestones` (default 50 %/75 % of
    `original_epochs`, i.e. 80/120 of 160). `max_lr` rescales the replayed segment so that its
    first (highest) LR equals `max_lr`; None keeps the original's own value (0.01 for E=72,
    0.001 for E ≤ 40), and `params()` then reports that natural peak.
    """

    name = "lrw"
    searched_peak = False
    replays_pretraining = True

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
        if self.start_epoch is not None and self.start_epoch >= self.original_epochs:
            raise ValueError(
                f"lrw: start_epoch ({self.start_epoch}) leaves nothing of the original run's "
                f"{self.original_epochs} epochs to replay; valid: 0 to {self.original_epochs - 1}"
            )
        if self.start_epoch is None and self.epochs > self.original_epochs:
            raise ValueError(
                f"lrw: epochs ({self.epochs}) cannot exceed original_epochs "
                f"({self.original_epochs}): there is no schedule before epoch 0 to replay"
            )
        self.base_lr = check_positive(self.name, "base_lr", base_lr)
        self.gamma = check_decay(self.name, "gamma", gamma)
        if milestones is None:
            milestones = default_milestones(self.original_epochs)
        self.milestones = check_milestones(self.name, "milestones", milestones)
        natural = max(self._original_lr(e) for e in range(self.epochs))
        if not natural > 0:  # base_lr · gamma^drops underflowed: nothing left to rescale
            raise ValueError(
                f"lrw: the replayed LR is {natural!r} (base_lr {self.base_lr:g} × gamma "
                f"{self.gamma:g} per drop underflows); valid: a larger base_lr or gamma"
            )
        self._max_lr = natural if max_lr is None else check_positive(self.name, "max_lr", max_lr)
        # x / x == 1.0 exactly, so the default (and its round trip) replays the original bits.
        self._scale = self._max_lr / natural

    @property
    def max_lr(self) -> float:
        return self._max_lr

    @property
    def first_epoch(self) -> int:
        """K: the original run's epoch the replay starts from."""
        if self.start_epoch is None:
            return self.original_epochs - self.epochs
        return self.start_epoch

    @property
    def compressed(self) -> bool:
        """Whether the segment [K, T) is replayed in a different number of epochs than its own."""
        return self.original_epochs - self.first_epoch != self.epochs

    def original_epoch(self, epoch: int) -> int:
        """The original run's epoch whose LR epoch `epoch` of the replay runs at."""
        length = self.original_epochs - self.first_epoch
        return self.first_epoch + epoch * length // self.epochs

    def phases(self) -> list[Phase]:
        """One phase per drop-delimited stage of the segment [K, T); a stage that no replayed
        epoch lands on (compressed too far) is an empty phase, which the contract refuses."""
        first, total = self.first_epoch, self.original_epochs
        cuts = sorted({m for m in self.milestones if first < m < total})
        edges = [first, *cuts, total]
        hits = [self.original_epoch(e) for e in range(self.epochs)]
        out = []
        for a, b in itertools.pairwise(edges):
            inside = [e for e, o in enumerate(hits) if a <= o < b]
            name = f"replay of original epochs [{a}, {b})"
            if not inside:
                out.append(Phase(name, 0, 0))
                continue
            spe = self.steps_per_epoch
            out.append(Phase(name, inside[0] * spe, (inside[-1] + 1) * spe))
        return out

    def _original_lr(self, epoch: int) -> float:
        return step_lr(
            self.original_epoch(epoch),
            base_lr=self.base_lr,
            gamma=self.gamma,
            milestones=self.milestones,
        )

    def _epoch_lr(self, epoch: int) -> float:
        return self._original_lr(epoch) * self._scale

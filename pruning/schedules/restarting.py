"""Scaled learning-rate restarting (SLR, Le & Hua ICLR 2021, docs/science.md §2).

W = int(warmup_frac · E) warm-up epochs, cosine from max_lr/div_factor up to max_lr:
    lr(e) = max_lr + (max_lr/div_factor − max_lr)/2 · (cos(π·e/W) + 1),   e < W
then the original step schedule compressed into the budget: max_lr until W + int(0.45·E),
×gamma until W + int(0.675·E), ×gamma² to the end. The drop epochs are *absolute* (W + m, with m
a fraction of the whole budget E, not of E − W): E=40 → W=4, drops 22/31; E=72 → 7, 39/55;
E=152 → 15, 83/117. With the defaults (max_lr 0.1, div_factor 100, gamma 0.1) this is exactly
the paper's 0.001 → 0.1 → 0.01 → 0.001; `max_lr` scales the whole shape so its peak is max_lr.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Sequence

from pruning.schedules.base import (
    EpochwiseSchedule,
    Phase,
    check_decay,
    check_divisor,
    check_positive,
    check_range,
    decayed,
    epoch_fraction,
)


class ScaledLRRestarting(EpochwiseSchedule):
    """`slr`: per-epoch cosine warm-up to max_lr, then the step schedule compressed into E epochs.

    `warmup_frac` = 0 disables the warm-up (Le & Hua's ablation: 0, 0.05, 0.1, 0.15); a
    positive fraction must give at least one warm-up epoch (int(0.1 · E) is 0 for E < 10: such a
    run is refused rather than silently run without warm-up). `milestone_fracs` are the drops as
    fractions of E, added to the warm-up length W; every stage between them holds an epoch.
    """

    name = "slr"

    def __init__(
        self,
        *,
        epochs: int,
        steps_per_epoch: int,
        max_lr: float = 0.1,
        div_factor: float = 100.0,
        gamma: float = 0.1,
        warmup_frac: float = 0.1,
        milestone_fracs: Sequence[float] = (0.45, 0.675),
    ) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch)
        self._max_lr = check_positive(self.name, "max_lr", max_lr)
        self.div_factor = check_divisor(self.name, "div_factor", div_factor)
        self.gamma = check_decay(self.name, "gamma", gamma)
        self.warmup_frac = check_range(
            self.name, "warmup_frac", warmup_frac, 0.0, 1.0, high_open=True
        )
        self.milestone_fracs = _check_fracs(milestone_fracs)
        self.warmup_epochs = epoch_fraction(self.warmup_frac, self.epochs)
        self.drop_epochs = tuple(
            self.warmup_epochs + epoch_fraction(f, self.epochs) for f in self.milestone_fracs
        )

    @property
    def max_lr(self) -> float:
        return self._max_lr

    def phases(self) -> list[Phase]:
        w, e = self.warmup_epochs, self.epochs
        bounds = [("warm-up (int(warmup_frac · epochs) epochs)", 0, w)] if self.warmup_frac else []
        edges = [w, *self.drop_epochs, e]
        names = ["stage at max_lr"] + [f"stage after drop {i + 1}" for i in range(len(edges) - 2)]
        bounds += [(n, a, b) for n, a, b in zip(names, edges, edges[1:], strict=False)]
        return self.epoch_phases(bounds)

    def _epoch_lr(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            start = self._max_lr / self.div_factor
            cos_out = math.cos(math.pi * epoch / self.warmup_epochs) + 1
            return self._max_lr + (start - self._max_lr) / 2 * cos_out
        return decayed(self._max_lr, self.gamma, bisect_right(self.drop_epochs, epoch))


def _check_fracs(fracs: object) -> tuple[float, ...]:
    valid = (
        isinstance(fracs, list | tuple)
        and len(fracs) > 0  # SLR is the step schedule compressed: it drops at least once
        and all(
            isinstance(f, int | float) and not isinstance(f, bool) and 0 < f < 1 for f in fracs
        )
    )
    if valid and any(a >= b for a, b in itertools.pairwise(fracs)):  # type: ignore[index]
        valid = False
    if not valid:
        raise ValueError(
            f"slr: milestone_fracs must be one or more strictly increasing fractions in (0, 1), "
            f"got {fracs!r}"
        )
    return tuple(float(f) for f in fracs)  # type: ignore[union-attr]

"""Cosine annealing per iteration from max_lr to min_lr, after an optional linear warm-up."""

from __future__ import annotations

import math

from pruning.schedules.base import Phase, Schedule, check_positive, check_range


class CosineSchedule(Schedule):
    """`cosine`: linear warm-up over `warmup_epochs` (may be fractional), then half a cosine.

    Warm-up step t of W gives max_lr·(t+1)/W (positive from the first step, max_lr at the
    last); the anneal reaches min_lr only one step after the run ends, so every LR is > 0 even
    with min_lr = 0. min_lr < max_lr: an anneal that does not decay is `constant`.
    """

    name = "cosine"

    def __init__(
        self,
        *,
        epochs: int,
        steps_per_epoch: int,
        max_lr: float = 0.1,
        min_lr: float = 0.0,
        warmup_epochs: float = 0.0,
    ) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch)
        self._max_lr = check_positive(self.name, "max_lr", max_lr)
        self.min_lr = check_range(self.name, "min_lr", min_lr, 0.0, self._max_lr, high_open=True)
        self.warmup_epochs = check_range(
            self.name, "warmup_epochs", warmup_epochs, 0.0, float(self.epochs), high_open=True
        )
        self.warmup_steps = round(self.warmup_epochs * self.steps_per_epoch)
        if self.warmup_steps >= self.total_steps:
            raise ValueError(
                f"cosine: warmup_epochs={warmup_epochs} leaves no step to anneal "
                f"({self.total_steps} steps in all)"
            )

    def phases(self) -> list[Phase]:
        # The anneal's first step runs at max_lr: it must hold a second step to anneal at all.
        w, total = self.warmup_steps, self.total_steps
        peak = [Phase("peak step", w, w + 1), Phase("anneal after the peak step", w + 1, total)]
        if not self.warmup_epochs:
            return peak
        # A positive warm-up that rounds to 0 steps would silently run without one.
        return [Phase("warm-up (round(warmup_epochs · steps_per_epoch) steps)", 0, w), *peak]

    @property
    def max_lr(self) -> float:
        return self._max_lr

    def _get_lr(self, step: int) -> float:
        if step < self.warmup_steps:
            return self._max_lr * (step + 1) / self.warmup_steps
        pct = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (self._max_lr - self.min_lr) / 2 * (1 + math.cos(math.pi * pct))

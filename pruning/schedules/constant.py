"""Constant learning rates: fine-tuning (FT) and a plain constant schedule."""

from __future__ import annotations

from pruning.schedules.base import EpochwiseSchedule, check_positive


class ConstantSchedule(EpochwiseSchedule):
    """`constant`: the same `lr` at every step. `max_lr` given to build_schedule sets `lr`."""

    name = "constant"
    peak_param = "lr"

    def __init__(self, *, epochs: int, steps_per_epoch: int, lr: float = 0.01) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch)
        self.lr_value = check_positive(self.name, "lr", lr)

    def params(self) -> dict[str, float]:
        # `lr` is a method of every schedule, so the value lives in `lr_value`.
        return {"lr": self.lr_value}

    def _epoch_lr(self, epoch: int) -> float:
        return self.lr_value


class FineTuning(ConstantSchedule):
    """`ft`: constant LR = the last LR of original training (0.001 for CIFAR, docs/science.md §2).

    FT has no peak other than its constant, so `max_lr` given to build_schedule sets `lr`.
    """

    name = "ft"
    searched_peak = False

    def __init__(self, *, epochs: int, steps_per_epoch: int, lr: float = 0.001) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch, lr=lr)

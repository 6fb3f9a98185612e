"""Cyclic LR restarting (CLR): the 1-cycle policy, stepped per iteration (SCIENCE.md §2).

The definition *is* PyTorch's `OneCycleLR` (two phases, no three_phase), so `one_cycle` mirrors
its arithmetic operation by operation and the values agree bit for bit (tested against a real
SGD driven by OneCycleLR). Being a pure function of the step, it needs no scheduler state to
resume. One deviation: when pct_start · total_steps == 1 the warm-up phase has zero length and
OneCycleLR divides by zero; here step 0 then takes the warm-up's start value.
"""

from __future__ import annotations

import math

from pruning.schedules.base import (
    Schedule,
    check_bool,
    check_choice,
    check_positive,
    check_range,
)

ANNEAL_STRATEGIES = ("cos", "linear")


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out
    return (end - start) * pct + start


def one_cycle(
    step: int,
    total_steps: int,
    *,
    max_lr: float,
    pct_start: float,
    div_factor: float,
    final_div_factor: float,
    anneal: str = "cos",
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> tuple[float, float]:
    """(lr, momentum) of OneCycleLR at `step` of `total_steps`.

    Warm-up from max_lr/div_factor to max_lr over the first pct_start of the steps (momentum
    max → base), then anneal to max_lr/div_factor/final_div_factor (momentum base → max).
    """
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    warmup_end = float(pct_start * total_steps) - 1
    if step <= warmup_end:
        start_step, end_step = 0.0, warmup_end
        lrs, moms = (initial_lr, max_lr), (max_momentum, base_momentum)
    else:
        start_step, end_step = warmup_end, total_steps - 1
        lrs, moms = (max_lr, min_lr), (base_momentum, max_momentum)
    span = end_step - start_step
    pct = (step - start_step) / span if span != 0 else 0.0
    return _anneal(anneal, *lrs, pct), _anneal(anneal, *moms, pct)


class OneCycleSchedule(Schedule):
    """One warm-up + anneal cycle per run; with cycle_momentum the momentum cycles inversely.

    Subclasses that compute their peak (S-Cyc) override `max_lr` and reuse the cycle shape.
    """

    def _init_cycle(
        self,
        *,
        pct_start: float,
        div_factor: float,
        final_div_factor: float,
        anneal: str,
        cycle_momentum: bool,
        base_momentum: float,
        max_momentum: float,
    ) -> None:
        name = self.name
        self.pct_start = check_range(name, "pct_start", pct_start, 0.0, 1.0)
        self.div_factor = check_positive(name, "div_factor", div_factor)
        self.final_div_factor = check_positive(name, "final_div_factor", final_div_factor)
        self.anneal = check_choice(name, "anneal", anneal, ANNEAL_STRATEGIES)
        self.cycle_momentum = check_bool(name, "cycle_momentum", cycle_momentum)
        self.base_momentum = check_range(name, "base_momentum", base_momentum, 0.0, 1.0)
        self.max_momentum = check_range(name, "max_momentum", max_momentum, 0.0, 1.0)

    def _cycle(self, step: int) -> tuple[float, float]:
        return one_cycle(
            step,
            self.total_steps,
            max_lr=self.max_lr,
            pct_start=self.pct_start,
            div_factor=self.div_factor,
            final_div_factor=self.final_div_factor,
            anneal=self.anneal,
            base_momentum=self.base_momentum,
            max_momentum=self.max_momentum,
        )

    def _get_lr(self, step: int) -> float:
        return self._cycle(step)[0]

    def _get_momentum(self, step: int) -> float | None:
        return self._cycle(step)[1] if self.cycle_momentum else None


class CyclicLRRestarting(OneCycleSchedule):
    """`clr`: OneCycleLR(max_lr=0.1, div_factor=100, final_div_factor=100, pct_start=0.1, cos,
    cycle_momentum=True, base_momentum=0.85, max_momentum=0.95): 0.001 → 0.1 at 10 % → 1e-5."""

    name = "clr"

    def __init__(
        self,
        *,
        epochs: int,
        steps_per_epoch: int,
        max_lr: float = 0.1,
        pct_start: float = 0.1,
        div_factor: float = 100.0,
        final_div_factor: float = 100.0,
        anneal: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
    ) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch)
        self._max_lr = check_positive(self.name, "max_lr", max_lr)
        self._init_cycle(
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            anneal=anneal,
            cycle_momentum=cycle_momentum,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
        )

    @property
    def max_lr(self) -> float:
        return self._max_lr

"""Cyclic LR restarting (CLR): the 1-cycle policy, stepped per iteration (docs/science.md §2).

The definition *is* PyTorch's `OneCycleLR` (two phases, no three_phase), so `one_cycle` mirrors
its arithmetic operation by operation and the values agree bit for bit (tested against a real
SGD driven by OneCycleLR). Being a pure function of the step, it needs no scheduler state to
resume. One deviation: when pct_start · total_steps == 1 the warm-up phase has zero length and
OneCycleLR divides by zero; here step 0 then takes the warm-up's start value.

shape="silo" swaps the 1-cycle for SILO's ramp-then-step round (its dense round 0 runs it at
max_lr 0.03): see `pruning.schedules.cycle` and `pruning.schedules.shapes`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pruning.schedules.base import check_positive
from pruning.schedules.cycle import CycleSchedule
from pruning.schedules.shapes import ANNEAL_STRATEGIES, one_cycle

__all__ = ["ANNEAL_STRATEGIES", "CyclicLRRestarting", "one_cycle"]


class CyclicLRRestarting(CycleSchedule):
    """`clr`: OneCycleLR(max_lr=0.1, div_factor=100, final_div_factor=100, pct_start=0.1, cos,
    cycle_momentum=True, base_momentum=0.85, max_momentum=0.95): 0.001 → 0.1 at 10 % → 1e-5.

    shape="silo": ramp_steps=20000, lr0=0, drop_at=[0.5, 0.64] (or drop_epochs), drop_factors
    [0.1, 0.01]; no momentum schedule. The one-cycle params are refused with it, and vice versa.
    """

    name = "clr"

    def __init__(
        self,
        *,
        epochs: int,
        steps_per_epoch: int,
        max_lr: float = 0.1,
        shape: str = "one-cycle",
        pct_start: float | None = None,
        div_factor: float | None = None,
        final_div_factor: float | None = None,
        anneal: str | None = None,
        cycle_momentum: bool | None = None,
        base_momentum: float | None = None,
        max_momentum: float | None = None,
        ramp_steps: int | None = None,
        lr0: float | None = None,
        drop_at: Sequence[float] | None = None,
        drop_epochs: Sequence[int] | None = None,
        drop_factors: Sequence[float] | None = None,
    ) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch)
        self._max_lr = check_positive(self.name, "max_lr", max_lr)
        self._init_shape(
            shape,
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            anneal=anneal,
            cycle_momentum=cycle_momentum,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
            ramp_steps=ramp_steps,
            lr0=lr0,
            drop_at=drop_at,
            drop_epochs=drop_epochs,
            drop_factors=drop_factors,
        )

    @property
    def max_lr(self) -> float:
        return self._max_lr

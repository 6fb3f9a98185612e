"""S-Cyc (Liu, Tan & Motani 2021; SILO, TMLR 2023): one cycle per pruning round whose peak LR
grows in an S-shape with the fraction of weights already pruned.

    max_lr(x) = offset + alpha · x^β / (x^β + (1 − x)^β),   x_k = 1 − (1 − p)^(k − lag)

for round k (1-indexed) of iterative pruning with per-round ratio p. SILO's defaults (ResNet-20:
offset 0.03, alpha 0.04, β 5, one-round lag) are the defaults here; whether S-Cyc v1 used exactly
this parameterisation is unverified (docs/science.md §2), so every piece, including the in-round cycle
shape, is a param. With the lag, round 1 sees x = 0 and starts at `offset` exactly.

Checked against SILO's `resnet_20_cifar_10.py`: `cal(x, beta=5, alpha=0.04, offset=0.03)` is
`alpha*1/(1+(x/(1-x))**(-beta)) + offset` (the same S-curve), applied only
`if _ite > delay` (delay = 1) with x = 1 − (1 − prune_percent/100)^(_ite − delay); rounds 0
(dense) and 1 keep the initial global max_lr = 0.03 (= offset; VGG-19: 0.04 = its offset),
which is what lag = 1 gives round 1 here. shape="silo" runs SILO's in-round ramp-then-step
instead of the 1-cycle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pruning.schedules.base import check_int, check_positive, check_range
from pruning.schedules.cycle import CycleSchedule

_NAME = "scyc"


def s_curve(x: float, beta: float) -> float:
    """x^β / (x^β + (1 − x)^β) on [0, 1]: 0 at 0, 1/2 at 1/2, 1 at 1.

    Computed as the logistic of β·(ln x − ln(1 − x)), which is the same quantity but cannot
    overflow or divide 0 by 0 for a large β (x^β and (1 − x)^β both underflow to 0 there)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    z = beta * (math.log(x) - math.log1p(-x))
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


def pruned_fraction(round_index: int, round_ratio: float, lag: int = 1) -> float:
    """x_k = 1 − (1 − p)^(k − lag): weights pruned before round k's own pruning step (k >= 1).

    Rounds before the lag has elapsed (k < lag) see x = 0.
    """
    return 1.0 - (1.0 - round_ratio) ** max(round_index - lag, 0)


@dataclass(frozen=True)
class SCycPeak:
    """The validated arguments of S-Cyc's peak; the one place both `scyc_max_lr` and the `scyc`
    schedule check them, so the CLI's round table and a study fail with the same message."""

    round_index: int
    round_ratio: float
    offset: float
    alpha: float
    beta: float
    lag: int
    sparsity: float | None

    def __post_init__(self) -> None:
        checked = {
            "round_index": check_int(_NAME, "round_index", self.round_index, minimum=1),
            "round_ratio": check_range(
                _NAME, "round_ratio", self.round_ratio, 0.0, 1.0, high_open=True
            ),
            "offset": check_positive(_NAME, "offset", self.offset),
            "alpha": check_range(_NAME, "alpha", self.alpha, 0.0, math.inf),
            "beta": check_positive(_NAME, "beta", self.beta),
            "lag": check_int(_NAME, "lag", self.lag, minimum=0),
            "sparsity": None
            if self.sparsity is None
            else check_range(_NAME, "sparsity", self.sparsity, 0.0, 1.0),
        }
        for key, value in checked.items():
            object.__setattr__(self, key, value)

    @property
    def max_lr(self) -> float:
        x = self.sparsity
        if x is None:
            x = pruned_fraction(self.round_index, self.round_ratio, self.lag)
        return self.offset + self.alpha * s_curve(x, self.beta)


def scyc_max_lr(
    round_index: int,
    round_ratio: float,
    *,
    offset: float = 0.03,
    alpha: float = 0.04,
    beta: float = 5.0,
    lag: int = 1,
    sparsity: float | None = None,
) -> float:
    """S-Cyc's peak LR for round `round_index` (1-indexed); `sparsity` overrides x_k if given.

    Raises the same one-line ValueErrors as the `scyc` schedule for invalid arguments (offset
    > 0, alpha >= 0, beta > 0, lag an integer >= 0, round_ratio in [0, 1), round_index >= 1).
    """
    return SCycPeak(round_index, round_ratio, offset, alpha, beta, lag, sparsity).max_lr


class SCyclic(CycleSchedule):
    """`scyc`: one cycle of clr's shapes per round, peak = scyc_max_lr(round_index, round_ratio,
    …). The peak is computed, so `max_lr` is not a param (use `offset`/`alpha` to move it).

    shape="silo" with the defaults is SILO's ResNet-20 round: ramp of max_lr/20000 per step from
    lr0 = 0, max_lr/10 from epoch 25 and max_lr/100 from epoch 32 of 50, constant momentum.
    """

    name = _NAME
    peak_param = None
    per_round_peak = True

    def __init__(
        self,
        *,
        epochs: int,
        steps_per_epoch: int,
        round_index: int = 1,
        round_ratio: float = 0.2,
        offset: float = 0.03,
        alpha: float = 0.04,
        beta: float = 5.0,
        lag: int = 1,
        sparsity: float | None = None,
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
        peak = SCycPeak(round_index, round_ratio, offset, alpha, beta, lag, sparsity)
        self.round_index, self.round_ratio = peak.round_index, peak.round_ratio
        self.offset, self.alpha, self.beta = peak.offset, peak.alpha, peak.beta
        self.lag, self.sparsity = peak.lag, peak.sparsity
        self._max_lr = peak.max_lr
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

    # Set by every round of a study from what the rounds reached; not a study-file param.
    ROUND_SET = ("round_index", "round_ratio", "sparsity")

    @classmethod
    def round_params(
        cls,
        params: dict[str, Any],
        round_index: int,
        removed: Sequence[float] | None,
        ratio: float | None,
    ) -> dict[str, Any]:
        """Round k's index and x: the fraction of the dense weights removed by round k − lag,
        as the rounds actually reached it (structured configs included); without reports,
        x_k = 1 − (1 − ratio)^(k − lag) from the nominal per-round ratio."""
        if removed is None:
            return {"round_index": round_index, "round_ratio": ratio or 0.0}
        lag = params.get("lag", 1)
        done = round_index - lag if isinstance(lag, int) and not isinstance(lag, bool) else 0
        x = removed[done - 1] if 1 <= done <= len(removed) else 0.0
        return {"round_index": round_index, "sparsity": x}

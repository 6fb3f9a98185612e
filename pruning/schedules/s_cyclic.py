"""S-Cyc (Liu, Tan & Motani 2021; SILO, TMLR 2023): a 1-cycle per pruning round whose peak LR
grows in an S-shape with the fraction of weights already pruned.

    max_lr(x) = offset + alpha · x^β / (x^β + (1 − x)^β),   x_k = 1 − (1 − p)^(k − lag)

for round k (1-indexed) of iterative pruning with per-round ratio p. SILO's defaults (ResNet-20:
offset 0.03, alpha 0.04, β 5, one-round lag) are the defaults here; whether S-Cyc v1 used exactly
this parameterisation is unverified (SCIENCE.md §2), so every piece, including the in-round cycle
shape, is a param. With the lag, round 1 sees x = 0 and starts at `offset` exactly.
"""

from __future__ import annotations

from pruning.schedules.base import check_int, check_positive, check_range
from pruning.schedules.one_cycle import OneCycleSchedule


def s_curve(x: float, beta: float) -> float:
    """x^β / (x^β + (1 − x)^β) on [0, 1]: 0 at 0, 1/2 at 1/2, 1 at 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    rise = x**beta
    return rise / (rise + (1.0 - x) ** beta)


def pruned_fraction(round_index: int, round_ratio: float, lag: int = 1) -> float:
    """x_k = 1 − (1 − p)^(k − lag): weights pruned before round k's own pruning step (k >= 1).

    Rounds before the lag has elapsed (k < lag) see x = 0.
    """
    return 1.0 - (1.0 - round_ratio) ** max(round_index - lag, 0)


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
    """S-Cyc's peak LR for round `round_index` (1-indexed); `sparsity` overrides x_k if given."""
    x = pruned_fraction(round_index, round_ratio, lag) if sparsity is None else sparsity
    return offset + alpha * s_curve(x, beta)


class SCyclic(OneCycleSchedule):
    """`scyc`: one cycle of clr's shape per round, peak = scyc_max_lr(round_index, round_ratio, …).

    The peak is computed, so `max_lr` is not a param (use `offset`/`alpha` to move it).
    """

    name = "scyc"
    peak_param = None

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
        pct_start: float = 0.1,
        div_factor: float = 100.0,
        final_div_factor: float = 100.0,
        anneal: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
    ) -> None:
        super().__init__(epochs=epochs, steps_per_epoch=steps_per_epoch)
        self.round_index = check_int(self.name, "round_index", round_index, minimum=1)
        self.round_ratio = check_range(
            self.name, "round_ratio", round_ratio, 0.0, 1.0, high_open=True
        )
        self.offset = check_positive(self.name, "offset", offset)
        self.alpha = check_range(self.name, "alpha", alpha, 0.0, float("inf"))
        self.beta = check_positive(self.name, "beta", beta)
        self.lag = check_int(self.name, "lag", lag, minimum=0)
        self.sparsity = (
            None if sparsity is None else check_range(self.name, "sparsity", sparsity, 0.0, 1.0)
        )
        self._init_cycle(
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            anneal=anneal,
            cycle_momentum=cycle_momentum,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
        )
        self._max_lr = scyc_max_lr(
            self.round_index,
            self.round_ratio,
            offset=self.offset,
            alpha=self.alpha,
            beta=self.beta,
            lag=self.lag,
            sparsity=self.sparsity,
        )

    @property
    def max_lr(self) -> float:
        return self._max_lr

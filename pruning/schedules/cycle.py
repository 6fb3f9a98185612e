"""The shared base of clr and scyc: one in-round cycle up to `max_lr`, of a chosen shape.

shape="one-cycle" (default): OneCycleLR's warm-up + anneal with cycling momentum (Le & Hua's
CLR). shape="silo": SILO's linear ramp then absolute drops, momentum left to the optimizer
(`pruning.schedules.shapes` says what SILO's code does, line by line).

Each shape has its own params; a param of the other shape is refused, so a spec that sets
`pct_start` with shape="silo" fails loudly instead of being ignored. Every shape param defaults
to None ("not given") in the constructors, the shape's default is filled in here, and
`params()` reports only the params of the schedule's shape, so `build_schedule(**params())`
round-trips.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from pruning.schedules.base import (
    Phase,
    Schedule,
    check_bool,
    check_choice,
    check_divisor,
    check_positive_int,
    check_range,
    epoch_fraction,
)
from pruning.schedules.shapes import ANNEAL_STRATEGIES, one_cycle, silo_lr

SHAPES = ("one-cycle", "silo")
ONE_CYCLE_DEFAULTS: dict[str, Any] = {
    "pct_start": 0.1,
    "div_factor": 100.0,
    "final_div_factor": 100.0,
    "anneal": "cos",
    "cycle_momentum": True,
    "base_momentum": 0.85,
    "max_momentum": 0.95,
}
# SILO's resnet_20_cifar_10.py: stepsize 20000, --lr 0, drops at epochs 25 and 32 of 50.
SILO_DEFAULTS: dict[str, Any] = {
    "ramp_steps": 20_000,
    "lr0": 0.0,
    "drop_at": (0.5, 0.64),
    "drop_epochs": None,
    "drop_factors": (0.1, 0.01),
}
SHAPE_PARAMS: dict[str, tuple[str, ...]] = {
    "one-cycle": tuple(ONE_CYCLE_DEFAULTS),
    "silo": tuple(SILO_DEFAULTS),
}


class CycleSchedule(Schedule):
    """One cycle per run (a pruning round) of `shape`, peaking at (or ramping to) `max_lr`.

    Subclasses set their peak (`max_lr` property) and call `_init_shape` with every shape param
    they were given (None = not given). With shape="silo", lr0 > 0 lets the ramp end above
    max_lr (SILO's slope is max_lr/ramp_steps whatever lr0 is): lr(t) <= lr0 + max_lr.
    """

    shape: str
    _inactive: frozenset[str] = frozenset()

    def _init_shape(self, shape: object, **given: Any) -> None:
        name = self.name
        self.shape = check_choice(name, "shape", shape, SHAPES)
        own = SHAPE_PARAMS[self.shape]
        stray = [k for k, v in given.items() if v is not None and k not in own]
        if stray:
            raise ValueError(
                f"{name}: {stray[0]} does not apply to shape={self.shape!r}; "
                f"its params are {', '.join(own)}"
            )
        inactive = {k for k in given if k not in own}
        for key in inactive:
            setattr(self, key, None)
        if self.shape == "one-cycle":
            values = {k: ONE_CYCLE_DEFAULTS[k] if given[k] is None else given[k] for k in own}
            self._init_one_cycle(**values)
        else:
            inactive.add("drop_at" if given["drop_epochs"] is not None else "drop_epochs")
            self._init_silo(given)
        self._inactive = frozenset(inactive)

    def _init_one_cycle(
        self,
        *,
        pct_start: object,
        div_factor: object,
        final_div_factor: object,
        anneal: object,
        cycle_momentum: object,
        base_momentum: object,
        max_momentum: object,
    ) -> None:
        name = self.name
        self.pct_start = check_range(name, "pct_start", pct_start, 0.0, 1.0)
        self.div_factor = check_divisor(name, "div_factor", div_factor)
        self.final_div_factor = check_divisor(name, "final_div_factor", final_div_factor)
        self.anneal = check_choice(name, "anneal", anneal, ANNEAL_STRATEGIES)
        self.cycle_momentum = check_bool(name, "cycle_momentum", cycle_momentum)
        self.base_momentum = check_range(name, "base_momentum", base_momentum, 0.0, 1.0)
        self.max_momentum = check_range(name, "max_momentum", max_momentum, 0.0, 1.0)
        if self.base_momentum > self.max_momentum:
            raise ValueError(
                f"{name}: base_momentum ({self.base_momentum:g}) exceeds max_momentum "
                f"({self.max_momentum:g}); valid: base_momentum <= max_momentum"
            )

    def _init_silo(self, given: dict[str, Any]) -> None:
        name = self.name
        value = {
            k: SILO_DEFAULTS[k] if given[k] is None else given[k] for k in SHAPE_PARAMS["silo"]
        }
        self.ramp_steps = check_positive_int(name, "ramp_steps", value["ramp_steps"])
        self.lr0 = check_range(name, "lr0", value["lr0"], 0.0, math.inf)
        if self.lr0 >= self.max_lr:
            raise ValueError(
                f"{name}: lr0 ({self.lr0:g}) is not below the peak max_lr ({self.max_lr:g}); "
                f"valid: 0 <= lr0 < {self.max_lr:g}"
            )
        if given["drop_epochs"] is not None:
            if given["drop_at"] is not None:
                raise ValueError(
                    f"{name}: give drop_at (fractions of the round) or drop_epochs, not both"
                )
            self.drop_at = None
            self.drop_epochs = _check_drop_epochs(name, value["drop_epochs"], self.epochs)
            self._drop_epochs = self.drop_epochs
        else:
            self.drop_epochs = None
            self.drop_at = _check_drop_fractions(name, value["drop_at"])
            self._drop_epochs = tuple(epoch_fraction(f, self.epochs) for f in self.drop_at)
        self.drop_factors = _check_drop_factors(
            name, value["drop_factors"], len(self._drop_epochs)
        )

    @property
    def reaches_peak(self) -> bool:
        # Neither shape promises a step at exactly max_lr: OneCycleLR peaks at step
        # pct_start·T − 1, between two steps unless that is an integer (its definition, kept bit
        # for bit), and SILO's ramp is cut by its first drop (at 563 steps/epoch at 0.70·max_lr).
        # Non-empty rise and fall phases are what the contract asks of them.
        return False

    @property
    def ceiling(self) -> float:
        """The highest LR the shape allows: max_lr, or lr0 + max_lr for SILO's ramp."""
        return self.max_lr + (self.lr0 if self.shape == "silo" else 0.0)

    def phases(self) -> list[Phase]:
        if self.shape == "silo":
            spe = self.steps_per_epoch
            edges = [0, *(e * spe for e in self._drop_epochs), self.total_steps]
            names = ["ramp"] + [f"stage after drop {i + 1}" for i in range(len(edges) - 2)]
            return [Phase(n, a, b) for n, a, b in zip(names, edges, edges[1:], strict=False)]
        warmup_end = self.pct_start * self.total_steps - 1  # OneCycleLR's last warm-up step
        warmup = math.floor(warmup_end) + 1 if warmup_end >= 0 else 0
        return [
            Phase("warm-up (pct_start of the steps)", 0, warmup),
            Phase("anneal", warmup, self.total_steps),
        ]

    def _get_lr(self, step: int) -> float:
        if self.shape == "silo":
            return silo_lr(
                step,
                steps_per_epoch=self.steps_per_epoch,
                max_lr=self.max_lr,
                ramp_steps=self.ramp_steps,
                lr0=self.lr0,
                drop_epochs=self._drop_epochs,
                drop_factors=self.drop_factors,
            )
        return self._cycle(step)[0]

    def _get_momentum(self, step: int) -> float | None:
        # SILO keeps SGD's momentum at 0.9 throughout: leave the optimizer's (the recipe's) alone.
        if self.shape == "silo" or not self.cycle_momentum:
            return None
        return self._cycle(step)[1]

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

    @property
    def silo_drop_epochs(self) -> tuple[int, ...]:
        """shape="silo": the epochs (0-based, within the round) at which the drops happen."""
        if self.shape != "silo":
            raise ValueError(f"{self.name}: silo_drop_epochs needs shape='silo'")
        return self._drop_epochs

    def params(self) -> dict[str, Any]:
        """The params of this schedule's shape (and its own), JSON-able."""
        return {k: v for k, v in super().params().items() if k not in self._inactive}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_drop_fractions(name: str, value: object) -> tuple[float, ...]:
    valid = isinstance(value, list | tuple) and all(_is_number(f) and 0 < f < 1 for f in value)
    if valid and any(a >= b for a, b in itertools.pairwise(value)):  # type: ignore[arg-type]
        valid = False
    if not valid:
        raise ValueError(
            f"{name}: drop_at must be strictly increasing fractions of the round in (0, 1), "
            f"got {value!r}"
        )
    return tuple(float(f) for f in value)  # type: ignore[union-attr]


def _check_drop_epochs(name: str, value: object, epochs: int) -> tuple[int, ...]:
    valid = isinstance(value, list | tuple) and all(
        isinstance(e, int) and not isinstance(e, bool) and 0 < e < epochs for e in value
    )
    if valid and any(a >= b for a, b in itertools.pairwise(value)):  # type: ignore[arg-type]
        valid = False
    if not valid:
        raise ValueError(
            f"{name}: drop_epochs must be strictly increasing epochs in [1, {epochs - 1}] "
            f"(within the round of {epochs}), got {value!r}"
        )
    return tuple(int(e) for e in value)  # type: ignore[union-attr]


def _check_drop_factors(name: str, value: object, drops: int) -> tuple[float, ...]:
    valid = isinstance(value, list | tuple) and all(_is_number(f) and 0 < f <= 1 for f in value)
    if valid and any(a < b for a, b in itertools.pairwise(value)):  # type: ignore[arg-type]
        valid = False  # a later drop that raises the LR again is no drop
    if valid and value and value[-1] == 1:  # type: ignore[index]
        valid = False  # 1.0 holds the LR (SILO's VGG holds, then decays); the last must decay
    if not valid or len(value) != drops:  # type: ignore[arg-type]
        raise ValueError(
            f"{name}: drop_factors must be {drops} non-increasing number(s) in (0, 1], one per "
            f"drop, the last < 1, got {value!r}"
        )
    return tuple(float(f) for f in value)  # type: ignore[union-attr]

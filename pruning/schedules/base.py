"""The Schedule contract: learning rate (and optionally momentum) as a pure function of the step.

A schedule is built for a fixed run length (`epochs` × `steps_per_epoch` optimizer steps) and
answers `lr(step)` for any step in [0, total_steps) in any order, with no hidden counter: the
training loop asks for the value before every optimizer step, so a run resumed at any epoch sees
exactly the values an uninterrupted run saw (the timm way, `t` passed explicitly).

Subclasses implement one hook, `_get_lr(step)`; those that cycle momentum (1-cycle) also override
`_get_momentum(step)`. Schedules defined per epoch in the papers (FT, LRW, SLR, the step schedule)
derive from `EpochwiseSchedule` and implement `_epoch_lr(epoch)` instead; their LR is constant
within an epoch, as with PyTorch's MultiStepLR stepped once per epoch.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

_STRUCTURAL = ("self", "epochs", "steps_per_epoch")
# Relative slack when comparing a computed LR with the declared peak (float round-off only).
_PEAK_RTOL = 1e-9


@dataclass(frozen=True)
class Phase:
    """A stretch of a schedule with one shape (warm-up, a constant stage, an anneal), in optimizer
    steps [start, stop). The contract requires every phase to hold at least one step: a phase
    that rounds away at the run's length would silently turn the schedule into another one."""

    name: str
    start: int
    stop: int


class Schedule(ABC):
    """A per-iteration learning-rate schedule for a run of `epochs` × `steps_per_epoch` steps.

    Contract: `lr(step)` is finite and positive for every step in [0, total_steps), depends only
    on the step and the constructor arguments, and `lr_at_epoch(e) == lr(e · steps_per_epoch)`.
    `momentum(step)` is None unless the schedule cycles momentum. Constructor keyword arguments
    other than `epochs`/`steps_per_epoch` are the schedule's *params*: they are stored under
    their own names, reported by `params()` and accepted back by `build_schedule`.

    `peak_param` names the param that sets the peak LR; `build_schedule(..., max_lr=v)` maps
    `max_lr` onto it, so a search can tune "max LR" under one name for every schedule.

    The contract is checked when a schedule is built (`check_contract`, run after the most
    derived constructor): every phase (`phases()`) holds at least one step, every LR is finite
    and > 0, no LR exceeds `max_lr`, and schedules that declare `reaches_peak` run at `max_lr`
    at some step. A parameter set that breaks it raises a one-line ValueError, so a schedule
    never silently becomes another (a warm-up that rounds to nothing, a peak never reached).

    Capabilities are class attributes that the rest of prunetune asks instead of comparing names.
    """

    name: ClassVar[str] = ""
    peak_param: ClassVar[str | None] = "max_lr"
    # Whether a study's max-LR search applies by default. FT and LRW take their LRs from the
    # original training recipe by definition (docs/science.md §2); tuning them would turn FT into
    # `constant`, so they opt out (a peak can still be set explicitly in schedule params).
    searched_peak: ClassVar[bool] = True
    # The peak follows the pruning progress of the round (S-Cyc): it needs iterative pruning
    # and the sparsity each round reached; undefined for one-shot pruning.
    per_round_peak: ClassVar[bool] = False
    # The params are the dense (pretraining) run's own schedule, replayed (LR rewinding).
    replays_pretraining: ClassVar[bool] = False
    # A base LR dropped ×gamma at milestone epochs: what a dense recipe states as lr and
    # milestone fractions, and the only shape LR rewinding knows how to replay.
    milestone_drops: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def checked_init(self: Schedule, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            if type(self) is cls:  # only once, after the most derived constructor
                self.check_contract()

        cls.__init__ = checked_init  # type: ignore[method-assign]

    def __init__(self, *, epochs: int, steps_per_epoch: int) -> None:
        self.epochs = check_positive_int(self.name, "epochs", epochs)
        self.steps_per_epoch = check_positive_int(self.name, "steps_per_epoch", steps_per_epoch)
        self.total_steps = self.epochs * self.steps_per_epoch

    @abstractmethod
    def _get_lr(self, step: int) -> float:
        """The learning rate for optimizer step `step` (already range-checked)."""

    def _get_momentum(self, step: int) -> float | None:
        return None

    @property
    @abstractmethod
    def max_lr(self) -> float:
        """The peak learning rate of the schedule."""

    @property
    def ceiling(self) -> float:
        """The highest LR the schedule may run at: its peak (SILO's ramp adds lr0)."""
        return self.max_lr

    @property
    def reaches_peak(self) -> bool:
        """Whether some step runs at exactly `max_lr` (SILO's ramp may be cut by its first drop)."""
        return True

    def phases(self) -> list[Phase]:
        """The schedule's phases in steps; the default is one phase over the whole run."""
        return [Phase("run", 0, self.total_steps)]

    def probe_steps(self) -> list[int]:
        """Steps where the LR attains its extremes: every phase is monotone, so its ends."""
        ends = {0, self.total_steps - 1}
        for phase in self.phases():
            ends |= {phase.start, phase.stop - 1}
        return sorted(s for s in ends if 0 <= s < self.total_steps)

    def check_contract(self) -> None:
        """Raise a one-line ValueError unless the schedule keeps the contract (class docstring)."""
        run = f"epochs={self.epochs} × steps_per_epoch={self.steps_per_epoch}"
        for phase in self.phases():
            if phase.stop <= phase.start:
                raise ValueError(
                    f"{self.name}: its {phase.name} is empty at {run}; valid: params or a run "
                    "length that leave every phase at least one step"
                )
        peak = self.max_lr
        if not (_is_real(peak) and peak > 0):
            raise ValueError(f"{self.name}: its peak LR is {peak!r}; valid: a finite LR > 0")
        values = {step: self._get_lr(step) for step in self.probe_steps()}
        for step, value in values.items():
            if not (_is_real(value) and value > 0):
                raise ValueError(
                    f"{self.name}: the LR at step {step} is {value!r} at {run}; valid: params "
                    "that keep every LR finite and > 0"
                )
        top = max(values.values())
        if top > self.ceiling * (1 + _PEAK_RTOL):
            raise ValueError(
                f"{self.name}: an LR of {top:g} exceeds its peak {peak:g} at {run}; valid: "
                "params under which the peak is the highest LR"
            )
        if self.reaches_peak and top < peak * (1 - _PEAK_RTOL):
            raise ValueError(
                f"{self.name}: never reaches its peak {peak:g} (highest LR {top:g}) at {run}; "
                "valid: params or a run length under which the peak phase holds a step"
            )

    @classmethod
    def round_params(
        cls,
        params: dict[str, Any],
        round_index: int,
        removed: Sequence[float] | None,
        ratio: float | None,
    ) -> dict[str, Any]:
        """Params a round of iterative pruning sets (per_round_peak schedules): round k's index
        and the pruning progress, `removed[i]` = fraction of the dense weights removed after
        round i + 1 (None where unknown: then the nominal per-round `ratio`). {} by default."""
        return {}

    def lr(self, step: int) -> float:
        """The learning rate to set before optimizer step `step` (0-based, global over epochs)."""
        return self._get_lr(self._check_step(step))

    def momentum(self, step: int) -> float | None:
        """The momentum to set before step `step`, or None to leave the optimizer's alone."""
        return self._get_momentum(self._check_step(step))

    def lr_at_epoch(self, epoch: int) -> float:
        """The learning rate at the first step of epoch `epoch` (0-based)."""
        if not _is_int(epoch) or not 0 <= epoch < self.epochs:
            raise ValueError(f"{self.name}: epoch must be in [0, {self.epochs}), got {epoch!r}")
        return self.lr(epoch * self.steps_per_epoch)

    def lrs(self) -> list[float]:
        """Every step's learning rate, for plots and tests."""
        return [self._get_lr(t) for t in range(self.total_steps)]

    @classmethod
    def param_names(cls) -> list[str]:
        """The names of this schedule's params, in constructor order."""
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p not in _STRUCTURAL]

    def params(self) -> dict[str, Any]:
        """The schedule's params as plain JSON-able values (tuples become lists)."""
        return {p: _plain(getattr(self, p)) for p in self.param_names()}

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the schedule: name, run length and params."""
        return {
            "name": self.name,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "params": self.params(),
        }

    def _check_step(self, step: int) -> int:
        if not _is_int(step) or not 0 <= step < self.total_steps:
            raise ValueError(f"{self.name}: step must be in [0, {self.total_steps}), got {step!r}")
        return int(step)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}(epochs={self.epochs}, spe={self.steps_per_epoch}, {args})"


class EpochwiseSchedule(Schedule):
    """A schedule the papers define per epoch: the LR is constant within each epoch."""

    @abstractmethod
    def _epoch_lr(self, epoch: int) -> float:
        """The learning rate for the whole of epoch `epoch` (0-based)."""

    def _get_lr(self, step: int) -> float:
        return self._epoch_lr(step // self.steps_per_epoch)

    @property
    def max_lr(self) -> float:
        return max(self._epoch_lr(e) for e in range(self.epochs))

    def epoch_phases(self, bounds: Sequence[tuple[str, int, int]]) -> list[Phase]:
        """Phases given in epochs [start, stop) as steps."""
        spe = self.steps_per_epoch
        return [Phase(name, a * spe, b * spe) for name, a, b in bounds]


# ---------------------------------------------------------------------------------------------
# Validation helpers: one-line ValueErrors naming the schedule, the field and what is valid.


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_positive_int(schedule: str, field: str, value: object) -> int:
    if not _is_int(value) or value <= 0:  # type: ignore[operator]
        raise ValueError(f"{schedule}: {field} must be a positive integer, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def check_int(schedule: str, field: str, value: object, *, minimum: int) -> int:
    if not _is_int(value) or value < minimum:  # type: ignore[operator]
        raise ValueError(f"{schedule}: {field} must be an integer >= {minimum}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def check_positive(schedule: str, field: str, value: object) -> float:
    if not _is_real(value) or value <= 0:  # type: ignore[operator]
        raise ValueError(f"{schedule}: {field} must be a finite number > 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_range(
    schedule: str, field: str, value: object, low: float, high: float, *, high_open: bool = False
) -> float:
    """`value` in [low, high] (or [low, high) when high_open)."""
    inside = _is_real(value) and low <= value and (value < high if high_open else value <= high)  # type: ignore[operator]
    if not inside:
        bracket = ")" if high_open else "]"
        raise ValueError(f"{schedule}: {field} must be in [{low}, {high}{bracket}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_decay(schedule: str, field: str, value: object) -> float:
    """A multiplicative decay: in (0, 1). 1 would not decay, > 1 would raise the LR."""
    if not _is_real(value) or not 0 < value < 1:  # type: ignore[operator]
        raise ValueError(f"{schedule}: {field} must be in (0, 1) (a decay), got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_divisor(schedule: str, field: str, value: object) -> float:
    """A divisor of the peak (start or end LR = peak / value): >= 1, or the start is the top."""
    if not _is_real(value) or value < 1:  # type: ignore[operator]
        raise ValueError(
            f"{schedule}: {field} must be a finite number >= 1 (it divides the peak), "
            f"got {value!r}"
        )
    return float(value)  # type: ignore[arg-type]


def check_choice(schedule: str, field: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{schedule}: {field} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def check_bool(schedule: str, field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{schedule}: {field} must be true or false, got {value!r}")
    return value


def check_milestones(schedule: str, field: str, value: object) -> tuple[int, ...]:
    """Non-decreasing non-negative epochs; a repeated one drops twice, as in MultiStepLR."""
    valid = isinstance(value, list | tuple) and all(_is_int(m) and m >= 0 for m in value)
    if valid and any(a > b for a, b in itertools.pairwise(value)):  # type: ignore[index]
        valid = False
    if not valid:
        raise ValueError(
            f"{schedule}: {field} must be non-decreasing non-negative epochs, got {value!r}"
        )
    return tuple(int(m) for m in value)  # type: ignore[union-attr]


def epoch_fraction(fraction: float, epochs: int) -> int:
    """int(fraction · epochs) as the papers write it, immune to float artefacts (0.29·100)."""
    return int(fraction * epochs + 1e-9)


def decayed(lr: float, gamma: float, drops: int) -> float:
    """lr · gamma^drops without binary noise: 0.1 · 0.1² is 0.001, not 0.0010000000000000002.

    Rounding to 12 significant digits changes the value by < 1e-12 relative; it makes LRW with
    E <= 40 bit-identical to FT (0.001) and keeps logged LRs readable.
    """
    return float(f"{lr * gamma**drops:.12g}")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value

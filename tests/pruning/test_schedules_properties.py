"""Property-based contract test over each registered schedule's whole parameter space.

Hypothesis draws a run length and any subset of the schedule's params, with values well outside
their valid ranges (NaN, infinities, negatives, zero, huge numbers, wrong types, lists that are
too short, not increasing or collapse in short runs). Every draw must end one of two ways: a
one-line ValueError that names the schedule, or a schedule that keeps the contract, checked
here step by step (not through the schedule's own check): every phase holds a step, every LR is
finite and > 0, none exceeds the ceiling, the peak is reached where the shape promises it,
something decays when there are several phases, and the params round-trip.
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pruning.schedules import SCHEDULES, Schedule, build_schedule

NAMES = SCHEDULES.names()
MAX_CHECKED_STEPS = 4000  # every step of a run up to this size is evaluated

ANY_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-2.0, max_value=2.0),
    st.floats(min_value=1e-6, max_value=1.0),
    st.integers(min_value=-3, max_value=300),
    st.sampled_from([0, 0.0, 1, 1.0, 1e-320, 1e308, 5.0, 100.0, 1e6, True]),
)
SMALL_INT = st.one_of(
    st.integers(min_value=-3, max_value=200), st.sampled_from([0, 1, 2, 1.5, "3", None])
)
NUMBER_LIST = st.lists(ANY_NUMBER, max_size=4)
INT_LIST = st.lists(st.integers(min_value=-2, max_value=120), max_size=4)
FRACTION_LIST = st.lists(st.floats(min_value=-0.2, max_value=1.2), max_size=4)
CHOICE = st.sampled_from(["one-cycle", "silo", "cos", "linear", "warp", "", 3, None])


def _strategy(annotation: str, param: str) -> st.SearchStrategy[Any]:
    """Values for one constructor param, from its annotation string (valid and invalid)."""
    if "Sequence[int]" in annotation or param in ("milestones", "drop_epochs"):
        return st.one_of(INT_LIST, NUMBER_LIST)
    if "Sequence[float]" in annotation:
        return st.one_of(FRACTION_LIST, NUMBER_LIST)
    if annotation.startswith("str"):
        return CHOICE
    if annotation.startswith("bool"):
        return st.one_of(st.booleans(), st.sampled_from([0, 1, "yes"]))
    if annotation.startswith("int"):
        return st.one_of(SMALL_INT, ANY_NUMBER)
    return ANY_NUMBER


def _param_space(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the schedule's params (and `max_lr`, which a search passes to every
    schedule), each with a value from its strategy."""
    cls = SCHEDULES.get(name)
    signature = inspect.signature(cls.__init__)
    space = {p: _strategy(str(signature.parameters[p].annotation), p) for p in cls.param_names()}
    space.setdefault("max_lr", ANY_NUMBER)
    return st.fixed_dictionaries({}, optional=space)


def _draws(name: str) -> st.SearchStrategy[tuple[int, int, dict[str, Any]]]:
    epochs = st.one_of(
        st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=200)
    )
    spe = st.one_of(st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=60))
    return st.tuples(epochs, spe, _param_space(name))


def assert_keeps_the_contract(schedule: Schedule) -> None:
    """The contract, checked from the outside on every step of the run."""
    total = schedule.total_steps
    phases = schedule.phases()
    assert phases and phases[0].start == 0 and phases[-1].stop == total
    for phase in phases:
        assert 0 <= phase.start < phase.stop <= total, phase
    steps = range(total) if total <= MAX_CHECKED_STEPS else schedule.probe_steps()
    lrs = [schedule.lr(t) for t in steps]
    assert all(math.isfinite(lr) and lr > 0 for lr in lrs)
    top = max(lrs)
    assert top <= schedule.ceiling * (1 + 1e-9)
    if schedule.reaches_peak:
        assert top == pytest.approx(schedule.max_lr, rel=1e-9)
    if len(phases) > 1:  # a warm-up, drops or an anneal: the run ends below its top
        assert schedule.lr(total - 1) < top
    moms = [schedule.momentum(t) for t in steps]
    assert all(m is None for m in moms) or all(0 <= m <= 1 for m in moms)  # type: ignore[operator]


def assert_refusal_is_one_line(name: str, err: ValueError) -> None:
    message = str(err)
    assert "\n" not in message, message
    assert message.startswith((f"{name}:", f"schedule {name!r}:")), message


@pytest.mark.parametrize("name", NAMES)
@settings(
    max_examples=int(os.environ.get("PRUNETUNE_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    # The same draws on every run, so CI is repeatable; PRUNETUNE_HYPOTHESIS_RANDOM=1 explores.
    derandomize=not os.environ.get("PRUNETUNE_HYPOTHESIS_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_every_draw_is_refused_in_one_line_or_keeps_the_contract(
    name: str, data: st.DataObject
) -> None:
    """A draw is either a one-line ValueError naming the schedule or a schedule keeping the
    contract; no other exception (TypeError, ZeroDivisionError, OverflowError) on any draw."""
    epochs, spe, params = data.draw(_draws(name))
    try:
        schedule = build_schedule(name, epochs=epochs, steps_per_epoch=spe, **params)
    except ValueError as err:
        assert_refusal_is_one_line(name, err)
        event("refused")
        return
    event("built")
    assert_keeps_the_contract(schedule)
    rebuilt = build_schedule(name, epochs=epochs, steps_per_epoch=spe, **schedule.params())
    assert rebuilt == schedule


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(
    epochs=st.integers(min_value=10, max_value=160), spe=st.integers(min_value=10, max_value=50)
)
def test_defaults_build_at_paper_sized_runs(name: str, epochs: int, spe: int) -> None:
    """With its defaults every schedule builds (and keeps the contract) from 10 epochs × 10
    steps up: the refusals above are about degenerate params and runs, not normal studies."""
    assert_keeps_the_contract(build_schedule(name, epochs=epochs, steps_per_epoch=spe))

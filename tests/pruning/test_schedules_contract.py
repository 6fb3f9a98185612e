"""Contract suite: every registered learning-rate schedule (and every in-round shape of the
cyclic ones) obeys the Schedule contract."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from pruning.registry import UnknownNameError
from pruning.schedules import SCHEDULES, Schedule, build_schedule, schedule_from_dict

NAMES = SCHEDULES.names()
# Odd shapes on purpose: one step in all, one epoch, a prime number of steps per epoch. At the
# tiny ones some schedules are refused (a warm-up or stage that rounds to nothing); at the
# paper-sized ones every schedule builds.
TINY_RUNS = [(1, 1), (1, 7), (3, 7)]
RUNS = [*TINY_RUNS, (40, 5), (160, 2)]
PAPER_RUNS = [(40, 5), (160, 2)]
# Every schedule with its defaults, plus SILO's in-round shape for the cyclic ones: clr's with a
# ramp short enough to reach max_lr in these short runs, scyc's with SILO's own defaults.
VARIANTS: list[tuple[str, dict[str, Any]]] = [(n, {}) for n in NAMES] + [
    ("clr", {"shape": "silo", "ramp_steps": 2}),
    ("scyc", {"shape": "silo"}),
]


def _id(variant: tuple[str, dict[str, Any]]) -> str:
    name, params = variant
    return f"{name}-{params['shape']}" if "shape" in params else name


@pytest.fixture(params=VARIANTS, ids=_id)
def variant(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param


@pytest.fixture
def name(variant: tuple[str, dict[str, Any]]) -> str:
    return variant[0]


@pytest.fixture
def make(variant: tuple[str, dict[str, Any]]) -> Callable[..., Schedule]:
    """build_schedule for the variant: make(epochs=, steps_per_epoch=, **more params)."""
    name, params = variant
    return lambda **kwargs: build_schedule(name, **{**params, **kwargs})


def built_or_refused(make: Callable[..., Schedule], epochs: int, spe: int) -> Schedule | None:
    """The schedule, or None after checking that the refusal is a one-line ValueError naming
    the schedule (a tiny run may leave a phase empty); paper-sized runs must build."""
    try:
        return make(epochs=epochs, steps_per_epoch=spe)
    except ValueError as err:
        assert (epochs, spe) not in PAPER_RUNS, err
        assert "\n" not in str(err) and "valid" in str(err)
        return None


@pytest.mark.parametrize(("epochs", "steps_per_epoch"), RUNS)
def test_every_lr_is_finite_positive_and_at_most_the_peak(
    make: Callable[..., Schedule], epochs: int, steps_per_epoch: int
) -> None:
    """lr(t) is finite, > 0 and <= max_lr for every step, and the peak is reached unless the
    shape says otherwise; the length is epochs · steps. Or the run is refused in one line."""
    schedule = built_or_refused(make, epochs, steps_per_epoch)
    if schedule is None:
        return
    lrs = schedule.lrs()
    assert schedule.total_steps == len(lrs) == epochs * steps_per_epoch
    assert all(math.isfinite(lr) and lr > 0 for lr in lrs)
    assert math.isfinite(schedule.max_lr) and schedule.max_lr > 0
    assert max(lrs) <= schedule.ceiling * (1 + 1e-12)
    if schedule.reaches_peak:
        assert max(lrs) == pytest.approx(schedule.max_lr, rel=1e-9)
    for phase in schedule.phases():
        assert 0 <= phase.start < phase.stop <= schedule.total_steps, phase


@pytest.mark.parametrize(("epochs", "steps_per_epoch"), RUNS)
def test_momentum_is_none_or_a_valid_momentum(
    make: Callable[..., Schedule], epochs: int, steps_per_epoch: int
) -> None:
    """momentum(t) is None at every step or a number in [0, 1] at every step."""
    schedule = built_or_refused(make, epochs, steps_per_epoch)
    if schedule is None:
        return
    moms = [schedule.momentum(t) for t in range(schedule.total_steps)]
    assert all(m is None for m in moms) or all(m is not None and 0 <= m <= 1 for m in moms)


def test_lr_is_a_pure_function_of_the_step(make: Callable[..., Schedule]) -> None:
    """Asking for steps forwards, backwards and shuffled gives the same answers."""
    schedule = make(epochs=12, steps_per_epoch=5)
    forward = {t: schedule.lr(t) for t in range(schedule.total_steps)}
    steps = list(range(schedule.total_steps))
    random.Random(0).shuffle(steps)
    assert {t: schedule.lr(t) for t in reversed(steps)} == forward
    assert {t: schedule.lr(t) for t in steps} == forward
    assert schedule.lrs() == [forward[t] for t in range(schedule.total_steps)]


def test_lr_at_epoch_is_lr_at_the_epochs_first_step(make: Callable[..., Schedule]) -> None:
    """lr_at_epoch(e) == lr(e · steps_per_epoch) for every epoch."""
    schedule = make(epochs=11, steps_per_epoch=4)
    for epoch in range(11):
        assert schedule.lr_at_epoch(epoch) == schedule.lr(epoch * 4)


def test_params_round_trip_through_build_schedule(
    name: str, make: Callable[..., Schedule]
) -> None:
    """build_schedule(name, **params()) rebuilds an equal schedule; params are JSON-able."""
    schedule = make(epochs=20, steps_per_epoch=3)
    params = json.loads(json.dumps(schedule.params()))
    rebuilt = build_schedule(name, epochs=20, steps_per_epoch=3, **params)
    assert rebuilt == schedule
    assert rebuilt.lrs() == schedule.lrs()
    assert schedule_from_dict(json.loads(json.dumps(schedule.to_dict()))).lrs() == schedule.lrs()


def test_max_lr_sets_the_peak_when_the_schedule_has_a_free_peak(
    name: str, make: Callable[..., Schedule]
) -> None:
    """max_lr=v gives a schedule whose peak is v (and round-trips); scyc refuses max_lr."""
    cls = SCHEDULES.get(name)
    if cls.peak_param is None:
        with pytest.raises(ValueError, match="max_lr"):
            make(epochs=20, steps_per_epoch=3, max_lr=0.05)
        return
    schedule = make(epochs=20, steps_per_epoch=3, max_lr=0.05)
    assert schedule.max_lr == pytest.approx(0.05)
    assert max(schedule.lrs()) == pytest.approx(0.05)
    rebuilt = build_schedule(name, epochs=20, steps_per_epoch=3, **schedule.params())
    assert rebuilt.lrs() == schedule.lrs()


def test_unknown_param_is_a_value_error_naming_it_and_the_valid_ones(
    name: str, make: Callable[..., Schedule]
) -> None:
    """An unknown param raises ValueError naming it and listing every valid param."""
    with pytest.raises(ValueError, match="no_such_param") as info:
        make(epochs=10, steps_per_epoch=2, no_such_param=1)
    message = str(info.value)
    assert "\n" not in message
    assert all(p in message for p in SCHEDULES.get(name).param_names())


@pytest.mark.parametrize("field", ["epochs", "steps_per_epoch"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_non_positive_run_length_is_a_value_error(
    make: Callable[..., Schedule], field: str, bad: object
) -> None:
    """epochs or steps_per_epoch <= 0 (or not an integer) raises ValueError naming the field."""
    kwargs: dict[str, object] = {"epochs": 10, "steps_per_epoch": 2, field: bad}
    with pytest.raises(ValueError, match=field):
        make(**kwargs)


def test_steps_outside_the_run_are_value_errors(make: Callable[..., Schedule]) -> None:
    """lr(-1), lr(total_steps) and lr_at_epoch(epochs) raise ValueError."""
    schedule = make(epochs=10, steps_per_epoch=2)
    for bad in (-1, schedule.total_steps):
        with pytest.raises(ValueError, match="step"):
            schedule.lr(bad)
    with pytest.raises(ValueError, match="epoch"):
        schedule.lr_at_epoch(10)


def test_registry_lists_the_papers_schedules() -> None:
    """Every schedule of docs/science.md §1–2 is registered and is a Schedule."""
    assert set(NAMES) >= {"step", "ft", "lrw", "slr", "clr", "scyc", "cosine", "constant"}
    assert all(issubclass(SCHEDULES.get(n), Schedule) for n in NAMES)
    assert all(SCHEDULES.get(n).name == n for n in NAMES)


def test_unknown_schedule_name_lists_the_choices() -> None:
    """An unknown schedule name raises UnknownNameError listing the registered names."""
    with pytest.raises(UnknownNameError, match="clr"):
        build_schedule("warp", epochs=1, steps_per_epoch=1)

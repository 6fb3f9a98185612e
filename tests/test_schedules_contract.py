"""Contract suite: every registered learning-rate schedule obeys the Schedule contract."""

from __future__ import annotations

import json
import math
import random

import pytest

from pruning.registry import UnknownNameError
from pruning.schedules import SCHEDULES, Schedule, build_schedule, schedule_from_dict

NAMES = SCHEDULES.names()
# Odd shapes on purpose: one step in all, one epoch, a prime number of steps per epoch.
RUNS = [(1, 1), (1, 7), (3, 7), (40, 5), (160, 2)]


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize(("epochs", "steps_per_epoch"), RUNS)
def test_every_lr_is_finite_positive_and_at_most_the_peak(
    name: str, epochs: int, steps_per_epoch: int
) -> None:
    """lr(t) is finite, > 0 and <= max_lr for every step; the length is epochs · steps."""
    schedule = build_schedule(name, epochs=epochs, steps_per_epoch=steps_per_epoch)
    lrs = schedule.lrs()
    assert schedule.total_steps == len(lrs) == epochs * steps_per_epoch
    assert all(math.isfinite(lr) and lr > 0 for lr in lrs)
    assert math.isfinite(schedule.max_lr) and schedule.max_lr > 0
    assert max(lrs) <= schedule.max_lr * (1 + 1e-12)


@pytest.mark.parametrize(("epochs", "steps_per_epoch"), RUNS)
def test_momentum_is_none_or_a_valid_momentum(
    name: str, epochs: int, steps_per_epoch: int
) -> None:
    """momentum(t) is None at every step or a number in [0, 1] at every step."""
    schedule = build_schedule(name, epochs=epochs, steps_per_epoch=steps_per_epoch)
    moms = [schedule.momentum(t) for t in range(schedule.total_steps)]
    assert all(m is None for m in moms) or all(m is not None and 0 <= m <= 1 for m in moms)


def test_lr_is_a_pure_function_of_the_step(name: str) -> None:
    """Asking for steps forwards, backwards and shuffled gives the same answers."""
    schedule = build_schedule(name, epochs=12, steps_per_epoch=5)
    forward = {t: schedule.lr(t) for t in range(schedule.total_steps)}
    steps = list(range(schedule.total_steps))
    random.Random(0).shuffle(steps)
    assert {t: schedule.lr(t) for t in reversed(steps)} == forward
    assert {t: schedule.lr(t) for t in steps} == forward
    assert schedule.lrs() == [forward[t] for t in range(schedule.total_steps)]


def test_lr_at_epoch_is_lr_at_the_epochs_first_step(name: str) -> None:
    """lr_at_epoch(e) == lr(e · steps_per_epoch) for every epoch."""
    schedule = build_schedule(name, epochs=9, steps_per_epoch=4)
    for epoch in range(9):
        assert schedule.lr_at_epoch(epoch) == schedule.lr(epoch * 4)


def test_params_round_trip_through_build_schedule(name: str) -> None:
    """build_schedule(name, **params()) rebuilds an equal schedule; params are JSON-able."""
    schedule = build_schedule(name, epochs=20, steps_per_epoch=3)
    params = json.loads(json.dumps(schedule.params()))
    rebuilt = build_schedule(name, epochs=20, steps_per_epoch=3, **params)
    assert rebuilt == schedule
    assert rebuilt.lrs() == schedule.lrs()
    assert schedule_from_dict(json.loads(json.dumps(schedule.to_dict()))).lrs() == schedule.lrs()


def test_max_lr_sets_the_peak_when_the_schedule_has_a_free_peak(name: str) -> None:
    """max_lr=v gives a schedule whose peak is v (and round-trips); scyc refuses max_lr."""
    cls = SCHEDULES.get(name)
    if cls.peak_param is None:
        with pytest.raises(ValueError, match="max_lr"):
            build_schedule(name, epochs=20, steps_per_epoch=3, max_lr=0.05)
        return
    schedule = build_schedule(name, epochs=20, steps_per_epoch=3, max_lr=0.05)
    assert schedule.max_lr == pytest.approx(0.05)
    assert max(schedule.lrs()) == pytest.approx(0.05)
    rebuilt = build_schedule(name, epochs=20, steps_per_epoch=3, **schedule.params())
    assert rebuilt.lrs() == schedule.lrs()


def test_unknown_param_is_a_value_error_naming_it_and_the_valid_ones(name: str) -> None:
    """An unknown param raises ValueError naming it and listing every valid param."""
    with pytest.raises(ValueError, match="no_such_param") as info:
        build_schedule(name, epochs=10, steps_per_epoch=2, no_such_param=1)
    message = str(info.value)
    assert "\n" not in message
    assert all(p in message for p in SCHEDULES.get(name).param_names())


@pytest.mark.parametrize("field", ["epochs", "steps_per_epoch"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_non_positive_run_length_is_a_value_error(name: str, field: str, bad: object) -> None:
    """epochs or steps_per_epoch <= 0 (or not an integer) raises ValueError naming the field."""
    kwargs: dict[str, object] = {"epochs": 10, "steps_per_epoch": 2, field: bad}
    with pytest.raises(ValueError, match=field):
        build_schedule(name, **kwargs)  # type: ignore[arg-type]


def test_steps_outside_the_run_are_value_errors(name: str) -> None:
    """lr(-1), lr(total_steps) and lr_at_epoch(epochs) raise ValueError."""
    schedule = build_schedule(name, epochs=3, steps_per_epoch=2)
    for bad in (-1, schedule.total_steps):
        with pytest.raises(ValueError, match="step"):
            schedule.lr(bad)
    with pytest.raises(ValueError, match="epoch"):
        schedule.lr_at_epoch(3)


def test_registry_lists_the_papers_schedules() -> None:
    """Every schedule of SCIENCE.md §1–2 is registered and is a Schedule."""
    assert set(NAMES) >= {"step", "ft", "lrw", "slr", "clr", "scyc", "cosine", "constant"}
    assert all(issubclass(SCHEDULES.get(n), Schedule) for n in NAMES)
    assert all(SCHEDULES.get(n).name == n for n in NAMES)


def test_unknown_schedule_name_lists_the_choices() -> None:
    """An unknown schedule name raises UnknownNameError listing the registered names."""
    with pytest.raises(UnknownNameError, match="clr"):
        build_schedule("warp", epochs=1, steps_per_epoch=1)

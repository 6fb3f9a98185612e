"""SILO's in-round LR shape (shape="silo") against a plain re-implementation of SILO's code."""

from __future__ import annotations

import json

import pytest

from pruning.schedules import SCHEDULES, build_schedule, schedule_from_dict, scyc_max_lr
from pruning.schedules.s_cyclic import SCyclic

SPE, EPOCHS = 563, 50  # SILO's CIFAR-10 split: 30,000 training images, batch 64


def silo_resnet20_round(round_index: int, *, spe: int = SPE, lr0: float = 0.0) -> list[float]:
    """The LR SILO's resnet_20_cifar_10.py sets before every step of round `round_index`,
    transcribed from its main loop and train() (globals max_lr/slope/iteration_num)."""
    max_lr, stepsize, delay, prune_percent = 0.03, 20000, 1, 20
    if round_index > delay:
        x = 1 - (1 - prune_percent / 100) ** (round_index - delay)
        max_lr = 0.04 * 1 / (1 + (x / (1 - x)) ** (-5)) + 0.03
    slope = max_lr / stepsize
    iteration_num, curr_lr, lrs = 0, lr0, []
    for iter_ in range(EPOCHS):
        if iter_ == 0:
            curr_lr = lr0
        for _ in range(spe):
            iteration_num = iteration_num + 1
            if iteration_num <= 20000:
                curr_lr = curr_lr + slope
            if iter_ >= 25:
                curr_lr = max_lr / 10
            if iter_ >= 32:
                curr_lr = max_lr / 100
            lrs.append(curr_lr)
    return lrs


def silo_vgg19_round(max_lr: float, spe: int = SPE) -> list[float]:
    """vgg_19_cifar_10.py's train(): stepsize 10000, no lr0, max_lr from epoch 14, 160 epochs."""
    slope, iteration_num, lrs = max_lr / 10000, 0, []
    for iter_ in range(160):
        for _ in range(spe):
            iteration_num = iteration_num + 1
            curr_lr = iteration_num * slope
            if iter_ >= 14:
                curr_lr = max_lr
            if iter_ >= 80:
                curr_lr = max_lr / 10
            if iter_ >= 120:
                curr_lr = max_lr / 100
            lrs.append(curr_lr)
    return lrs


def scyc_silo(round_index: int, **params: object) -> SCyclic:
    schedule = build_schedule(
        "scyc", epochs=EPOCHS, steps_per_epoch=SPE, round_index=round_index, shape="silo", **params
    )
    assert isinstance(schedule, SCyclic)
    return schedule


@pytest.mark.parametrize("round_index", [1, 2, 10])
def test_scyc_silo_equals_silos_code_at_every_step(round_index: int) -> None:
    """scyc(shape="silo") at ResNet-20 defaults sets SILO's LR at every step of the round."""
    expected = silo_resnet20_round(round_index)
    schedule = scyc_silo(round_index)
    assert schedule.lrs() == pytest.approx(expected, rel=1e-9, abs=0)
    assert all(schedule.momentum(t) is None for t in range(0, schedule.total_steps, 97))


@pytest.mark.parametrize("round_index", [1, 2, 10])
def test_scyc_silo_landmarks(round_index: int) -> None:
    """Step 0, the last ramp step before epoch 25, epochs 24/25/31/32/49, steps 19,998–20,001."""
    schedule, peak = scyc_silo(round_index), scyc_max_lr(round_index, 0.2)
    expected = silo_resnet20_round(round_index)
    assert schedule.max_lr == peak
    # 0.03 for round 1 (SILO: rounds 0 and 1 keep the initial max_lr), then the S-curve.
    assert peak == pytest.approx(0.03 + 0.04 * _s(1 - 0.8 ** (round_index - 1)), rel=1e-12)
    assert (peak == 0.03) == (round_index == 1)
    assert schedule.lr(0) == pytest.approx(peak / 20000) and schedule.lr(0) > 0
    # 25 · 563 = 14,075 < 20,000: the drop at epoch 25 comes before the ramp's end.
    last_ramp = 25 * SPE - 1
    assert schedule.lr(last_ramp) == pytest.approx(peak * 14075 / 20000) == expected[last_ramp]
    assert schedule.lr(last_ramp) == pytest.approx(0.70375 * peak)
    for epoch, value in [(24, None), (25, peak / 10), (31, peak / 10), (32, peak / 100)]:
        lr = schedule.lr_at_epoch(epoch)
        assert lr == pytest.approx(expected[epoch * SPE], rel=1e-12)
        if value is not None:
            assert lr == pytest.approx(value, rel=1e-12)
    assert schedule.lr(EPOCHS * SPE - 1) == pytest.approx(peak / 100, rel=1e-12)
    for step in range(19_998, 20_002):  # epoch 35: long after the drops, the cap never shows
        assert step // SPE == 35
        assert schedule.lr(step) == pytest.approx(peak / 100)
        assert schedule.lr(step) == pytest.approx(expected[step], rel=1e-12)


def _s(x: float) -> float:
    return x**5 / (x**5 + (1 - x) ** 5)


def test_ramp_cap_and_lr0_when_the_ramp_ends_before_the_drop() -> None:
    """With 1,000 steps per epoch the ramp ends at step 20,000 and then holds lr0 + max_lr."""
    expected = silo_resnet20_round(3, spe=1000, lr0=0.002)
    schedule = build_schedule(
        "scyc", epochs=50, steps_per_epoch=1000, round_index=3, shape="silo", lr0=0.002
    )
    lrs = schedule.lrs()
    assert lrs == pytest.approx(expected, rel=1e-9, abs=0)
    peak = schedule.max_lr
    assert lrs[19_998] == pytest.approx(0.002 + peak * 19_999 / 20_000)
    assert lrs[19_999] == lrs[20_000] == lrs[24_999] == pytest.approx(0.002 + peak)
    assert lrs[25_000] == pytest.approx(peak / 10)


def test_vgg19_variant_is_expressible() -> None:
    """SILO's VGG-19 round is silo_lr with ramp 10000, drops at 14/80/120 with factors 1/.1/.01."""
    peak = scyc_max_lr(4, 0.2, offset=0.04, alpha=0.06)
    schedule = build_schedule(
        "scyc",
        epochs=160,
        steps_per_epoch=SPE,
        round_index=4,
        offset=0.04,
        alpha=0.06,
        shape="silo",
        ramp_steps=10_000,
        drop_epochs=[14, 80, 120],
        drop_factors=[1.0, 0.1, 0.01],
    )
    expected = silo_vgg19_round(peak)
    assert schedule.lrs() == pytest.approx(expected, rel=1e-12, abs=0)
    assert schedule.lrs()[: 14 * SPE] == expected[: 14 * SPE]  # n · slope exactly, as SILO's


def test_clr_silo_is_silos_dense_round_zero() -> None:
    """clr(shape="silo", max_lr=0.03) is SILO's round 0 (dense training), equal to round 1."""
    clr = build_schedule("clr", epochs=EPOCHS, steps_per_epoch=SPE, max_lr=0.03, shape="silo")
    assert clr.lrs() == scyc_silo(1).lrs()
    assert clr.momentum(0) is None


def test_drop_epochs_from_fractions_and_absolute() -> None:
    """drop_at [0.5, 0.64] of 50 epochs is epochs 25 and 32; drop_epochs [25, 32] is the same."""
    by_fraction = scyc_silo(3)
    by_epoch = scyc_silo(3, drop_epochs=[25, 32])
    assert by_fraction.silo_drop_epochs == by_epoch.silo_drop_epochs == (25, 32)
    assert by_fraction.lrs() == by_epoch.lrs()
    assert "drop_at" not in by_epoch.params() and by_epoch.params()["drop_epochs"] == [25, 32]
    rebuilt = schedule_from_dict(json.loads(json.dumps(by_epoch.to_dict())))
    assert rebuilt == by_epoch


def test_one_cycle_default_is_unchanged() -> None:
    """shape defaults to "one-cycle"; its params carry no silo param and round-trip."""
    schedule = build_schedule("clr", epochs=4, steps_per_epoch=5)
    assert schedule.params()["shape"] == "one-cycle"
    assert not {"ramp_steps", "lr0", "drop_at", "drop_epochs", "drop_factors"} & set(
        schedule.params()
    )
    assert schedule.momentum(0) == pytest.approx(0.95)


BAD_SHAPE_PARAMS = [
    ({"ramp_steps": 100}, "ramp_steps does not apply to shape='one-cycle'"),
    ({"shape": "silo", "pct_start": 0.2}, "pct_start does not apply to shape='silo'"),
    ({"shape": "silo", "cycle_momentum": False}, "cycle_momentum does not apply"),
    ({"shape": "triangle"}, "shape must be one of one-cycle, silo"),
    ({"shape": "silo", "ramp_steps": 0}, "ramp_steps must be a positive integer"),
    ({"shape": "silo", "ramp_steps": 2.5}, "ramp_steps must be a positive integer"),
    ({"shape": "silo", "lr0": -0.1}, "lr0 must be in"),
    ({"shape": "silo", "drop_at": [0.64, 0.5]}, "drop_at must be strictly increasing"),
    ({"shape": "silo", "drop_at": [0.5, 1.0]}, "drop_at must be strictly increasing"),
    ({"shape": "silo", "drop_epochs": [25, 50]}, r"drop_epochs must be .* \[1, 49\]"),
    ({"shape": "silo", "drop_epochs": [0, 32]}, "drop_epochs must be"),
    ({"shape": "silo", "drop_epochs": [25, 32], "drop_at": [0.5, 0.64]}, "not both"),
    ({"shape": "silo", "drop_factors": [0.1]}, "drop_factors must be 2 non-increasing number"),
    ({"shape": "silo", "drop_factors": [0.1, 0.0]}, r"drop_factors must be .* \(0, 1\]"),
    ({"shape": "silo", "drop_factors": [0.1, 1.5]}, "drop_factors must be"),
]


@pytest.mark.parametrize("name", ["clr", "scyc"])
@pytest.mark.parametrize(("params", "message"), BAD_SHAPE_PARAMS)
def test_degenerate_shape_params_raise_one_line_errors(
    name: str, params: dict[str, object], message: str
) -> None:
    """Wrong-shape or degenerate shape params fail via build_schedule and the constructor."""
    with pytest.raises(ValueError, match=message) as info:
        build_schedule(name, epochs=EPOCHS, steps_per_epoch=SPE, **params)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{name}: ")
    cls = SCHEDULES.get(name)
    with pytest.raises(ValueError, match=message):
        cls(epochs=EPOCHS, steps_per_epoch=SPE, **params)  # type: ignore[arg-type]


BAD_PEAK = [
    ({"offset": -1.0}, "offset must be a finite number > 0"),
    ({"offset": 0.0}, "offset must be a finite number > 0"),
    ({"alpha": -5.0}, "alpha must be in"),
    ({"beta": 0.0}, "beta must be a finite number > 0"),
    ({"lag": 1.5}, "lag must be an integer >= 0"),
    ({"lag": -1}, "lag must be an integer >= 0"),
    ({"round_ratio": 1.0}, r"round_ratio must be in \[0.0, 1.0\)"),
    ({"round_index": 0}, "round_index must be an integer >= 1"),
    ({"sparsity": 1.5}, "sparsity must be in"),
]


@pytest.mark.parametrize(("params", "message"), BAD_PEAK)
def test_scyc_peak_params_fail_alike_on_every_path(
    params: dict[str, object], message: str
) -> None:
    """scyc_max_lr (the CLI's round table), build_schedule and SCyclic raise the same line."""
    index, ratio = params.get("round_index", 2), params.get("round_ratio", 0.2)
    rest = {k: v for k, v in params.items() if k not in ("round_index", "round_ratio")}
    errors = []
    for call in (
        lambda: scyc_max_lr(index, ratio, **rest),  # type: ignore[arg-type]
        lambda: build_schedule("scyc", epochs=5, steps_per_epoch=2, **params),
        lambda: SCyclic(epochs=5, steps_per_epoch=2, **params),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match=message) as info:
            call()
        errors.append(str(info.value))
    assert len(set(errors)) == 1 and errors[0].startswith("scyc: ") and "\n" not in errors[0]


def test_scyc_max_lr_all_bad_at_once_names_the_first() -> None:
    """The brief's nonsense call (offset −1, alpha −5, beta 0, lag 1.5) is refused."""
    with pytest.raises(ValueError, match="offset"):
        scyc_max_lr(1, 0.2, offset=-1, alpha=-5, beta=0, lag=1.5)  # type: ignore[arg-type]

"""The schedules match their definitions in docs/science.md §1–2 (CIFAR values)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from pruning.schedules import build_schedule, one_cycle, pruned_fraction, s_curve, scyc_max_lr


def _epoch_lrs(name: str, epochs: int, **params: object) -> list[float]:
    schedule = build_schedule(name, epochs=epochs, steps_per_epoch=3, **params)
    return [schedule.lr_at_epoch(e) for e in range(epochs)]


def _runs(lrs: list[float]) -> list[tuple[float, int]]:
    """Run-length encoding: [(value, count), ...]."""
    runs: list[tuple[float, int]] = []
    for lr in lrs:
        if runs and runs[-1][0] == lr:
            runs[-1] = (lr, runs[-1][1] + 1)
        else:
            runs.append((lr, 1))
    return runs


@pytest.mark.parametrize("name", ["step", "ft", "lrw", "slr", "constant"])
def test_epochwise_schedules_hold_their_lr_within_an_epoch(name: str) -> None:
    """The papers' per-epoch schedules change LR only at epoch boundaries."""
    schedule = build_schedule(name, epochs=40, steps_per_epoch=7)
    for t in range(schedule.total_steps):
        assert schedule.lr(t) == schedule.lr_at_epoch(t // 7)


def test_step_is_the_original_cifar_schedule() -> None:
    """160 epochs: 0.1 for 80, 0.01 for 40, 0.001 for 40."""
    assert _runs(_epoch_lrs("step", 160)) == [(0.1, 80), (0.01, 40), (0.001, 40)]


def test_step_default_milestones_are_half_and_three_quarters_for_scratch_b() -> None:
    """Scratch-B's longer run drops at 50 % and 75 % of its own epochs."""
    assert _runs(_epoch_lrs("step", 300)) == [(0.1, 150), (0.01, 75), (0.001, 75)]
    assert _runs(_epoch_lrs("step", 90, milestones=[30, 60])) == [
        (0.1, 30),
        (0.01, 30),
        (0.001, 30),
    ]


def test_ft_is_the_last_lr_of_original_training() -> None:
    """FT is a constant 0.001."""
    assert set(_epoch_lrs("ft", 40)) == {0.001}


def test_lrw_replays_the_last_epochs_of_the_original_schedule() -> None:
    """E=72: 32 epochs at 0.01 then 40 at 0.001; E=160 is the whole original schedule."""
    assert _runs(_epoch_lrs("lrw", 72)) == [(0.01, 32), (0.001, 40)]
    assert _epoch_lrs("lrw", 160) == _epoch_lrs("step", 160)
    assert _runs(_epoch_lrs("lrw", 152)) == [(0.1, 72), (0.01, 40), (0.001, 40)]


@pytest.mark.parametrize("epochs", [1, 8, 40])
def test_lrw_with_at_most_40_epochs_is_fine_tuning(epochs: int) -> None:
    """E <= 40 replays only the final 0.001 phase: identical to FT."""
    assert _epoch_lrs("lrw", epochs) == _epoch_lrs("ft", epochs)


def test_lrw_longer_than_the_original_run_is_an_error() -> None:
    """E > original_epochs has nothing to replay: ValueError naming both."""
    with pytest.raises(ValueError, match="original_epochs"):
        build_schedule("lrw", epochs=161, steps_per_epoch=1)


def test_lrw_max_lr_scales_the_replayed_segment() -> None:
    """max_lr=0.05 at E=72: 32 epochs at 0.05 then 40 at 0.005."""
    lrs = _epoch_lrs("lrw", 72, max_lr=0.05)
    assert lrs[:32] == pytest.approx([0.05] * 32) and lrs[32:] == pytest.approx([0.005] * 40)


@pytest.mark.parametrize(
    ("epochs", "warmup", "drop1", "drop2"),
    [(40, 4, 22, 31), (72, 7, 39, 55), (152, 15, 83, 117)],
)
def test_slr_matches_the_papers_table(epochs: int, warmup: int, drop1: int, drop2: int) -> None:
    """SLR's warm-up length and absolute drop epochs are docs/science.md's table, value by value."""
    lrs = _epoch_lrs("slr", epochs)
    for e in range(warmup):
        expected = 0.1 + (0.001 - 0.1) / 2 * (math.cos(math.pi * e / warmup) + 1)
        assert lrs[e] == pytest.approx(expected, rel=1e-12)
    assert lrs[0] == pytest.approx(0.001) and max(lrs[:warmup]) < 0.1
    assert lrs[warmup:drop1] == [0.1] * (drop1 - warmup)
    assert lrs[drop1:drop2] == [0.01] * (drop2 - drop1)
    assert lrs[drop2:] == [0.001] * (epochs - drop2)


def test_slr_without_warmup_starts_at_the_peak() -> None:
    """warmup_frac=0: 0.1 from epoch 0, drops at int(0.45·E) and int(0.675·E)."""
    assert _runs(_epoch_lrs("slr", 40, warmup_frac=0.0)) == [(0.1, 18), (0.01, 9), (0.001, 13)]


def test_slr_warmup_fraction_ablation_values() -> None:
    """Le & Hua's warm-up fractions 0.05 and 0.15 give int(f·E) warm-up epochs."""
    build = build_schedule
    assert build("slr", epochs=40, steps_per_epoch=1, warmup_frac=0.05).warmup_epochs == 2
    assert build("slr", epochs=20, steps_per_epoch=1, warmup_frac=0.15).warmup_epochs == 3


def test_slr_max_lr_scales_the_whole_shape() -> None:
    """max_lr=0.05 halves every epoch's LR, warm-up included."""
    assert _epoch_lrs("slr", 72, max_lr=0.05) == pytest.approx(
        [lr / 2 for lr in _epoch_lrs("slr", 72)], rel=1e-12
    )


def _torch_one_cycle(epochs: int, steps: int, **kw: float | str) -> tuple[list, list]:
    """LR and momentum that OneCycleLR sets on a real SGD before each of its steps."""
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, epochs=epochs, steps_per_epoch=steps, **kw)
    lrs, moms = [], []
    for _ in range(epochs * steps):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    return lrs, moms


CLR_TORCH = dict(
    max_lr=0.1,
    div_factor=100.0,
    final_div_factor=100.0,
    pct_start=0.1,
    anneal_strategy="cos",
    cycle_momentum=True,
    base_momentum=0.85,
    max_momentum=0.95,
)


@pytest.mark.parametrize(("epochs", "steps"), [(1, 1), (1, 2), (1, 7)])
def test_clr_runs_too_short_for_a_warmup_step_are_refused(epochs: int, steps: int) -> None:
    """Under 10 steps pct_start=0.1 gives OneCycleLR no warm-up step: it would start mid-anneal
    and never rise, so clr refuses the run in one line instead of running another shape."""
    with pytest.raises(ValueError, match=r"^clr: its warm-up .* is empty") as info:
        build_schedule("clr", epochs=epochs, steps_per_epoch=steps)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("epochs", "steps"), [(1, 11), (3, 7), (2, 13), (5, 3), (40, 11), (160, 3)]
)
def test_clr_equals_torch_one_cycle_at_every_step(epochs: int, steps: int) -> None:
    """clr's LR and momentum equal OneCycleLR's (docs/science.md's arguments) bit for bit."""
    lrs, moms = _torch_one_cycle(epochs, steps, **CLR_TORCH)
    schedule = build_schedule("clr", epochs=epochs, steps_per_epoch=steps)
    assert schedule.lrs() == lrs
    assert [schedule.momentum(t) for t in range(schedule.total_steps)] == moms


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_clr_other_shapes_equal_torch_one_cycle(anneal: str) -> None:
    """Non-default pct_start, div factors, anneal and momenta also match OneCycleLR exactly."""
    kw = dict(pct_start=0.3, div_factor=25.0, final_div_factor=1e4, base_momentum=0.8)
    lrs, moms = _torch_one_cycle(4, 9, max_lr=0.3, anneal_strategy=anneal, **kw)
    schedule = build_schedule("clr", epochs=4, steps_per_epoch=9, max_lr=0.3, anneal=anneal, **kw)
    assert schedule.lrs() == lrs
    assert [schedule.momentum(t) for t in range(36)] == moms


def test_clr_cifar_shape_start_peak_end() -> None:
    """Start 0.001, peak 0.1 at 10 % of the steps, end near 1e-5; momentum 0.95 → 0.85 → 0.95."""
    schedule = build_schedule("clr", epochs=10, steps_per_epoch=11)
    lrs = schedule.lrs()
    assert lrs[0] == pytest.approx(0.001) and max(lrs) == pytest.approx(0.1, rel=1e-3)
    assert lrs.index(max(lrs)) in (10, 11) and lrs[-1] == pytest.approx(1e-5)
    assert schedule.momentum(0) == pytest.approx(0.95)
    assert schedule.momentum(schedule.total_steps - 1) == pytest.approx(0.95)
    assert min(schedule.momentum(t) for t in range(110)) == pytest.approx(0.85, abs=1e-3)


def test_clr_zero_length_warmup_where_torch_divides_by_zero() -> None:
    """pct_start·steps == 1: OneCycleLR raises ZeroDivisionError; clr starts at max_lr/div."""
    with pytest.raises(ZeroDivisionError):
        _torch_one_cycle(1, 10, **CLR_TORCH)
    assert one_cycle(0, 10, max_lr=0.1, pct_start=0.1, div_factor=100, final_div_factor=100)[
        0
    ] == pytest.approx(0.001)
    assert all(lr > 0 for lr in build_schedule("clr", epochs=1, steps_per_epoch=10).lrs())


def test_scyc_max_lr_follows_the_s_curve() -> None:
    """Round 1 is offset exactly; then offset + alpha·x^5/(x^5 + (1−x)^5) with x lagged a round."""
    assert scyc_max_lr(1, 0.2) == 0.03
    x = 1 - 0.8**2
    assert scyc_max_lr(3, 0.2) == pytest.approx(0.03 + 0.04 * x**5 / (x**5 + (1 - x) ** 5))
    peaks = [scyc_max_lr(k, 0.2) for k in range(1, 40)]
    assert all(a < b for a, b in itertools.pairwise(peaks[:20]))  # then saturates in floats
    assert all(a <= b for a, b in itertools.pairwise(peaks))
    assert peaks[-1] == pytest.approx(0.07, abs=1e-6)
    assert scyc_max_lr(1, 0.2, lag=0) == pytest.approx(0.03 + 0.04 * s_curve(0.2, 5.0))


def test_scyc_explicit_sparsity_and_vgg_defaults() -> None:
    """sparsity overrides x: 0 → offset, 1/2 → offset + alpha/2, 1 → offset + alpha (VGG-19)."""
    vgg = dict(offset=0.04, alpha=0.06)
    assert scyc_max_lr(5, 0.2, sparsity=0.0, **vgg) == 0.04
    assert scyc_max_lr(5, 0.2, sparsity=0.5, **vgg) == pytest.approx(0.07)
    assert scyc_max_lr(5, 0.2, sparsity=1.0, **vgg) == pytest.approx(0.10)
    assert pruned_fraction(4, 0.2) == pytest.approx(1 - 0.8**3)


def test_scyc_round_is_a_one_cycle_with_the_s_curve_peak() -> None:
    """Each round's schedule is clr's shape with peak scyc_max_lr(round_index, round_ratio)."""
    scyc = build_schedule("scyc", epochs=6, steps_per_epoch=5, round_index=4, round_ratio=0.3)
    peak = scyc_max_lr(4, 0.3)
    clr = build_schedule("clr", epochs=6, steps_per_epoch=5, max_lr=peak)
    assert scyc.max_lr == peak and scyc.lrs() == clr.lrs()
    assert [scyc.momentum(t) for t in range(30)] == [clr.momentum(t) for t in range(30)]


def test_cosine_anneals_from_max_to_min_after_linear_warmup() -> None:
    """Warm-up rises linearly to max_lr, then the LR falls monotonically towards min_lr."""
    schedule = build_schedule(
        "cosine", epochs=10, steps_per_epoch=10, max_lr=0.2, min_lr=0.002, warmup_epochs=1
    )
    lrs = schedule.lrs()
    assert lrs[:10] == pytest.approx([0.2 * (t + 1) / 10 for t in range(10)])
    assert lrs[10] == pytest.approx(0.2)
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))
    assert lrs[-1] == pytest.approx(0.002, abs=1e-4)


def test_lrw_start_epoch_rewinds_the_lr_with_the_weights() -> None:
    """start_epoch = k replays the original run from epoch k (weight rewinding's LR); None is
    LRW's own start, original_epochs − E; with E = T − k the replay is exact (Renda et al.)."""
    assert _epoch_lrs("lrw", 72, start_epoch=88) == _epoch_lrs("lrw", 72)
    assert _runs(_epoch_lrs("lrw", 100, start_epoch=60)) == [(0.1, 20), (0.01, 40), (0.001, 40)]
    assert _runs(_epoch_lrs("lrw", 160, start_epoch=0)) == [(0.1, 80), (0.01, 40), (0.001, 40)]


def test_lrw_budget_other_than_t_minus_k_compresses_the_replayed_segment() -> None:
    """E ≠ T − K replays [K, T) compressed into E epochs, every drop at the same fraction of
    the segment (docs/science.md §2): the lottery ticket at E = 16 is the dense schedule in
    miniature, never a flat LR; a drop compressed onto no epoch is refused in one line."""
    assert _runs(_epoch_lrs("lrw", 40, start_epoch=60)) == [(0.1, 8), (0.01, 16), (0.001, 16)]
    assert _runs(_epoch_lrs("lrw", 16, start_epoch=0)) == [(0.1, 8), (0.01, 4), (0.001, 4)]
    assert _runs(_epoch_lrs("lrw", 20, start_epoch=150)) == [(0.001, 20)]  # stretched
    with pytest.raises(ValueError, match=r"lrw: its replay of original epochs \[120, 160\)"):
        build_schedule("lrw", epochs=2, steps_per_epoch=1, start_epoch=0)
    for bad in (160, 161):
        with pytest.raises(ValueError, match="start_epoch"):
            build_schedule("lrw", epochs=4, steps_per_epoch=1, start_epoch=bad)


def test_scyc_round_params_take_x_from_what_the_rounds_removed() -> None:
    """A study's round k sets scyc's x to the fraction removed by round k − lag (from the
    trials' pruning reports), not to the nominal per-round ratio; x = 0 before the lag."""
    from pruning.schedules.s_cyclic import SCyclic

    removed = [0.3, 0.55, 0.7]
    assert SCyclic.round_params({}, 1, removed, None) == {"round_index": 1, "sparsity": 0.0}
    assert SCyclic.round_params({}, 3, removed, None)["sparsity"] == 0.55
    assert SCyclic.round_params({"lag": 0}, 3, removed, None)["sparsity"] == 0.7
    nominal = SCyclic.round_params({}, 3, None, 0.2)
    assert nominal == {"round_index": 3, "round_ratio": 0.2}
    built = build_schedule("scyc", epochs=10, steps_per_epoch=10, round_index=3, sparsity=0.55)
    assert built.max_lr == pytest.approx(scyc_max_lr(3, 0.0, sparsity=0.55))


def test_s_curve_survives_huge_exponents() -> None:
    """β = 1e6 makes x^β and (1 − x)^β underflow to 0; the logistic form still answers."""
    from pruning.schedules.s_cyclic import s_curve

    assert s_curve(0.5, 1e6) == 0.5
    assert s_curve(0.4, 1e6) == 0.0 and s_curve(0.6, 1e6) == 1.0
    assert s_curve(0.3, 5.0) == pytest.approx(0.3**5 / (0.3**5 + 0.7**5), rel=1e-12)

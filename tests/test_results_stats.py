"""studies.results.stats: Holm and Benjamini–Hochberg, Welch's CI and Hedges' g against numbers
worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from studies.results.stats import benjamini_hochberg, hedges_g, holm, welch, welch_p

P_EXAMPLE = [0.01, 0.04, 0.03, 0.005]


def test_holm_matches_the_worked_example() -> None:
    """Sorted 0.005, 0.01, 0.03, 0.04 × (4, 3, 2, 1) = 0.02, 0.03, 0.06, 0.04; running max →
    0.02, 0.03, 0.06, 0.06; in input order [0.03, 0.06, 0.06, 0.02] (statsmodels' 'holm')."""
    assert list(holm(P_EXAMPLE)) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_benjamini_hochberg_matches_the_worked_example() -> None:
    """Sorted p × 4/(1, 2, 3, 4) = 0.02, 0.02, 0.04, 0.04; running min from the top keeps them;
    in input order [0.02, 0.04, 0.04, 0.02] (statsmodels' 'fdr_bh')."""
    assert list(benjamini_hochberg(P_EXAMPLE)) == pytest.approx([0.02, 0.04, 0.04, 0.02])


@pytest.mark.parametrize("adjust", [holm, benjamini_hochberg])
def test_nan_p_values_are_not_members_of_the_family(adjust) -> None:
    """[0.01, NaN, 0.04] is a family of m = 2: Holm 0.01·2, max(0.04·1, 0.02); BH 0.01·2/1,
    0.04·2/2 — both [0.02, NaN, 0.04]."""
    out = adjust([0.01, float("nan"), 0.04])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)


@pytest.mark.parametrize("adjust", [holm, benjamini_hochberg])
def test_adjusted_p_values_are_capped_at_one_and_never_below_raw(adjust) -> None:
    """Holm of [0.6, 0.7] is min(1, 1.2) twice; any adjusted p is ≥ its raw p and ≤ 1."""
    assert list(holm([0.6, 0.7])) == [1.0, 1.0]
    raw = np.random.default_rng(0).uniform(0, 1, 30)
    out = adjust(raw)
    assert np.all(out >= raw - 1e-15) and np.all(out <= 1.0)


@pytest.mark.parametrize("adjust", [holm, benjamini_hochberg])
def test_adjustment_preserves_the_order_of_raw_p_values(adjust) -> None:
    """Monotone: a smaller raw p never gets a larger adjusted p; ties stay tied."""
    raw = np.array([0.2, 0.001, 0.04, 0.04, 0.5, 0.012])
    out = adjust(raw)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)
    assert out[2] == out[3]


def test_empty_and_all_nan_families_give_nan_back() -> None:
    """No tested comparison: nothing to adjust, no error."""
    assert len(holm([])) == 0 and len(benjamini_hochberg([])) == 0
    assert np.isnan(holm([float("nan")])).all()


def _expected_ci(shift: float) -> tuple[float, float]:
    """[1, 2, 3] + shift vs [1, 2, 3]: both variances 1, se² = 1/3 + 1/3 = 2/3, Welch df =
    (2/3)² / (2 · (1/3)² / 2) = 4, so CI = shift ± t(0.975, 4) · √(2/3)."""
    half = stats.t.ppf(0.975, 4) * math.sqrt(2 / 3)
    return shift - half, shift + half


def test_welch_ci_covers_zero_for_a_shift_within_the_noise() -> None:
    """Shift 2: CI = 2 ± 2.776·0.816 = [−0.27, 4.27] covers 0, and p > 0.05 with it."""
    result = welch([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    low, high = _expected_ci(2.0)
    assert result.diff == pytest.approx(2.0) and result.df == pytest.approx(4.0)
    assert (result.low, result.high) == pytest.approx((low, high))
    assert result.low < 0 < result.high and result.p > 0.05
    assert result.p == pytest.approx(stats.ttest_ind([3, 4, 5], [1, 2, 3], equal_var=False).pvalue)


def test_welch_ci_excludes_zero_for_a_larger_shift() -> None:
    """Shift 3: CI = 3 ± 2.27 = [0.73, 5.27] excludes 0, and p < 0.05 with it."""
    result = welch([4.0, 5.0, 6.0], [1.0, 2.0, 3.0])
    low, high = _expected_ci(3.0)
    assert (result.low, result.high) == pytest.approx((low, high))
    assert result.low > 0 and result.p < 0.05


def test_welch_is_undefined_below_two_values_or_with_no_spread_at_all() -> None:
    """n = 1 on a side: Δ only. Zero variance on both sides: no test (scipy would say p = 0)."""
    one = welch([0.9], [0.8, 0.85])
    assert one.diff == pytest.approx(0.075) and math.isnan(one.low) and math.isnan(one.p)
    flat = welch([0.9, 0.9, 0.9], [0.8, 0.8, 0.8])
    assert flat.diff == pytest.approx(0.1) and math.isnan(flat.p) and math.isnan(flat.high)
    assert math.isnan(welch_p([0.1, 0.1, 0.1], [0.2, 0.2]))


def test_welch_with_zero_variance_on_one_side_uses_the_other_sides_df() -> None:
    """s_b = 0: se² = s_a²/n_a and df = n_a − 1 = 2, as Welch–Satterthwaite gives."""
    result = welch([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    assert result.df == pytest.approx(2.0)
    half = stats.t.ppf(0.975, 2) * math.sqrt(1 / 3)
    assert (result.low, result.high) == pytest.approx((-3 - half, -3 + half))


def test_hedges_g_by_hand() -> None:
    """[3, 4, 5] vs [1, 2, 3]: pooled SD 1, d = 2, J = 1 − 3/(4·6 − 9) = 0.8, g = 1.6; the sign
    follows a − b."""
    assert hedges_g([3, 4, 5], [1, 2, 3]) == pytest.approx(1.6)
    assert hedges_g([1, 2, 3], [3, 4, 5]) == pytest.approx(-1.6)


def test_hedges_g_pools_unequal_variances_and_sizes() -> None:
    """[0, 2] (var 2) vs [0, 0, 3] (var 3): pooled = √((1·2 + 2·3)/3) = √(8/3), d = (1 − 1)/… = 0;
    [2, 4] vs [0, 0, 3]: d = 2/√(8/3), J = 1 − 3/(4·5 − 9) = 8/11."""
    assert hedges_g([0, 2], [0, 0, 3]) == pytest.approx(0.0)
    assert hedges_g([2, 4], [0, 0, 3]) == pytest.approx(8 / 11 * 2 / math.sqrt(8 / 3))


def test_hedges_g_is_nan_where_undefined() -> None:
    """Fewer than 2 values on a side, or no spread on either side: NaN, not ±inf."""
    assert math.isnan(hedges_g([1.0], [1.0, 2.0]))
    assert math.isnan(hedges_g([1.0, 1.0], [2.0, 2.0]))

"""studies.results.stats and .contrast: Holm and Benjamini–Hochberg, the paired t-test, Wilcoxon,
TOST, Welch's CI, Hedges' g and dz against numbers worked out by hand and against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from studies.results.contrast import contrast
from studies.results.stats import (
    benjamini_hochberg,
    cohens_dz,
    hedges_g,
    holm,
    pair_by_seed,
    paired_t,
    tost_paired,
    tost_welch,
    welch,
    welch_p,
    wilcoxon_p,
)

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


# --- paired statistics ----------------------------------------------------------------------

A3, B3 = [3.0, 5.0, 4.0], [1.0, 2.0, 3.0]  # differences 2, 3, 1: mean 2, SD 1
RNG = np.random.default_rng(7)
A8 = list(RNG.normal(85, 1, 8))
B8 = [a - d for a, d in zip(A8, RNG.normal(0.6, 0.5, 8), strict=True)]


def test_paired_t_by_hand_and_against_scipy_ttest_rel() -> None:
    """d = 2, 3, 1: se = 1/√3, df 2, CI = 2 ± t(0.975, 2)/√3 = [−0.48, 4.48], p from scipy's
    ttest_rel; on 8 random pairs p and CI equal scipy's too."""
    result = paired_t(A3, B3)
    half = stats.t.ppf(0.975, 2) / math.sqrt(3)
    assert (result.n, result.diff, result.df, result.sd) == pytest.approx((3, 2.0, 2.0, 1.0))
    assert (result.low, result.high) == pytest.approx((2 - half, 2 + half))
    assert result.low < 0 < result.high and result.p > 0.05
    for a, b in ((A3, B3), (A8, B8)):
        expected = stats.ttest_rel(a, b)
        result = paired_t(a, b)
        assert result.p == pytest.approx(expected.pvalue)
        assert (result.low, result.high) == pytest.approx(tuple(expected.confidence_interval()))


def test_paired_t_is_undefined_below_two_pairs_or_with_identical_differences() -> None:
    """n = 1: the difference only. Identical differences (also up to float noise from × 100):
    no test, where scipy would answer p = 0 or NaN."""
    one = paired_t([0.9], [0.8])
    assert one.diff == pytest.approx(0.1) and math.isnan(one.p) and math.isnan(one.low)
    same = paired_t([91.0, 92.0, 93.0], [90.0, 91.0, 92.0])
    assert same.diff == pytest.approx(1.0) and math.isnan(same.p) and math.isnan(same.high)
    noisy = paired_t([100 * 0.91, 100 * 0.92, 100 * 0.93], [90.0, 91.0, 92.0])
    assert math.isnan(noisy.p)
    with pytest.raises(ValueError, match="differ in length"):
        paired_t([1.0, 2.0], [1.0])


def test_wilcoxon_from_six_pairs_equals_scipy_exact() -> None:
    """Six positive distinct differences: the exact two-sided p is 2/2^6 = 0.03125, as scipy's;
    eight pairs equal scipy's too. Five pairs (min p 0.0625) or all zero: NaN."""
    assert wilcoxon_p([1, 2, 3, 4, 5, 6], [0] * 6) == pytest.approx(2 / 64)
    assert wilcoxon_p(A8, B8) == pytest.approx(stats.wilcoxon(A8, B8).pvalue)
    assert math.isnan(wilcoxon_p([1, 2, 3, 4, 5], [0] * 5))
    assert math.isnan(wilcoxon_p([1.0] * 6, [1.0] * 6))


def _scipy_tost(a, b, margin: float, paired: bool) -> float:
    """TOST built from two one-sided scipy tests: diff > −m and diff < +m."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if paired:
        lower = stats.ttest_1samp(x - y, -margin, alternative="greater").pvalue
        upper = stats.ttest_1samp(x - y, margin, alternative="less").pvalue
    else:
        lower = stats.ttest_ind(x + margin, y, equal_var=False, alternative="greater").pvalue
        upper = stats.ttest_ind(x - margin, y, equal_var=False, alternative="less").pvalue
    return max(lower, upper)


@pytest.mark.parametrize("margin", [0.5, 1.0, 3.0])
def test_tost_equals_two_one_sided_scipy_tests(margin: float) -> None:
    """p_TOST = max of the one-sided p's, paired (t on the differences, n − 1 df) and Welch."""
    paired, unpaired = tost_paired(A8, B8, margin), tost_welch(A8, B8, margin)
    assert paired.p == pytest.approx(_scipy_tost(A8, B8, margin, paired=True))
    assert unpaired.p == pytest.approx(_scipy_tost(A8, B8, margin, paired=False))
    assert paired.df == 7 and unpaired.df == pytest.approx(welch(A8, B8).df)
    assert paired.p == max(paired.p_lower, paired.p_upper)


def test_tost_equivalence_is_the_90_percent_ci_inside_the_margin() -> None:
    """d = 2, 3, 1 (mean 2, se 1/√3): the 90 % CI is 2 ± t(0.95, 2)/√3 = [0.31, 3.69]; it lies
    inside ±4, so p_TOST < 0.05, and not inside ±3.5 (p_TOST > 0.05)."""
    half = stats.t.ppf(0.95, 2) / math.sqrt(3)
    inside, outside = tost_paired(A3, B3, 4.0), tost_paired(A3, B3, 3.5)
    assert (inside.low, inside.high) == pytest.approx((2 - half, 2 + half))
    assert inside.equivalent and inside.p < 0.05 and -4 < inside.low < inside.high < 4
    assert not outside.equivalent and outside.p > 0.05 and outside.high > 3.5
    for margin in np.linspace(0.2, 4.0, 20):
        result = tost_paired(A3, B3, float(margin))
        assert result.equivalent == (-margin < result.low and result.high < margin)


def test_tost_is_undefined_where_the_t_test_is_and_refuses_bad_margins() -> None:
    """No spread: NaN, not equivalent. A margin ≤ 0 or infinite is an error, not a test."""
    flat = tost_paired([91.0, 92.0], [90.0, 91.0], 0.5)
    assert math.isnan(flat.p) and not flat.equivalent
    for margin in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="margin"):
            tost_welch(A3, B3, margin)


def test_cohens_dz_by_hand() -> None:
    """d = 2, 3, 1: dz = 2 / 1; NaN with one pair or identical differences."""
    assert cohens_dz(A3, B3) == pytest.approx(2.0)
    assert math.isnan(cohens_dz([1.0], [0.0])) and math.isnan(cohens_dz([2.0, 3.0], [1.0, 2.0]))


def test_pairing_keeps_the_seeds_both_arms_have_in_seed_order() -> None:
    """{2, 0, 1} and {1, 2, 3}: pairs on 1, 2; seed 0 only in A, 3 only in B."""
    pairs = pair_by_seed({2: 0.3, 0: 0.1, 1: 0.2}, {3: 1.3, 1: 1.1, 2: 1.2})
    assert pairs.seeds == (1, 2) and list(pairs.a) == [0.2, 0.3] and list(pairs.b) == [1.1, 1.2]
    assert pairs.only_a == (0,) and pairs.only_b == (3,)


def test_contrast_pairs_by_seed_and_falls_back_to_welch_without_shared_seeds() -> None:
    """Shared seeds: the paired t-test, dz, Wilcoxon from 6 pairs. No shared seed (or paired =
    False): Welch and Hedges' g on all values. Means and SDs are over the values tested."""
    a = dict(enumerate(A8))
    b = dict(enumerate(B8))
    paired = contrast(a, b, margin=0.5)
    assert paired.design == "paired" and paired.test == "paired t" and paired.n == 8
    assert paired.p == pytest.approx(stats.ttest_rel(A8, B8).pvalue)
    assert paired.wilcoxon_p == pytest.approx(stats.wilcoxon(A8, B8).pvalue)
    assert paired.tost_p == pytest.approx(_scipy_tost(A8, B8, 0.5, paired=True))
    assert paired.effect == pytest.approx(cohens_dz(A8, B8)) and paired.effect_name == "dz"
    moved = {seed + 100: value for seed, value in b.items()}
    for unpaired in (contrast(a, moved, margin=0.5), contrast(a, b, margin=0.5, paired=False)):
        assert unpaired.design == "unpaired" and unpaired.effect_name == "g"
        assert unpaired.p == pytest.approx(stats.ttest_ind(A8, B8, equal_var=False).pvalue)
        assert math.isnan(unpaired.wilcoxon_p)
    short = contrast({0: 1.0, 1: 2.0, 2: 4.0}, {1: 1.5, 2: 2.0})
    assert short.n == 2 and short.dropped == (0,) and short.mean("a") == pytest.approx(3.0)
    assert math.isnan(contrast({0: 1.0}, {0: 2.0}).std("a"))

"""The statistics of a comparison, on plain arrays: the paired t-test of per-seed differences
with its confidence interval, the Wilcoxon signed-rank test, Welch's t-test for unpaired arms,
the TOST equivalence test (paired and Welch), Hedges' g and Cohen's dz, the multiple-testing
corrections (Holm, Benjamini–Hochberg), and the pairing of two arms by seed.

Every function returns NaN where the quantity is undefined instead of a number that looks
meaningful: fewer than 2 values on a side or pairs (no variance estimate), zero variance on
both sides, or identical per-seed differences (scipy then answers p = 0 for any difference,
i.e. "infinitely significant" from three accuracies; with no estimate of the seed-to-seed
spread there is no test). docs/science.md §9 says which test a report uses where.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

NAN = float("nan")
# The exact two-sided Wilcoxon p of n pairs is at least 2 / 2^n: 0.0625 at n = 5, so below 6
# pairs the test could never reject at 0.05 and is not run.
WILCOXON_MIN_N = 6
# Accuracies are fractions × 100: per-seed differences that are equal up to float noise (1e-9
# points) are identical, not a spread that would make any difference "significant".
SPREAD_TOLERANCE = 1e-9


@dataclass(frozen=True)
class WelchResult:
    """Welch's two-sample comparison of mean(a) − mean(b)."""

    diff: float  # mean(a) − mean(b); defined whenever both sides have a value
    low: float  # confidence interval of diff (Welch–Satterthwaite df)
    high: float
    p: float  # two-sided
    df: float  # Welch–Satterthwaite degrees of freedom


@dataclass(frozen=True)
class PairedResult:
    """The paired t-test of the per-pair differences a − b."""

    n: int  # pairs
    diff: float  # mean of a − b; defined whenever there is a pair
    low: float  # confidence interval of diff (t with n − 1 df)
    high: float
    p: float  # two-sided
    df: float  # n − 1
    sd: float  # SD (ddof 1) of the differences


@dataclass(frozen=True)
class TostResult:
    """Two one-sided tests of |mean difference| < margin (Schuirmann 1987)."""

    margin: float  # m: equivalence means −m < diff < +m
    diff: float
    low: float  # the (1 − 2·alpha) confidence interval of diff (90 % at alpha 0.05)
    high: float
    p_lower: float  # H0: diff ≤ −m against diff > −m
    p_upper: float  # H0: diff ≥ +m against diff < +m
    p: float  # p_TOST = max(p_lower, p_upper)
    df: float
    alpha: float

    @property
    def equivalent(self) -> bool:
        """p_TOST < alpha; the same as the (1 − 2·alpha) CI lying inside (−m, +m)."""
        return bool(self.p < self.alpha)


@dataclass(frozen=True)
class Pairs:
    """Two arms' values on the seeds both have, in seed order, and the seeds only one has."""

    seeds: tuple[Any, ...]
    a: np.ndarray
    b: np.ndarray
    only_a: tuple[Any, ...]
    only_b: tuple[Any, ...]


def pair_by_seed(a: Mapping[Any, float], b: Mapping[Any, float]) -> Pairs:
    """Pair `a` and `b` ({seed: value}) on the seeds both have. Arms of one seed share its
    dense model and data split, so their difference cancels what the seed alone decides."""
    shared = sorted(set(a) & set(b))
    return Pairs(
        seeds=tuple(shared),
        a=np.array([a[s] for s in shared], float),
        b=np.array([b[s] for s in shared], float),
        only_a=tuple(sorted(set(a) - set(b))),
        only_b=tuple(sorted(set(b) - set(a))),
    )


def sample_var(values: np.ndarray) -> float:
    """Variance with ddof 1; exactly 0 for constant samples (numpy's mean of three equal floats
    can be off by an ulp, which would turn "no spread" into a tiny, test-inflating variance)."""
    return 0.0 if np.ptp(values) == 0 else float(values.var(ddof=1))


def _differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {len(x)} vs {len(y)}")
    return x - y


def _no_spread(d: np.ndarray) -> bool:
    return float(np.ptp(d)) <= SPREAD_TOLERANCE * max(1.0, float(np.abs(d).max()))


def _paired_se(d: np.ndarray) -> tuple[float, float]:
    """(standard error of mean(d), its df n − 1); NaN with < 2 pairs or identical differences."""
    if len(d) < 2 or _no_spread(d):
        return NAN, NAN
    return float(d.std(ddof=1)) / math.sqrt(len(d)), float(len(d) - 1)


def paired_t(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> PairedResult:
    """Paired t-test of mean(a − b) over pairs (a[i], b[i]) and its `confidence` interval.

    d = a − b; se = sd(d)/√n; CI = mean(d) ± t_{(1+confidence)/2, n−1} · se; p = 2 · P(T_{n−1} >
    |mean(d)|/se): scipy's ``ttest_rel(a, b)`` wherever that is defined. NaN (no test) with
    fewer than 2 pairs or identical differences.
    """
    d = _differences(a, b)
    diff = float(d.mean()) if len(d) else NAN
    sd = float(d.std(ddof=1)) if len(d) > 1 else NAN
    se, df = _paired_se(d)
    if math.isnan(se):
        return PairedResult(len(d), diff, NAN, NAN, NAN, NAN, sd)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return PairedResult(len(d), diff, diff - half, diff + half, min(p, 1.0), df, sd)


def wilcoxon_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p of the differences a − b (scipy's ``wilcoxon``, exact
    where scipy can be: no ties or zeros, else its exhaustive permutation up to 13 pairs).
    NaN below WILCOXON_MIN_N pairs (it could not reject at 0.05) or with all differences 0."""
    d = _differences(a, b)
    if len(d) < WILCOXON_MIN_N or not np.any(np.abs(d) > SPREAD_TOLERANCE):
        return NAN
    return float(stats.wilcoxon(d).pvalue)


def _welch_se_df(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Welch's (se, Welch–Satterthwaite df); NaN with < 2 values a side or no spread at all."""
    if len(x) < 2 or len(y) < 2:
        return NAN, NAN
    vx, vy = sample_var(x) / len(x), sample_var(y) / len(y)
    se2 = vx + vy
    if se2 == 0.0:
        return NAN, NAN
    return math.sqrt(se2), se2**2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> WelchResult:
    """Welch's t-test of mean(a) − mean(b) and its `confidence` interval (unpaired arms).

    se² = s_a²/n_a + s_b²/n_b; df = se⁴ / ((s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1));
    CI = diff ± t_{(1+confidence)/2, df} · se; p = 2 · P(T_df > |diff| / se). The same df makes
    the 95 % CI exclude 0 exactly when p < 0.05. The p-value equals scipy's
    ``ttest_ind(a, b, equal_var=False)`` wherever that is defined and not degenerate.
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    diff = float(x.mean() - y.mean()) if len(x) and len(y) else NAN
    se, df = _welch_se_df(x, y)
    if math.isnan(se):
        return WelchResult(diff, NAN, NAN, NAN, NAN)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return WelchResult(diff, diff - half, diff + half, min(p, 1.0), float(df))


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value; NaN when either side has fewer than 2 values or both
    sides have zero variance."""
    return welch(a, b).p


def _tost(diff: float, se: float, df: float, margin: float, alpha: float) -> TostResult:
    """TOST from a difference, its standard error and df (shared by the paired and Welch forms)."""
    if not (margin > 0 and math.isfinite(margin)):
        raise ValueError(f"equivalence margin must be > 0 and finite, not {margin!r}")
    if math.isnan(se):
        return TostResult(margin, diff, NAN, NAN, NAN, NAN, NAN, NAN, alpha)
    p_lower = float(stats.t.sf((diff + margin) / se, df))
    p_upper = float(stats.t.cdf((diff - margin) / se, df))
    half = float(stats.t.ppf(1 - alpha, df)) * se
    low, high = diff - half, diff + half
    return TostResult(margin, diff, low, high, p_lower, p_upper, max(p_lower, p_upper), df, alpha)


def tost_paired(
    a: Sequence[float], b: Sequence[float], margin: float, alpha: float = 0.05
) -> TostResult:
    """TOST on the paired differences a − b, t with n − 1 df: p_lower = P(T > (d̄ + m)/se),
    p_upper = P(T < (d̄ − m)/se). NaN where the paired t-test is undefined."""
    d = _differences(a, b)
    se, df = _paired_se(d)
    return _tost(float(d.mean()) if len(d) else NAN, se, df, margin, alpha)


def tost_welch(
    a: Sequence[float], b: Sequence[float], margin: float, alpha: float = 0.05
) -> TostResult:
    """TOST for unpaired arms with Welch's se and Welch–Satterthwaite df."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    se, df = _welch_se_df(x, y)
    return _tost(float(x.mean() - y.mean()) if len(x) and len(y) else NAN, se, df, margin, alpha)


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float:
    """Hedges' g of a against b: (mean(a) − mean(b)) / pooled SD, times the small-sample
    correction J = 1 − 3 / (4·(n_a + n_b) − 9) (Hedges & Olkin 1985); at n = 3 vs 3 J = 0.8,
    Cohen's d overstates the effect by 25 %. NaN with fewer than 2 values on a side or a
    pooled SD of 0."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if len(x) < 2 or len(y) < 2:
        return NAN
    df = len(x) + len(y) - 2
    pooled = math.sqrt(((len(x) - 1) * sample_var(x) + (len(y) - 1) * sample_var(y)) / df)
    if pooled == 0.0:
        return NAN
    return (1 - 3 / (4 * df - 1)) * float(x.mean() - y.mean()) / pooled


def cohens_dz(a: Sequence[float], b: Sequence[float]) -> float:
    """Cohen's dz of paired samples: mean(a − b) / SD(a − b) (ddof 1), the effect size the paired
    t-test sees (t = dz · √n). NaN with fewer than 2 pairs or identical differences."""
    d = _differences(a, b)
    if len(d) < 2 or _no_spread(d):
        return NAN
    return float(d.mean() / d.std(ddof=1))


def _ranked(p_values: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(all p as floats, positions of the non-NaN ones in ascending p order, output of NaNs).
    NaN p-values (untested comparisons) are no members of the family: they do not raise m."""
    p = np.asarray(p_values, float).reshape(-1)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    return p, order, np.full(p.shape, NAN)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate).

    Sorted ascending p_(1) ≤ … ≤ p_(m): adj_(i) = min(1, max_{j ≤ i} (m − j + 1) · p_(j)),
    returned in the input order; NaN in, NaN out.
    """
    p, order, out = _ranked(p_values)
    m = len(order)
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled)) if m else scaled
    return out


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (controls the false discovery rate).

    Sorted ascending: adj_(i) = min(1, min_{j ≥ i} m / j · p_(j)), in the input order; NaN in,
    NaN out. Less conservative than Holm; the report uses Holm.
    """
    p, order, out = _ranked(p_values)
    m = len(order)
    scaled = m / np.arange(1, m + 1) * p[order]
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1]) if m else scaled
    return out

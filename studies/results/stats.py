"""The statistics of a comparison, on plain arrays: Welch's t-test with its confidence interval,
Hedges' g, and the multiple-testing corrections (Holm, Benjamini–Hochberg).

Every function returns NaN where the quantity is undefined instead of a number that looks
meaningful: fewer than 2 values on a side (no variance estimate), or zero variance on both
sides (scipy's Welch test then answers p = 0 for any difference, i.e. "infinitely significant"
from three identical accuracies; with no estimate of the seed-to-seed spread there is no test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

NAN = float("nan")


@dataclass(frozen=True)
class WelchResult:
    """Welch's two-sample comparison of mean(a) − mean(b)."""

    diff: float  # mean(a) − mean(b); defined whenever both sides have a value
    low: float  # confidence interval of diff (Welch–Satterthwaite df)
    high: float
    p: float  # two-sided
    df: float  # Welch–Satterthwaite degrees of freedom


def sample_var(values: np.ndarray) -> float:
    """Variance with ddof 1; exactly 0 for constant samples (numpy's mean of three equal floats
    can be off by an ulp, which would turn "no spread" into a tiny, test-inflating variance)."""
    return 0.0 if np.ptp(values) == 0 else float(values.var(ddof=1))


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> WelchResult:
    """Welch's t-test of mean(a) − mean(b) and its `confidence` interval.

    se² = s_a²/n_a + s_b²/n_b; df = se⁴ / ((s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1));
    CI = diff ± t_{(1+confidence)/2, df} · se; p = 2 · P(T_df > |diff| / se). The same df makes
    the 95 % CI exclude 0 exactly when p < 0.05. The p-value equals scipy's
    ``ttest_ind(a, b, equal_var=False)`` wherever that is defined and not degenerate.
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    diff = float(x.mean() - y.mean()) if len(x) and len(y) else NAN
    if len(x) < 2 or len(y) < 2:
        return WelchResult(diff, NAN, NAN, NAN, NAN)
    vx, vy = sample_var(x) / len(x), sample_var(y) / len(y)
    se2 = vx + vy
    if se2 == 0.0:
        return WelchResult(diff, NAN, NAN, NAN, NAN)
    df = se2**2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    se = math.sqrt(se2)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return WelchResult(diff, diff - half, diff + half, min(p, 1.0), float(df))


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value; NaN when either side has fewer than 2 values or both
    sides have zero variance."""
    return welch(a, b).p


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

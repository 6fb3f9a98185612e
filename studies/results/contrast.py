"""One comparison of two arms, with the test its design calls for (docs/science.md §9).

Arms of one seed share that seed's dense model and data split, so where both arms have a
seed their accuracies are paired: the paired t-test of the per-seed differences (with the
Wilcoxon signed-rank test beside it from 6 pairs on), the paired TOST and Cohen's dz. Arms with
no seed in common (an oracle run on other seeds) are unpaired: Welch's t-test, Welch's TOST and
Hedges' g. Seeds only one arm has are left out of a paired comparison and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from studies.results.stats import (
    NAN,
    TostResult,
    cohens_dz,
    hedges_g,
    pair_by_seed,
    paired_t,
    tost_paired,
    tost_welch,
    welch,
    wilcoxon_p,
)

PAIRED, UNPAIRED = "paired", "unpaired"
Design = Literal["paired", "unpaired"]


@dataclass(frozen=True)
class Contrast:
    """A − B for two arms: the values compared, the difference with its CI and the tests."""

    design: Design
    test: str  # "paired t" or "Welch"
    seeds: tuple[Any, ...]  # the paired seeds (paired), or every seed of either arm
    dropped: tuple[Any, ...]  # seeds only one arm has, left out of a paired comparison
    a: np.ndarray  # the values the test used, in seed order where paired
    b: np.ndarray
    diff: float  # mean(A) − mean(B) (= the mean per-seed difference when paired)
    low: float  # its 95 % confidence interval
    high: float
    p: float  # two-sided p of `test`
    df: float
    wilcoxon_p: float  # paired with ≥ 6 pairs, else NaN
    tost: TostResult | None  # when a margin was given
    effect: float  # Cohen's dz (paired) or Hedges' g (unpaired)
    effect_name: str  # "dz" or "g"

    @property
    def n(self) -> int:
        """What the test rests on: pairs when paired, the smaller arm when unpaired."""
        return len(self.a) if self.design == PAIRED else min(len(self.a), len(self.b))

    @property
    def tost_p(self) -> float:
        return NAN if self.tost is None else self.tost.p

    def mean(self, arm: str) -> float:
        values = self.a if arm == "a" else self.b
        return float(values.mean()) if len(values) else NAN

    def std(self, arm: str) -> float:
        """SD (ddof 1) of one arm's values; NaN below 2 values (never a "± 0" from one seed)."""
        values = self.a if arm == "a" else self.b
        return float(values.std(ddof=1)) if len(values) > 1 else NAN


def contrast(
    a: Mapping[Any, float],
    b: Mapping[Any, float],
    *,
    margin: float | None = None,
    paired: bool = True,
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> Contrast:
    """A ({seed: value}) against B: paired on the seeds both have when `paired` and there is
    such a seed, else unpaired (Welch). `margin` (same units) adds the TOST."""
    pairs = pair_by_seed(a, b)
    if paired and pairs.seeds:
        t = paired_t(pairs.a, pairs.b, confidence)
        tost = None if margin is None else tost_paired(pairs.a, pairs.b, margin, alpha)
        return Contrast(
            PAIRED, "paired t", pairs.seeds, (*pairs.only_a, *pairs.only_b), pairs.a, pairs.b,
            t.diff, t.low, t.high, t.p, t.df, wilcoxon_p(pairs.a, pairs.b), tost,
            cohens_dz(pairs.a, pairs.b), "dz",
        )  # fmt: skip
    x, y = _values(a), _values(b)
    w = welch(x, y, confidence)
    tost = None if margin is None else tost_welch(x, y, margin, alpha)
    seeds = tuple(sorted(set(a) | set(b)))
    return Contrast(
        UNPAIRED, "Welch", seeds, (), x, y, w.diff, w.low, w.high, w.p, w.df, NAN, tost,
        hedges_g(x, y), "g",
    )  # fmt: skip


def _values(arm: Mapping[Any, float]) -> np.ndarray:
    return np.array([arm[s] for s in sorted(arm)], float)

"""studies.results.verdict: each rule that turns (claim, n, Δ, Holm-adjusted p, TOST p) into a
status word, and that a word never says more than its adjusted p-values allow."""

from __future__ import annotations

import math

import pytest

from studies.results.verdict import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_TESTABLE_N,
    NOT_TESTABLE_SPREAD,
    OPPOSITE_DIRECTION,
    REPRODUCED,
    SAME_DIRECTION,
    Claim,
    reproduces,
    status,
)

NAN = math.nan


def word(claim: Claim, diff: float, p: float, tost: float = NAN, n: int = 6) -> str:
    """The status at margin 0.5."""
    return status(claim, n=n, diff=diff, p_holm=p, tost_p_holm=tost, margin=0.5)


@pytest.mark.parametrize(
    ("diff", "p", "tost", "expected"),
    [
        (2.0, 0.01, 0.9, REPRODUCED),
        (-2.0, 0.01, 0.9, NOT_REPRODUCED),
        (0.1, 0.4, 0.01, "equivalent within ±0.5 (no difference shown)"),
        (1.0, 0.2, 0.3, SAME_DIRECTION),
        (-1.0, 0.2, 0.3, OPPOSITE_DIRECTION),
        (2.0, 0.05, 0.9, SAME_DIRECTION),  # adjusted p must be below 0.05, not equal
    ],
)
def test_claim_greater(diff: float, p: float, tost: float, expected: str) -> None:
    """A > B: reproduced only with the direction and a Holm-adjusted p < 0.05."""
    assert word(Claim.GREATER, diff, p, tost) == expected


@pytest.mark.parametrize(
    ("diff", "p", "tost", "expected"),
    [
        (0.1, 0.8, 0.01, "equivalent within ±0.5"),
        (0.2, 0.01, 0.02, "equivalent within ±0.5"),  # a real difference inside the margin
        (1.5, 0.01, 0.9, "not reproduced (A > B, significant)"),
        (-1.5, 0.01, 0.9, "not reproduced (A < B, significant)"),
        (0.3, 0.6, 0.2, INCONCLUSIVE),  # non-significance is not equivalence
    ],
)
def test_claim_equivalent(diff: float, p: float, tost: float, expected: str) -> None:
    """A ≈ B: shown only by the TOST's Holm-adjusted p < 0.05, never by a large p."""
    assert word(Claim.EQUIVALENT, diff, p, tost) == expected


def test_no_claim_words_for_compare() -> None:
    """compare's rows: higher / lower when significant, else equivalent or inconclusive."""
    assert word(Claim.NONE, 1.0, 0.001) == "higher"
    assert word(Claim.NONE, -1.0, 0.001) == "lower"
    assert word(Claim.NONE, 0.1, 0.7, 0.01) == "equivalent within ±0.5"
    assert word(Claim.NONE, 0.1, 0.7, 0.2) == INCONCLUSIVE


@pytest.mark.parametrize("claim", list(Claim))
def test_untestable_comparisons_say_why_whatever_the_claim(claim: Claim) -> None:
    """n < 2, or no p (no seed-to-seed spread): not testable, whatever Δ is."""
    assert word(claim, 5.0, NAN, n=1) == NOT_TESTABLE_N
    assert word(claim, 5.0, NAN, n=3) == NOT_TESTABLE_SPREAD


def test_reproduces_reads_the_word_against_the_claim() -> None:
    """Only "reproduced" shows A > B; only an equivalence word shows A ≈ B."""
    assert reproduces(Claim.GREATER, REPRODUCED)
    assert not reproduces(Claim.GREATER, SAME_DIRECTION)
    assert reproduces(Claim.EQUIVALENT, "equivalent within ±0.5")
    assert not reproduces(Claim.EQUIVALENT, INCONCLUSIVE)

"""The one place where statistics become status words (docs/science.md §9).

A finding states the claim it checks: A > B (the paper's direction), A ≈ B (equivalent within
the study's margin), or no claim (`compare`: a schedule against its group's reference). The
rules below read the difference, n and the Holm-adjusted p-values of the difference test and
of the TOST, over the whole report's family; the first rule that matches gives the word.
"""

from __future__ import annotations

import math
from enum import StrEnum

ALPHA = 0.05


class Claim(StrEnum):
    GREATER = "A > B"
    EQUIVALENT = "A ≈ B"
    NONE = "none"  # compare's rows: no expected direction


REPRODUCED = "reproduced"
SAME_DIRECTION = "same direction, not significant"
OPPOSITE_DIRECTION = "opposite direction, not significant"
NOT_REPRODUCED = "not reproduced (significant the other way)"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE_N = "not testable (n < 2)"
NOT_TESTABLE_SPREAD = "not testable (no seed-to-seed spread)"
HIGHER, LOWER = "higher", "lower"


def equivalent_word(margin: float) -> str:
    return f"equivalent within ±{margin:g}"


def differs_word(diff: float) -> str:
    return f"not reproduced (A {'>' if diff > 0 else '<'} B, significant)"


def status(
    claim: Claim,
    *,
    n: int,
    diff: float,
    p_holm: float,
    tost_p_holm: float = math.nan,
    margin: float = math.nan,
    alpha: float = ALPHA,
) -> str:
    """The status word of one comparison. `p_holm` is the difference test's Holm-adjusted p,
    `tost_p_holm` the TOST's (NaN without a margin); "significant" means adjusted p < alpha."""
    if n < 2:
        return NOT_TESTABLE_N
    if math.isnan(p_holm):
        return NOT_TESTABLE_SPREAD
    different = p_holm < alpha and diff != 0
    equivalent = tost_p_holm < alpha  # False for NaN
    if claim == Claim.GREATER:
        return _greater(diff, different, equivalent, margin)
    if claim == Claim.EQUIVALENT:
        if equivalent:
            return equivalent_word(margin)
        return differs_word(diff) if different else INCONCLUSIVE
    if different:
        return HIGHER if diff > 0 else LOWER
    return equivalent_word(margin) if equivalent else INCONCLUSIVE


def _greater(diff: float, different: bool, equivalent: bool, margin: float) -> str:
    """Claim A > B: a significant difference decides; else equivalence; else the direction."""
    if different:
        return REPRODUCED if diff > 0 else NOT_REPRODUCED
    if equivalent:
        return f"{equivalent_word(margin)} (no difference shown)"
    if diff == 0:
        return INCONCLUSIVE
    return SAME_DIRECTION if diff > 0 else OPPOSITE_DIRECTION


def reproduces(claim: Claim, word: str) -> bool:
    """Whether a status word is the claim shown: A > B reproduced, or A ≈ B equivalent."""
    if claim == Claim.GREATER:
        return word == REPRODUCED
    return claim == Claim.EQUIVALENT and word.startswith("equivalent within")

"""A comparison's report-wide notes: the conditions that would otherwise repeat on many rows,
each said once (untested comparisons, missing oracle or dense runs, skipped trials, cells and
oracle groups the winner rule gives no winner)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from studies.results.runs import (
    ORACLE_KEY,
    SEED_KEY,
    oracle_pool,
    search_pool,
    tag_disagreements,
    without_winner,
)
from trainables.keys import Metric, Role


def skipped_note(tidy: pd.DataFrame) -> list[str]:
    trials = tidy[tidy["role"].isin([Role.SEARCH, Role.BASELINE, Role.ORACLE])]
    skipped = int((~trials["usable"]).sum())
    if not skipped:
        return []
    return [f"{skipped} trial run(s) skipped: failed, killed, unfinished or no final_test_acc"]


def winner_notes(tidy: pd.DataFrame, oracle_tidy: pd.DataFrame) -> list[str]:
    """Where the winner rule (runs.winner_rows) has no winner, and where an oracle's own winner
    tags disagree with it (`oracle_tidy`: the runs the oracle columns come from)."""
    counts = {
        "(method, target, budget, schedule, seed) cell(s) without a winner: none of their "
        "finished trials has a final validation accuracy": without_winner(
            search_pool(tidy), SEED_KEY
        ),
        "oracle (method, target, budget, seed, round) group(s) without a winner: none of their "
        "finished runs has a final validation accuracy": without_winner(
            oracle_pool(oracle_tidy), ORACLE_KEY
        ),
    }
    notes = [f"{len(cells)} {text}" for text, cells in counts.items() if len(cells)]
    differ = tag_disagreements(oracle_tidy)
    if differ:
        notes.append(
            f"{differ} oracle group-round(s) whose oracle_winner tag is not on the validation "
            "rule's winner (tagged under an older rule): the rule's winner is reported"
        )
    return notes


def global_notes(
    table: pd.DataFrame,
    rounds: pd.DataFrame,
    oracle: pd.DataFrame,
    dense: pd.Series,
    selected: pd.DataFrame,
    fetch: object,
    group: Sequence[str] = ("method", "target", "budget", "round"),
) -> list[str]:
    """The notes of a report's tables (`group`: the columns a reference is chosen within)."""
    notes = []
    if dense.empty:
        notes.append("no dense (pretrain) runs with dense_test_acc: dense columns left out")
    both = not rounds.empty
    for frame, label in ((table, "main table: " if both else ""), (rounds, "per-round table: ")):
        notes += table_notes(
            frame, label, list(group), has_oracle=not oracle.empty, has_dense=not dense.empty
        )
    if fetch is None and (selected["rounds"] > 1).any():
        notes.append("iterative trials but no metric histories given: no per-round table")
    return notes


def table_notes(
    table: pd.DataFrame, label: str, group: list[str], *, has_oracle: bool, has_dense: bool
) -> list[str]:
    """The conditions that would otherwise repeat on many rows, counted once."""
    if table.empty:
        return []
    compared = ~table["reference"].astype(bool) & (table["ref_schedule"] != "")
    untested = compared & table["p_value"].isna()
    few = untested & (table["n_test"] < 2)
    counts = {
        "row(s) with fewer than 2 seeds: no std": int((table["n"] < 2).sum()),
        "comparison(s) with fewer than 2 seeds to test (pairs, or values on a side): Δ without "
        "CI; p, p (Holm), TOST, effect blank": int(few.sum()),
        "comparison(s) with no seed-to-seed spread (identical per-seed differences, or zero "
        "variance on both sides): no test; CI, p, p (Holm), TOST, effect blank": (
            int((untested & ~few).sum())
        ),
        "comparison(s) unpaired (no seed in common with the reference): Welch": int(
            (compared & (table["design"] == "unpaired")).sum()
        ),
        "group(s) without any validation accuracy: no reference, no tests": (
            table[table["ref_schedule"] == ""].groupby(group, dropna=False).ngroups
        ),
        "row(s) without an oracle run of their method/target/budget/round (shown as –)": (
            int(table["oracle_acc"].isna().sum()) if has_oracle else 0
        ),
        "row(s) without a dense run of their seeds (shown as –)": (
            int(table["dense_acc"].isna().sum()) if has_dense else 0
        ),
    }
    return [f"{label}{count} {text}" for text, count in counts.items() if count]


def nothing_to_compare(tidy: pd.DataFrame) -> str:
    roles = tidy["role"]
    if (roles == Role.ORACLE).any() and not roles.isin([Role.SEARCH, Role.BASELINE]).any():
        return (
            "compare: the study holds only oracle runs; compare a search study against it "
            "with --oracle NAME"
        )
    return (
        "compare: the study has no finished search or baseline run with a final test "
        f"accuracy ({Metric.FINAL_TEST_ACC}) yet; wait for it or `prunetune resume` it"
    )

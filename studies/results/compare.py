"""Compare a study's retraining schedules: tables and statistics over its trials.

Input: a study's runs frame (studies.results.runs reads it into tidy columns). Pure
pandas/scipy: nothing here talks to MLflow; per-round metric histories come through a
``HistoryFetch`` callable so tests can pass a dict.

Selection follows docs/science.md §4: per (method, target, budget, schedule, seed) the trial with the
best final *validation* accuracy is kept (that is where a sampled max LR gets chosen), and its
final *test* accuracy is what the tables report. The oracle's max LR is chosen the same way, per
(method, target, epochs, seed, round), by the oracle itself (tag ``oracle_winner``).

Statistics (studies.results.stats): within each group (method, target, budget, round) the
*reference* is the schedule with the best mean validation accuracy (`reference_row`), so test
accuracy never decides what everything is tested against. Each other row gets, on test accuracy
over seeds: Δ = its mean − the reference's (points) with a Welch 95 % CI, Welch's p, and Hedges'
g. The p-values of one report form one family: main and per-round tables together are
Holm-adjusted (`adjust_family`), the conservative reading of "all comparisons of a report"
(an iterative study's last round is a row of both tables, so its tests count twice: erring
on the conservative side rather than matching rows whose accuracies may differ).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from studies.errors import UsageError
from studies.results.runs import (
    oracle_winners,
    select_trials,
    tidy_trials,
)
from studies.results.stats import hedges_g, holm, welch, welch_p
from trainables.keys import Metric, Role

__all__ = ["Comparison", "adjust_family", "compare", "reference_row", "welch_p"]

# (run_id, metric key) -> [(step, value), ...]; step = round index for the round_* histories.
HistoryFetch = Callable[[str, str], Sequence[tuple[int, float]]]

GROUP = ["method", "target", "budget", "round"]  # schedules within a group are compared
ROW = [*GROUP, "schedule"]
ROUND_METRICS = {
    Metric.ROUND_TEST_ACC: "test_acc",
    Metric.ROUND_VAL_ACC: "val_acc",
    Metric.ROUND_SPARSITY: "sparsity",
    Metric.ROUND_MAX_LR: "max_lr",
}
PERCENT = 100.0
VAL_TIE_DECIMALS = 9  # mean validation accuracies equal to 1e-9 points are a tie
EFFECT_COLUMNS = ["delta_ref", "delta_ref_low", "delta_ref_high", "p_value", "hedges_g"]
TABLE_COLUMNS = [
    *ROW,
    "role",
    "epochs",
    "n",
    "seeds",
    "test_acc_mean",
    "test_acc_std",
    "val_acc_mean",
    "max_lr",
    "sparsity",
    "oracle_acc",
    "gap_oracle",
    "dense_acc",
    "gap_dense",
    "reference",  # this row is its group's reference (best mean validation accuracy)
    "ref_schedule",  # the group's reference schedule ("" when the group has none)
    "delta_ref",  # mean test acc − the reference's, points
    "delta_ref_low",  # Welch–Satterthwaite 95 % CI of delta_ref
    "delta_ref_high",
    "p_value",  # two-sided Welch t-test against the reference, raw
    "p_holm",  # p_value Holm-adjusted over every test of the report
    "hedges_g",  # bias-corrected standardized difference against the reference
    "note",  # only what is specific to this row; report-wide notes are in Comparison.notes
]


@dataclass
class Comparison:
    """Everything a report needs. Accuracies and gaps are in percent (points)."""

    table: pd.DataFrame  # TABLE_COLUMNS, one row per (method, target, budget, round, schedule)
    rounds: pd.DataFrame  # same columns per round of iterative pruning (empty for one-shot)
    max_lr_rounds: pd.DataFrame  # per round: each schedule's max LR and the oracle's choice
    selected: pd.DataFrame  # the selected trial per SEED_KEY (tidy columns, plus budget)
    oracle: pd.DataFrame  # oracle winners: method, target, epochs, seed, round, accs, max_lr
    notes: list[str] = field(default_factory=list)  # report-wide, each said once
    family_size: int = 0  # the tests Holm adjusts for: every non-NaN p of table and rounds

    @property
    def iterative(self) -> bool:
        return not self.rounds.empty


def compare(
    trials: pd.DataFrame,
    oracle_trials: pd.DataFrame | None = None,
    *,
    fetch: HistoryFetch | None = None,
) -> Comparison:
    """Tables of a study; `oracle_trials` (another study's runs) replaces the study's own oracle."""
    tidy = tidy_trials(trials)
    notes = _skipped_note(tidy)
    selected = select_trials(tidy)
    if selected.empty:
        raise UsageError(_nothing_to_compare(tidy))
    oracle = oracle_winners(tidy if oracle_trials is None else tidy_trials(oracle_trials))
    dense = dense_by_seed(tidy)
    if dense.empty and oracle_trials is not None:
        dense = dense_by_seed(tidy_trials(oracle_trials))
    table = build_table(with_budgets(selected), oracle, dense)
    per_round = round_trials(selected, fetch) if fetch is not None else pd.DataFrame()
    rounds = build_table(with_budgets(per_round), oracle, dense) if len(per_round) else _empty()
    max_lrs = max_lr_by_round(with_budgets(per_round), oracle) if len(per_round) else _empty()
    (table, rounds), family = adjust_family([table, rounds])
    notes += _global_notes(table, rounds, oracle, dense, selected, fetch)
    return Comparison(table, rounds, max_lrs, with_budgets(selected), oracle, notes, family)


def dense_by_seed(tidy: pd.DataFrame) -> pd.Series:
    """Dense (pretrain) test accuracy per seed, as a fraction. Trials log the accuracy of the
    dense model they started from too: a study that reused another's cached dense models has no
    pretrain run of its own."""
    known = tidy[tidy["dense_test_acc"].notna()]
    pre = known[known["role"] == Role.PRETRAIN]
    return (pre if not pre.empty else known).groupby("seed")["dense_test_acc"].mean()


def with_budgets(selected: pd.DataFrame) -> pd.DataFrame:
    """Add `budget`: a trial's retraining epochs; baselines join every budget of their target.

    Scratch-E/B train for their own epoch counts, so they would never share a group with the
    retrained schedules; placing them in each budget group of the same (method, target) lets
    the table test them against the reference schedule at that budget (docs/science.md §5, finding 3).
    """
    if selected.empty:
        return selected.assign(budget=pd.Series(dtype=float))
    base = selected["role"] == Role.BASELINE
    retrained = selected[~base].assign(budget=selected.loc[~base, "epochs"])
    budgets = retrained[["method", "target", "budget"]].drop_duplicates()
    scratch = selected[base].merge(budgets, on=["method", "target"], how="left")
    scratch["budget"] = scratch["budget"].fillna(scratch["epochs"])
    return pd.concat([retrained, scratch], ignore_index=True)


def round_trials(selected: pd.DataFrame, fetch: HistoryFetch) -> pd.DataFrame:
    """One row per (selected iterative trial, round) from its round_* metric histories."""
    rows = []
    keep = ["run_id", "role", "schedule", "method", "target", "epochs", "rounds", "seed"]
    for trial in selected[selected["rounds"] > 1][keep].to_dict("records"):
        per_round: dict[int, dict[str, float]] = {}
        for key, column in ROUND_METRICS.items():
            for step, value in fetch(trial["run_id"], key):  # later duplicates (retries) win
                per_round.setdefault(int(step), {})[column] = float(value)
        rows += [{**trial, "round": float(r), **v} for r, v in sorted(per_round.items())]
    frame = pd.DataFrame(rows, columns=[*keep, "round", *ROUND_METRICS.values()])
    return frame.dropna(subset=["test_acc"]).reset_index(drop=True)


# --- the table ------------------------------------------------------------------------------


def build_table(sel: pd.DataFrame, oracle: pd.DataFrame, dense: pd.Series) -> pd.DataFrame:
    """Mean ± std over seeds per ROW, gaps to oracle and dense, and each row against its
    group's reference (`against_reference`). p_holm stays NaN here: its family is the whole
    report, so `compare` fills it in with `adjust_family`."""
    rows = []
    for key, g in sel.groupby(ROW, sort=True, dropna=False):
        acc = PERCENT * g["test_acc"].to_numpy(float)
        notes: list[str] = []
        row = dict(zip(ROW, key, strict=True))
        row.update(
            role=g["role"].iloc[0],
            epochs=g["epochs"].median(),
            n=len(acc),
            seeds=tuple(sorted(int(s) for s in g["seed"].dropna())),
            test_acc_mean=acc.mean(),
            test_acc_std=acc.std(ddof=1) if len(acc) > 1 else np.nan,
            val_acc_mean=PERCENT * g["val_acc"].mean(),
            max_lr=g["max_lr"].median(),
            sparsity=g["sparsity"].mean(),
            _values=acc,
            _notes=notes,
        )
        row["oracle_acc"] = _oracle_acc(row, oracle, notes)
        row["dense_acc"] = _dense_acc(row["seeds"], dense, notes)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return _empty()
    table["gap_oracle"] = table["test_acc_mean"] - table["oracle_acc"]
    table["gap_dense"] = table["test_acc_mean"] - table["dense_acc"]
    table = against_reference(table)
    table["p_holm"] = np.nan
    table["note"] = table["_notes"].map("; ".join)
    return table[TABLE_COLUMNS]


def reference_row(group: pd.DataFrame) -> Hashable | None:
    """The index of a group's reference row: the best mean validation accuracy over seeds of
    the selected trials. Ties (equal to 1e-9 points) go to the row with more seeds (its mean is
    the better estimate), then to the alphabetically first schedule, so the choice is
    reproducible and never looks at test accuracy. None when no row has a validation accuracy.
    """
    ranked = group[group["val_acc_mean"].notna()]
    if ranked.empty:
        return None
    ranked = ranked.assign(_val=ranked["val_acc_mean"].round(VAL_TIE_DECIMALS))
    ranked = ranked.sort_values(
        ["_val", "n", "schedule"], ascending=[False, False, True], kind="stable"
    )
    return ranked.index[0]


def against_reference(table: pd.DataFrame) -> pd.DataFrame:
    """Per GROUP mark the reference (`reference_row`) and compare every other row with it on
    test accuracy over seeds: Δ with its Welch 95 % CI, Welch's p and Hedges' g (stats.py)."""
    table = table.assign(reference=False, ref_schedule="")
    table[EFFECT_COLUMNS] = np.nan
    for _, index in table.groupby(GROUP, sort=False, dropna=False).groups.items():
        ref = reference_row(table.loc[index])
        if ref is None:
            continue
        table.loc[index, "ref_schedule"] = table.at[ref, "schedule"]
        table.at[ref, "reference"] = True
        tied = table.loc[index, "val_acc_mean"].round(VAL_TIE_DECIMALS)
        if (tied == round(table.at[ref, "val_acc_mean"], VAL_TIE_DECIMALS)).sum() > 1:
            table.at[ref, "_notes"].append("reference by tie rule: equal val, more seeds, name")
        ref_values = table.at[ref, "_values"]
        for i in index.drop(ref):
            values = table.at[i, "_values"]
            w = welch(values, ref_values)
            effects = [w.diff, w.low, w.high, w.p, hedges_g(values, ref_values)]
            table.loc[i, EFFECT_COLUMNS] = effects
    return table


def adjust_family(tables: Sequence[pd.DataFrame]) -> tuple[list[pd.DataFrame], int]:
    """Holm-adjust the `p_value`s of all `tables` as one family (all tests of one report) into
    `p_holm`; NaN p-values (untested rows, references) are no members. Returns the tables and
    the family size m."""
    p_values = [t["p_value"].to_numpy(float) for t in tables]
    adjusted = holm(np.concatenate(p_values)) if p_values else np.array([])
    out, start = [], 0
    for table, p in zip(tables, p_values, strict=True):
        out.append(table.assign(p_holm=adjusted[start : start + len(p)]))
        start += len(p)
    return out, int(np.count_nonzero(~np.isnan(adjusted)))


def _oracle_acc(row: dict, oracle: pd.DataFrame, notes: list[str]) -> float:
    """Oracle test acc for the row's (method, target, budget, round), over the row's seeds.
    A missing oracle is said once per report (`_global_notes`), not on every row."""
    match = oracle[
        (oracle["method"] == row["method"])
        & (oracle["target"] == row["target"])
        & (oracle["epochs"] == row["budget"])
        & (oracle["round"] == row["round"])
    ]
    if match.empty:
        return np.nan
    same = match[match["seed"].isin(row["seeds"])]
    if same.empty:
        notes.append(f"oracle from other seeds {_seeds(match['seed'])}")
        same = match
    elif len(same) < len(row["seeds"]):
        notes.append(f"oracle for seeds {_seeds(same['seed'])} only")
    return PERCENT * same["test_acc"].mean()


def _dense_acc(seeds: tuple[int, ...], dense: pd.Series, notes: list[str]) -> float:
    present = [s for s in seeds if s in dense.index]
    if not present:
        return np.nan
    if len(present) < len(seeds):
        notes.append(f"dense for seeds {_seeds(present)} only")
    return PERCENT * float(dense.loc[present].mean())


def _seeds(values) -> str:
    return ",".join(str(int(s)) for s in sorted(set(values)))


# --- per-round max LR -----------------------------------------------------------------------


def max_lr_by_round(per_round: pd.DataFrame, oracle: pd.DataFrame) -> pd.DataFrame:
    """Per (method, target, budget, round): each schedule's max LR (mean over seeds) and the
    oracle's chosen max LR (mean and the per-seed values)."""
    key = ["method", "target", "budget", "round"]
    lrs = per_round.dropna(subset=["max_lr"])
    wide = lrs.pivot_table(index=key, columns="schedule", values="max_lr", aggfunc="mean")
    wide.columns = [f"max_lr_{c}" for c in wide.columns]
    table = wide.join(per_round.groupby(key)["sparsity"].mean()).reset_index()
    chosen = oracle.dropna(subset=["max_lr"]).rename(columns={"epochs": "budget"})
    picked = chosen.groupby(key).agg(
        oracle_max_lr=("max_lr", "mean"),
        oracle_max_lr_seeds=("max_lr", lambda s: ", ".join(f"{v:.3g}" for v in s)),
    )
    return table.merge(picked.reset_index(), on=key, how="left")


# --- notes: each said once per report ------------------------------------------------------


def _skipped_note(tidy: pd.DataFrame) -> list[str]:
    trials = tidy[tidy["role"].isin([Role.SEARCH, Role.BASELINE, Role.ORACLE])]
    skipped = int((~trials["usable"]).sum())
    if not skipped:
        return []
    return [f"{skipped} trial run(s) skipped: failed, killed, unfinished or no final_test_acc"]


def _global_notes(table, rounds, oracle, dense, selected, fetch) -> list[str]:
    notes = []
    if dense.empty:
        notes.append("no dense (pretrain) runs with dense_test_acc: dense columns left out")
    both = not rounds.empty
    for frame, label in ((table, "main table: " if both else ""), (rounds, "per-round table: ")):
        notes += _table_notes(frame, label, has_oracle=not oracle.empty, has_dense=not dense.empty)
    if fetch is None and (selected["rounds"] > 1).any():
        notes.append("iterative trials but no metric histories given: no per-round table")
    return notes


def _table_notes(table: pd.DataFrame, label: str, *, has_oracle: bool, has_dense: bool):
    """The conditions that would otherwise repeat on many rows, counted once."""
    if table.empty:
        return []
    is_ref = table["reference"].astype(bool)
    ref_n = table["n"].where(is_ref).groupby([table[c] for c in GROUP], dropna=False)
    untested = ~is_ref & (table["ref_schedule"] != "") & table["p_value"].isna()
    few = untested & ((table["n"] < 2) | (ref_n.transform("max") < 2))
    counts = {
        "row(s) with fewer than 2 seeds: no std": int((table["n"] < 2).sum()),
        "comparison(s) with fewer than 2 seeds on a side: Δ without CI; p, p (Holm), g blank": (
            int(few.sum())
        ),
        "comparison(s) with zero variance in both the row and its reference: no test; "
        "CI, p, p (Holm), g blank": int((untested & ~few).sum()),
        "group(s) without any validation accuracy: no reference, no tests": (
            table[table["ref_schedule"] == ""].groupby(GROUP, dropna=False).ngroups
        ),
        "row(s) without an oracle run of their method/target/budget/round (shown as –)": (
            int(table["oracle_acc"].isna().sum()) if has_oracle else 0
        ),
        "row(s) without a dense run of their seeds (shown as –)": (
            int(table["dense_acc"].isna().sum()) if has_dense else 0
        ),
    }
    return [f"{label}{count} {text}" for text, count in counts.items() if count]


def _nothing_to_compare(tidy: pd.DataFrame) -> str:
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


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=TABLE_COLUMNS)

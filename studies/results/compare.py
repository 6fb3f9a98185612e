"""Compare a study's retraining schedules: tables and statistics over its trials.

Input: a study's runs frame (studies.results.runs reads it into tidy columns). Pure
pandas/scipy: nothing here talks to MLflow; per-round metric histories come through a
``HistoryFetch`` callable so tests can pass a dict.

Selection follows SCIENCE.md §4: per (method, target, budget, schedule, seed) the trial with the
best final *validation* accuracy is kept (that is where a sampled max LR gets chosen), and its
final *test* accuracy is what the tables report. The oracle's max LR is chosen the same way, per
(method, target, epochs, seed, round), by the oracle itself (tag ``oracle_winner``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from studies.errors import UsageError
from studies.results.runs import (
    oracle_winners,
    select_trials,
    tidy_trials,
)
from trainables.keys import Metric, Role

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
    "best",
    "p_value",
    "note",
]


@dataclass
class Comparison:
    """Everything a report needs. Accuracies and gaps are in percent (points)."""

    table: pd.DataFrame  # TABLE_COLUMNS, one row per (method, target, budget, round, schedule)
    rounds: pd.DataFrame  # same columns per round of iterative pruning (empty for one-shot)
    max_lr_rounds: pd.DataFrame  # per round: each schedule's max LR and the oracle's choice
    selected: pd.DataFrame  # the selected trial per SEED_KEY (tidy columns, plus budget)
    oracle: pd.DataFrame  # oracle winners: method, target, epochs, seed, round, accs, max_lr
    notes: list[str] = field(default_factory=list)

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
    notes += _global_notes(table, oracle, dense, selected, fetch)
    return Comparison(table, rounds, max_lrs, with_budgets(selected), oracle, notes)


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
    the table test them against the best schedule at that budget (SCIENCE.md §5, finding 3).
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
    """Mean ± std over seeds per ROW, gaps to oracle and dense, Welch test against the best."""
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
        if len(acc) < 2:
            notes.append("1 seed: no std")
        row["oracle_acc"] = _oracle_acc(row, oracle, notes)
        row["dense_acc"] = _dense_acc(row["seeds"], dense, notes)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return _empty()
    table["gap_oracle"] = table["test_acc_mean"] - table["oracle_acc"]
    table["gap_dense"] = table["test_acc_mean"] - table["dense_acc"]
    table = _against_best(table)
    table["note"] = table["_notes"].map("; ".join)
    return table[TABLE_COLUMNS]


def _against_best(table: pd.DataFrame) -> pd.DataFrame:
    """Mark the best schedule of each group (mean test acc) and Welch-test the others against it."""
    table = table.assign(best=False, p_value=np.nan)
    for _, index in table.groupby(GROUP, sort=False, dropna=False).groups.items():
        best = table.loc[index, "test_acc_mean"].idxmax()
        table.loc[best, "best"] = True
        table.loc[best, "_notes"].insert(0, "best of group")
        for i in index:
            if i == best:
                continue
            p_value = welch_p(table.loc[i, "_values"], table.loc[best, "_values"])
            table.loc[i, "p_value"] = p_value
            if np.isnan(p_value):
                table.loc[i, "_notes"].append("n < 2: no t-test")
    return table


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value; NaN when either side has fewer than 2 values."""
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    with warnings.catch_warnings():  # zero variance on both sides: scipy warns, returns NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _oracle_acc(row: dict, oracle: pd.DataFrame, notes: list[str]) -> float:
    """Oracle test acc for the row's (method, target, budget, round), over the row's seeds."""
    match = oracle[
        (oracle["method"] == row["method"])
        & (oracle["target"] == row["target"])
        & (oracle["epochs"] == row["budget"])
        & (oracle["round"] == row["round"])
    ]
    if match.empty:
        notes.append("no oracle")
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
        notes.append("no dense run")
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


# --- notes ----------------------------------------------------------------------------------


def _skipped_note(tidy: pd.DataFrame) -> list[str]:
    trials = tidy[tidy["role"].isin([Role.SEARCH, Role.BASELINE, Role.ORACLE])]
    skipped = int((~trials["usable"]).sum())
    if not skipped:
        return []
    return [f"{skipped} trial run(s) skipped: failed, killed, unfinished or no final_test_acc"]


def _global_notes(table, oracle, dense, selected, fetch) -> list[str]:
    notes = []
    if oracle.empty:
        notes.append("no oracle runs: oracle_acc and gap_oracle are NaN")
    elif table["oracle_acc"].isna().any():
        notes.append("some groups have no oracle run of the same method/target/epochs/round")
    if dense.empty:
        notes.append("no dense (pretrain) runs with dense_test_acc: gap_dense is NaN")
    single = int((table["n"] < 2).sum())
    if single:
        notes.append(f"{single} row(s) with fewer than 2 seeds: std and Welch p-value are NaN")
    if fetch is None and (selected["rounds"] > 1).any():
        notes.append("iterative trials but no metric histories given: no per-round table")
    return notes


def _nothing_to_compare(tidy: pd.DataFrame) -> str:
    roles = tidy["role"]
    if (roles == Role.ORACLE).any() and not roles.isin([Role.SEARCH, Role.BASELINE]).any():
        return (
            "compare: the study holds only oracle runs; compare a search study against it "
            "with --oracle NAME"
        )
    return (
        "compare: the study has no finished search or baseline run with "
        "metrics.final_test_acc yet; wait for it or `prunetune resume` it"
    )


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=TABLE_COLUMNS)

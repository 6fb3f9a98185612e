"""Compare a study's retraining schedules: tables and statistics over its trials.

Input: a study's runs frame (studies.results.runs reads it into tidy columns). Pure
pandas/scipy: nothing here talks to MLflow; per-round metric histories come through a
``HistoryFetch`` callable so tests can pass a dict.

Selection follows docs/science.md §4: per (method, target, budget, schedule, seed) the trial with
the best final *validation* accuracy is kept (that is where a sampled max LR gets chosen), and
its final *test* accuracy is what the tables report. The oracle's max LR is chosen by the same
rule (studies.results.runs.winner_rows), per (method, target, epochs, seed, round).

Statistics (docs/science.md §9): in each group (method, target, budget, round) the *reference*
is the schedule with the best mean validation accuracy (`reference_row`), so test accuracy never
decides what everything is tested against. Every other row is compared with it on test accuracy
by studies.results.contrast: paired by seed (one study's rows share each seed's dense model and
data split; Welch only where no seed is shared), Δ with its 95 % CI, p, Wilcoxon's p from 6
pairs on, the TOST p for the study's equivalence margin, dz or Hedges' g. The gaps to the oracle
and the dense model get 95 % CIs the same way. All difference tests and TOSTs of a report (main
and per-round tables: an iterative study's last round counts twice, the conservative side) are
one Holm family (`adjust_family`), and studies.results.verdict gives each row its status word.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from studies.errors import UsageError
from studies.results.contrast import PAIRED, contrast
from studies.results.notes import global_notes, nothing_to_compare, skipped_note, winner_notes
from studies.results.runs import oracle_winners, select_trials, tidy_trials
from studies.results.stats import holm, welch_p
from studies.results.verdict import Claim, status
from studies.spec.model import DEFAULT_EQUIVALENCE_MARGIN
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
EFFECT_COLUMNS = [
    "delta_ref",
    "delta_ref_low",
    "delta_ref_high",
    "p_value",
    "wilcoxon_p",
    "tost_p",
    "hedges_g",
    "dz",
    "n_test",
]
TABLE_COLUMNS = [
    *ROW,
    "role",
    "epochs",
    "n",
    "seeds",
    "test_acc_mean",
    "test_acc_std",  # NaN with one seed: no spread is known
    "val_acc_mean",
    "max_lr",
    "sparsity",
    "oracle_acc",
    "gap_oracle",  # mean − the oracle's, paired by seed where the seeds match
    "gap_oracle_low",  # its 95 % CI
    "gap_oracle_high",
    "dense_acc",
    "gap_dense",  # mean − the dense model's, paired by seed
    "gap_dense_low",
    "gap_dense_high",
    "reference",  # this row is its group's reference (best mean validation accuracy)
    "ref_schedule",  # the group's reference schedule ("" when the group has none)
    "design",  # paired (by seed) or unpaired (Welch); "" on references
    "n_test",  # pairs (paired) or the smaller side (unpaired) the test rests on
    "delta_ref",  # mean test acc − the reference's, points
    "delta_ref_low",  # its 95 % CI (paired t, or Welch–Satterthwaite)
    "delta_ref_high",
    "p_value",  # two-sided paired t-test (Welch where unpaired) against the reference, raw
    "p_holm",  # p_value Holm-adjusted over every test of the report
    "wilcoxon_p",  # Wilcoxon signed-rank, raw; only paired rows with ≥ 6 pairs
    "tost_p",  # TOST for ±margin points, raw
    "tost_p_holm",  # tost_p Holm-adjusted in the same family
    "hedges_g",  # unpaired rows: bias-corrected standardized difference
    "dz",  # paired rows: mean difference / SD of the differences
    "status",  # studies.results.verdict's word against the reference (no claimed direction)
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
    family_size: int = 0  # the tests Holm adjusts for: every non-NaN p and TOST p of the report
    margin: float = DEFAULT_EQUIVALENCE_MARGIN  # the TOSTs' equivalence margin, points

    @property
    def iterative(self) -> bool:
        return not self.rounds.empty


def compare(
    trials: pd.DataFrame,
    oracle_trials: pd.DataFrame | None = None,
    *,
    fetch: HistoryFetch | None = None,
    margin: float = DEFAULT_EQUIVALENCE_MARGIN,
) -> Comparison:
    """Tables of a study; `oracle_trials` (another study's runs) replaces the study's own oracle;
    `margin` (points) is the TOSTs' equivalence margin (the study's compare.equivalence_margin)."""
    tidy = tidy_trials(trials)
    oracle_tidy = tidy if oracle_trials is None else tidy_trials(oracle_trials)
    notes = skipped_note(tidy) + winner_notes(tidy, oracle_tidy)
    selected = select_trials(tidy)
    if selected.empty:
        raise UsageError(nothing_to_compare(tidy))
    oracle = oracle_winners(oracle_tidy)
    dense = dense_by_seed(tidy)
    if dense.empty and oracle_trials is not None:
        dense = dense_by_seed(tidy_trials(oracle_trials))
    table = build_table(with_budgets(selected), oracle, dense, margin)
    per_round = round_trials(selected, fetch) if fetch is not None else pd.DataFrame()
    rounds = _empty()
    if len(per_round):
        rounds = build_table(with_budgets(per_round), oracle, dense, margin)
    max_lrs = max_lr_by_round(with_budgets(per_round), oracle) if len(per_round) else _empty()
    (table, rounds), family = adjust_family([table, rounds], margin)
    notes += global_notes(table, rounds, oracle, dense, selected, fetch, GROUP)
    return Comparison(
        table, rounds, max_lrs, with_budgets(selected), oracle, notes, family, margin
    )


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
    the table test them against the reference schedule at that budget (docs/science.md §5,
    finding 3).
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


def build_table(
    sel: pd.DataFrame,
    oracle: pd.DataFrame,
    dense: pd.Series,
    margin: float = DEFAULT_EQUIVALENCE_MARGIN,
) -> pd.DataFrame:
    """Mean ± std over seeds per ROW, gaps to oracle and dense with their CIs, and each row
    against its group's reference (`against_reference`). p_holm and the status stay empty here:
    the family is the whole report, so `compare` fills them in with `adjust_family`."""
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
            _by_seed=(PERCENT * g.groupby("seed")["test_acc"].mean()).to_dict(),
            _notes=notes,
        )
        row.update(_gap("oracle", row, _oracle_by_seed(row, oracle, notes)))
        row.update(_gap("dense", row, _dense_by_seed(row["seeds"], dense, notes)))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return _empty()
    table = against_reference(table, margin)
    table[["p_holm", "tost_p_holm"]] = np.nan
    table["status"] = ""
    table["note"] = table["_notes"].map("; ".join)
    return table[TABLE_COLUMNS]


def _gap(name: str, row: dict, other: dict[float, float]) -> dict[str, float]:
    """The row's mean minus `other`'s ({seed: acc %}), paired by seed where the seeds match,
    with its 95 % CI: {name}_acc, gap_{name}, gap_{name}_low, gap_{name}_high."""
    if not other:
        return {f"{name}_acc": np.nan, f"gap_{name}": np.nan} | {
            f"gap_{name}_{end}": np.nan for end in ("low", "high")
        }
    c = contrast(row["_by_seed"], other)
    return {
        f"{name}_acc": c.mean("b"),
        f"gap_{name}": c.diff,
        f"gap_{name}_low": c.low,
        f"gap_{name}_high": c.high,
    }


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


def against_reference(
    table: pd.DataFrame, margin: float = DEFAULT_EQUIVALENCE_MARGIN
) -> pd.DataFrame:
    """Per GROUP mark the reference (`reference_row`) and compare every other row with it on
    test accuracy over seeds, paired by seed where they share seeds (studies.results.contrast):
    Δ with its 95 % CI, p, Wilcoxon's p, the TOST p for ±`margin`, and dz or Hedges' g."""
    table = table.assign(reference=False, ref_schedule="", design="")
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
        for i in index.drop(ref):
            c = contrast(table.at[i, "_by_seed"], table.at[ref, "_by_seed"], margin=margin)
            paired = c.design == PAIRED
            table.loc[i, EFFECT_COLUMNS] = [
                c.diff, c.low, c.high, c.p, c.wilcoxon_p, c.tost_p,
                np.nan if paired else c.effect, c.effect if paired else np.nan, c.n,
            ]  # fmt: skip
            table.at[i, "design"] = c.design
            if c.dropped:
                table.at[i, "_notes"].append(
                    f"paired on seeds {_seeds(c.seeds)}; left out {_seeds(c.dropped)}"
                )
    return table


def adjust_family(
    tables: Sequence[pd.DataFrame], margin: float = DEFAULT_EQUIVALENCE_MARGIN
) -> tuple[list[pd.DataFrame], int]:
    """Holm-adjust every `p_value` and `tost_p` of all `tables` as one family (all tests of one
    report) into `p_holm` and `tost_p_holm`, then give each tested row its status word; NaN
    p-values (untested rows, references) are no members. Returns the tables and the family
    size m."""
    columns = ("p_value", "tost_p")
    p_values = [t[c].to_numpy(float) for t in tables for c in columns]
    adjusted = holm(np.concatenate(p_values)) if p_values else np.array([])
    out, start = [], 0
    for table in tables:
        adj = {}
        for c in columns:
            adj[c] = adjusted[start : start + len(table)]
            start += len(table)
        adjusted_table = table.assign(p_holm=adj["p_value"], tost_p_holm=adj["tost_p"])
        out.append(_with_status(adjusted_table, margin))
    return out, int(np.count_nonzero(~np.isnan(adjusted)))


def _with_status(table: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Each tested row's word (verdict.status, no claimed direction); blank on references."""
    words = [
        ""
        if r.reference or r.ref_schedule == "" or pd.isna(r.delta_ref)
        else status(
            Claim.NONE,
            n=int(r.n_test),
            diff=r.delta_ref,
            p_holm=r.p_holm,
            tost_p_holm=r.tost_p_holm,
            margin=margin,
        )
        for r in table.itertuples(index=False)
    ]
    return table.assign(status=pd.Series(words, index=table.index, dtype=object))


def _oracle_by_seed(row: dict, oracle: pd.DataFrame, notes: list[str]) -> dict[float, float]:
    """Oracle test acc (%) per seed for the row's (method, target, budget, round): the row's
    seeds, else (noted) the oracle's other seeds. A missing oracle is said once per report
    (notes.global_notes), not on every row."""
    match = oracle[
        (oracle["method"] == row["method"])
        & (oracle["target"] == row["target"])
        & (oracle["epochs"] == row["budget"])
        & (oracle["round"] == row["round"])
    ]
    if match.empty:
        return {}
    same = match[match["seed"].isin(row["seeds"])]
    if same.empty:
        notes.append(f"oracle from other seeds {_seeds(match['seed'])}")
        same = match
    elif len(same) < len(row["seeds"]):
        notes.append(f"oracle for seeds {_seeds(same['seed'])} only")
    return (PERCENT * same.groupby("seed")["test_acc"].mean()).to_dict()


def _dense_by_seed(
    seeds: tuple[int, ...], dense: pd.Series, notes: list[str]
) -> dict[float, float]:
    present = [s for s in seeds if s in dense.index]
    if not present:
        return {}
    if len(present) < len(seeds):
        notes.append(f"dense for seeds {_seeds(present)} only")
    return {float(s): PERCENT * float(dense.loc[s]) for s in present}


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


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=TABLE_COLUMNS)

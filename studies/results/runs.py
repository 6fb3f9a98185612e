"""A study's runs as one tidy frame, and the one way a winner is chosen.

This is the only module that reads MLflow's columns (``tags.*``, ``params.*``, ``metrics.*`` of
`trainables.query.runs_dataframe`, named in `trainables.keys`). Everything above it — `show`,
`compare`, the oracle — works on the tidy frame: one typed column per field, floats as floats.

One rule picks every winner (`winner_rows`, docs/science.md §4): the search's trial per cell and
seed (`select_trials`: what `show`, `compare` and the study's summary report), the oracle's per
group and round (`oracle_winner_rows`: what the oracle tags and chains, and what `compare`
reports), the LR curve a plot draws. Test accuracy never leaks into it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from studies.session.records import StudyRecord
from trainables.config import group_key
from trainables.keys import Metric, Outcome, Param, Role, RunStatus, Tag, metric, param, tag
from trainables.query import runs_dataframe
from trainables.recipe import PRUNED

# Per (method, target, budget, schedule, seed) one selected trial: where a sampled max LR is
# chosen.
SEED_KEY = ["method", "target", "epochs", "schedule", "seed"]
GROUP_KEY = ["method", "target", "epochs", "seed"]  # the oracle picks a winner per group
ORACLE_KEY = [*GROUP_KEY, "round"]  # … in each round
WINNER_TIE_DECIMALS = 9  # final validation accuracies equal to 1e-9 are a tie
_UNFINISHED = (RunStatus.FAILED, RunStatus.KILLED, RunStatus.RUNNING)
log = logging.getLogger(__name__)


def study_runs(record: StudyRecord) -> pd.DataFrame:
    """Every nested run of the study from MLflow (trials and dense pretraining), raw columns."""
    return runs_dataframe(record.tracking_uri, record.experiment_id, record.parent_run_id)


def trials_frame(record: StudyRecord) -> pd.DataFrame:
    """The study's trial runs from MLflow (dense pretraining runs left out), raw columns."""
    frame = study_runs(record)
    if frame.empty or tag(Tag.ROLE) not in frame.columns:
        return frame
    return frame[frame[tag(Tag.ROLE)] != Role.PRETRAIN].reset_index(drop=True)


def tidy_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """MLflow columns → one typed column per field; absent columns become ""/NaN."""
    role = _text(frame, tag(Tag.ROLE)).replace("", Role.SEARCH)
    baseline = _text(frame, tag(Tag.BASELINE)).replace("", "scratch")
    config, ratio = _text(frame, tag(Tag.CONFIG)), _text(frame, tag(Tag.RATIO))
    rounds = _number(frame, param(Param.ROUNDS)).fillna(1.0)
    oracle_round = _number(frame, tag(Tag.ROUND)).fillna(1.0)  # "" = one-shot = round 1
    seed = _number(frame, tag(Tag.SEED)).fillna(_number(frame, param(Param.SEED)))
    schedule = _text(frame, tag(Tag.SCHEDULE))
    start = _text(frame, tag(Tag.START)).replace("", PRUNED)
    # What is compared is schedule × start: LRW and weight rewinding share the schedule lrw.
    arm = (schedule + "+" + start).where(start != PRUNED, schedule)
    tidy = pd.DataFrame(
        {
            "run_id": _text(frame, "run_id"),
            "run_name": _text(frame, tag(Tag.RUN_NAME)),
            "role": role,
            "schedule": arm.where(role != Role.BASELINE, baseline),
            "schedule_name": schedule,  # the registered schedule, to rebuild its LR curve
            "start": start,
            "method": _text(frame, tag(Tag.METHOD)),
            "target": config.where(config != "", ratio),
            "epochs": _number(frame, param(Param.EPOCHS)),
            "rounds": rounds,
            "round": oracle_round.where(role == Role.ORACLE, rounds),
            "seed": seed,
            "max_lr": _number(frame, param(Param.MAX_LR)),
            "val_acc": _number(frame, metric(Metric.FINAL_VAL_ACC)),
            "test_acc": _number(frame, metric(Metric.FINAL_TEST_ACC)),
            "sparsity": _number(frame, metric(Metric.SPARSITY)),
            "macs_ratio": _number(frame, metric(Metric.MACS_RATIO)),
            "dense_test_acc": _number(frame, metric(Metric.DENSE_TEST_ACC)),
            "winner": _text(frame, tag(Tag.ORACLE_WINNER)).str.lower() == "true",
            "final_checkpoint": _text(frame, tag(Tag.FINAL_CHECKPOINT)),
            "status": _text(frame, "status"),
            "start_time": _time(frame, "start_time"),  # the run's start: a winner tie-break
        }
    )
    unfinished = tidy["status"].isin(_UNFINISHED) | (
        _text(frame, tag(Tag.STATUS)) == Outcome.RUNNING
    )
    tidy["usable"] = tidy["test_acc"].notna() & ~unfinished
    return tidy


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str)


def _number(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)  # "" → NaN


def _time(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[column], utc=True, errors="coerce")


def winner_rows(frame: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    """The one winner rule (docs/science.md §4): per `key`, the row with the best final
    validation accuracy. A row without one never wins, so a `key` whose rows all lack it has no
    winner (`without_winner` names those). Ties (equal to 1e-9) go to the smaller max LR, then
    the earlier run start, then the smaller run id. Returns the winning rows, all columns."""
    ranked = frame[frame["val_acc"].notna()]
    ranked = ranked.assign(_val=ranked["val_acc"].round(WINNER_TIE_DECIMALS))
    ranked = ranked.assign(_start=_time(ranked, "start_time"))
    ordered = ranked.sort_values(
        ["_val", "max_lr", "_start", "run_id"],
        ascending=[False, True, True, True],
        na_position="last",
        kind="mergesort",
    )
    winners = ordered.drop_duplicates(list(key), keep="first")
    return winners.drop(columns=["_val", "_start"]).reset_index(drop=True)


def without_winner(frame: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    """The `key` values of `frame` that `winner_rows` gives no winner: none of their rows has a
    final validation accuracy. One row per such key, the `key` columns only."""
    key = list(key)
    has_val = frame.assign(_has=frame["val_acc"].notna()).groupby(key, dropna=False)["_has"]
    found = has_val.any().reset_index()
    return found[~found["_has"]][key].reset_index(drop=True)


def search_pool(tidy: pd.DataFrame) -> pd.DataFrame:
    """The trials a search or baseline cell picks from: usable ones of those roles."""
    return tidy[tidy["role"].isin([Role.SEARCH, Role.BASELINE]) & tidy["usable"]]


def select_trials(tidy: pd.DataFrame) -> pd.DataFrame:
    """Per SEED_KEY the search/baseline trial `winner_rows` picks among the usable ones."""
    return winner_rows(search_pool(tidy), SEED_KEY)


def with_group(tidy: pd.DataFrame) -> pd.DataFrame:
    """Add `group`, the unit the oracle picks a winner for (trainables.config.group_key, the key
    a trial looks its start up by)."""
    group = [
        group_key(m, t, int(e), int(s))
        for m, t, e, s in zip(
            tidy["method"], tidy["target"], tidy["epochs"], tidy["seed"], strict=True
        )
    ]
    return tidy.assign(group=pd.Series(group, index=tidy.index, dtype=object))


def oracle_pool(tidy: pd.DataFrame) -> pd.DataFrame:
    """The runs an oracle group picks from in each round: usable oracle runs."""
    return tidy[(tidy["role"] == Role.ORACLE) & tidy["usable"]]


def oracle_winner_rows(tidy: pd.DataFrame) -> pd.DataFrame:
    """Per ORACLE_KEY (group and round) the oracle run `winner_rows` picks, all columns and
    `group`, sorted by round and group. The `winner` tag says what the oracle picked when its
    round ended (`tag_disagreements` counts where the two differ)."""
    rows = with_group(winner_rows(oracle_pool(tidy), ORACLE_KEY))
    return rows.sort_values(["round", "group"], ignore_index=True)


def tag_disagreements(tidy: pd.DataFrame) -> int:
    """Oracle (group, round)s whose runs carry a winner tag that is not on the rule's winner
    (a study tagged under an older rule)."""
    tagged = oracle_pool(tidy)
    tagged = tagged[tagged["winner"]][ORACLE_KEY].drop_duplicates()
    picked = oracle_winner_rows(tidy)
    agree = picked[picked["winner"]][ORACLE_KEY].assign(_agree=True)
    merged = tagged.merge(agree, on=ORACLE_KEY, how="left")
    return int(merged["_agree"].isna().sum())


def select_oracle_winners(frame: pd.DataFrame) -> pd.DataFrame:
    """The oracle runs of one round (raw MLflow columns) → one winner per group (`winner_rows`),
    sorted by group; a group without a winner is logged (none of its runs has a final val acc)."""
    tidy = tidy_trials(frame)
    for row in without_winner(oracle_pool(tidy), ORACLE_KEY).itertuples():
        log.warning(
            "oracle round %d: no winner for group %s: none of its finished runs has a final "
            "validation accuracy",
            int(row.round),
            group_key(row.method, row.target, int(row.epochs), int(row.seed)),
        )
    return oracle_winner_rows(tidy)


def oracle_round_winners(record: StudyRecord, k: int) -> pd.DataFrame:
    """Round k's oracle winners of a study, one per (method, target, budget, seed) group."""
    frame = trials_frame(record)
    if frame.empty or tag(Tag.ROUND) not in frame.columns:
        return with_group(tidy_trials(frame.iloc[0:0]))
    return select_oracle_winners(frame[frame[tag(Tag.ROUND)] == str(k)])


def oracle_winners(tidy: pd.DataFrame) -> pd.DataFrame:
    """`compare`'s oracle: per (method, target, epochs, seed, round) the rule's winner."""
    keep = ["method", "target", "epochs", "seed", "round", "val_acc", "test_acc", "max_lr"]
    return oracle_winner_rows(tidy)[keep].reset_index(drop=True)


def final_oracle_winners(tidy: pd.DataFrame) -> pd.DataFrame:
    """An oracle study's result: per (method, target, budget, seed) the winner of its last
    round, as schedule "oracle"."""
    rows = oracle_winner_rows(tidy)
    return rows[rows["round"] == rows["round"].max()].assign(schedule="oracle")


SUMMARY_KEY = ["method", "target", "epochs", "schedule"]
SUMMARY_COLUMNS = [
    *SUMMARY_KEY,
    "n",  # seeds with a selected trial
    "seeds",
    "val_acc_mean",  # %, over seeds of the selected trials
    "val_acc_std",
    "test_acc_mean",
    "test_acc_std",
    "max_lr",  # median over seeds of the selected trials' max LR
    "sparsity",  # fraction
]


def schedule_summary(tidy: pd.DataFrame) -> pd.DataFrame:
    """For `show` and the end of `run`: per (method, target, budget, schedule) the mean ± std
    (ddof 1) over seeds of the trial `select_trials` keeps per seed, accuracies in %, with n, the
    seeds, the median selected max LR and the mean sparsity; sorted by mean validation accuracy
    within each (method, target, budget). One trial per seed, selected on validation: the best
    seed on its own would be a test-set lottery win, not the schedule's accuracy. Baselines are
    named after themselves and sit at their own epochs (they train with the recipe's schedule).
    """
    sel = select_trials(tidy)
    if sel.empty:
        sel = final_oracle_winners(tidy)  # an oracle study has no search trials of its own
    if sel.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    summary = (
        sel.groupby(SUMMARY_KEY, dropna=False)
        .agg(
            n=("run_id", "size"),
            seeds=("seed", lambda s: tuple(sorted(int(v) for v in s.dropna()))),
            val_acc_mean=("val_acc", "mean"),
            val_acc_std=("val_acc", "std"),
            test_acc_mean=("test_acc", "mean"),
            test_acc_std=("test_acc", "std"),
            max_lr=("max_lr", "median"),
            sparsity=("sparsity", "mean"),
        )
        .reset_index()
    )
    percent = ["val_acc_mean", "val_acc_std", "test_acc_mean", "test_acc_std"]
    summary[percent] = 100.0 * summary[percent]
    summary = summary.sort_values(
        ["method", "target", "epochs", "val_acc_mean", "schedule"],
        ascending=[True, True, True, False, True],
        na_position="last",
    )
    return summary[SUMMARY_COLUMNS].reset_index(drop=True)


best_per_schedule = schedule_summary  # the former name, for callers not yet renamed


def missing_cells(tidy: pd.DataFrame) -> pd.DataFrame:
    """The (method, target, epochs, schedule, seed) cells with no selected trial, out of the
    grid the study's own search and baseline runs span (failed and running ones included):
    every method × target × budget × schedule × seed seen among search runs, and every seed of
    each (method, target, epochs, baseline) seen. Meaningful when the targets form a grid (a
    ratio list or configs): with a ratio range every sampled ratio is a target of its own."""
    pool = tidy[tidy["role"].isin([Role.SEARCH, Role.BASELINE])]
    seeds = pd.DataFrame({"seed": sorted(pool["seed"].dropna().unique())})
    search = pool[pool["role"] == Role.SEARCH]
    grid = seeds
    for column in reversed(SUMMARY_KEY):
        values = sorted(v for v in search[column].unique() if not _blank(v))
        grid = pd.DataFrame({column: values}).merge(grid, how="cross")
    baselines = pool[pool["role"] == Role.BASELINE][SUMMARY_KEY].drop_duplicates()
    expected = pd.concat([grid, baselines.merge(seeds, how="cross")], ignore_index=True)
    done = select_trials(tidy)[SEED_KEY].assign(_done=True)
    cells = expected.merge(done, on=SEED_KEY, how="left")
    missing = cells[cells["_done"].isna()][SEED_KEY]
    return missing.sort_values(SEED_KEY).reset_index(drop=True)


def _blank(value: object) -> bool:
    return value == "" or (isinstance(value, float) and np.isnan(value))

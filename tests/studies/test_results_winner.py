"""The one winner rule (docs/science.md §4, studies.results.runs.winner_rows) on hand-built
frames: best final validation accuracy, a missing one never wins, ties by the smaller max LR,
then the earlier start, then the run id; and `show`, `compare`, the oracle and the study's
summary all pick what the rule picks, on one store."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_compare import SPEC, run

from studies.cli.study import _print_summary
from studies.results.compare import compare
from studies.results.runs import (
    ORACLE_KEY,
    SEED_KEY,
    oracle_pool,
    oracle_round_winners,
    schedule_summary,
    search_pool,
    select_oracle_winners,
    select_trials,
    tag_disagreements,
    tidy_trials,
    trials_frame,
    winner_rows,
    without_winner,
)
from studies.results.summary import log_study_summary
from studies.session.records import StudyRecord

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def rows(*specs: tuple[str, float | None, float | None, int | None]) -> pd.DataFrame:
    """Tidy rows of one cell: (run_id, val_acc, max_lr, start second or None), test acc 0.5."""
    return pd.DataFrame(
        {
            "run_id": [s[0] for s in specs],
            "group": "g",
            "val_acc": [np.nan if s[1] is None else s[1] for s in specs],
            "test_acc": 0.5,
            "max_lr": [np.nan if s[2] is None else s[2] for s in specs],
            "start_time": [
                pd.NaT if s[3] is None else T0 + pd.Timedelta(s[3], "s") for s in specs
            ],
        }
    )


def winner(frame: pd.DataFrame) -> list[str]:
    """The run ids `winner_rows` keeps for the single group 'g'."""
    return winner_rows(frame, ["group"])["run_id"].tolist()


def test_best_validation_wins_whatever_the_test_accuracy() -> None:
    """The best final validation accuracy wins; a better test accuracy changes nothing."""
    frame = rows(("a", 0.80, 0.1, 0), ("b", 0.90, 0.1, 1))
    frame.loc[0, "test_acc"] = 0.99
    assert winner(frame) == ["b"]


def test_ties_go_to_the_smaller_max_lr_first() -> None:
    """Equal validation: the smaller max LR wins though it started later and has the later id."""
    assert winner(rows(("a", 0.9, 0.1, 0), ("b", 0.9, 0.05, 9))) == ["b"]


def test_ties_at_one_max_lr_go_to_the_earlier_start_then_the_run_id() -> None:
    """Equal validation and max LR: the earlier start wins over the smaller id; without start
    times the smaller run id wins."""
    assert winner(rows(("a", 0.9, 0.1, 5), ("b", 0.9, 0.1, 2))) == ["b"]
    assert winner(rows(("b", 0.9, 0.1, None), ("a", 0.9, 0.1, None))) == ["a"]


def test_validation_accuracies_equal_to_1e_9_are_a_tie() -> None:
    """0.9 and 0.9 + 1e-12 tie (float noise), so the smaller max LR decides."""
    assert winner(rows(("a", 0.9 + 1e-12, 0.2, 0), ("b", 0.9, 0.1, 1))) == ["b"]


def test_a_trial_without_validation_accuracy_never_wins() -> None:
    """A missing validation accuracy is missing, not −1 and not a tie-break's favourite: the
    trial with one wins, however poor."""
    frame = rows(("a", None, 0.01, 0), ("b", 0.10, 0.5, 9))
    assert winner(frame) == ["b"]


def test_a_group_without_any_validation_accuracy_has_no_winner() -> None:
    """Every trial of group h lacks a validation accuracy: h has no winner, and
    `without_winner` names it (g, which has one, is not named)."""
    frame = pd.concat(
        [
            rows(("a", 0.9, 0.1, 0)),
            rows(("b", None, 0.1, 0), ("c", None, 0.2, 1)).assign(group="h"),
        ]
    )
    assert winner_rows(frame, ["group"])["group"].tolist() == ["g"]
    assert without_winner(frame, ["group"])["group"].tolist() == ["h"]


def test_an_oracle_group_without_a_winner_is_logged_and_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The oracle's round selection: seed 1's runs have no validation accuracy, so only seed 0
    has a winner and the log names seed 1's group."""
    frame = pd.DataFrame(
        [
            run("o0", role="oracle", seed=0, round_="1", val=0.9, max_lr=0.1),
            run("o1", role="oracle", seed=1, round_="1", val=None, test=0.99, max_lr=0.1),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="studies.results.runs"):
        winners = select_oracle_winners(frame)
    assert winners["run_id"].tolist() == ["o0"]
    assert "no winner for group magnitude|0.5|4|1" in caplog.text


# --- one store, every path ------------------------------------------------------------------

# (name, role, schedule, seed, round, val, test, max_lr, start second). Each cell is built so
# that one of the former rules would pick otherwise: a tie only the start decides (c0-late vs
# c0-early, equal max LR), a tie the max LR decides (o1-hi vs o1-lo), a missing validation
# accuracy with the best test (c0-noval, o2-noval), cells none of whose trials has one (clr
# seed 1, oracle seed 1 round 1: the former oracle rule filled −1 and picked one).
RUNS = [
    ("c0-late", "search", "clr", 0, "", 0.90, 0.91, 0.05, 30),
    ("c0-early", "search", "clr", 0, "", 0.90, 0.92, 0.05, 10),
    ("c0-decoy", "search", "clr", 0, "", 0.80, 0.99, 0.50, 5),
    ("c0-noval", "search", "clr", 0, "", None, 0.99, 0.01, 1),
    ("c1-noval", "search", "clr", 1, "", None, 0.95, 0.05, 2),
    ("f0", "search", "ft", 0, "", 0.88, 0.89, None, 3),
    ("f1", "search", "ft", 1, "", 0.87, 0.90, None, 4),
    ("o1-hi", "oracle", "clr", 0, "1", 0.93, 0.97, 0.30, 1),
    ("o1-lo", "oracle", "clr", 0, "1", 0.93, 0.94, 0.03, 50),
    ("o1s1-noval", "oracle", "clr", 1, "1", None, 0.96, 0.03, 6),
    ("o2", "oracle", "clr", 0, "2", 0.91, 0.92, 0.10, 60),
    ("o2-noval", "oracle", "clr", 0, "2", None, 0.99, 0.01, 61),
]
SEARCH_WINNERS = {"c0-early", "f0", "f1"}
ORACLE_WINNERS = {1: {"o1-lo"}, 2: {"o2"}}


def write_store(tmp_path: Path) -> StudyRecord:
    """RUNS as nested runs of a study in a real SQLite MLflow store, and the study's record."""
    from mlflow.tracking import MlflowClient  # MLflow loads for the store tests only

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("w", artifact_location=str(tmp_path / "artifacts"))
    parent = client.create_run(exp, run_name="w").info.run_id
    for name, role, schedule, seed, round_, val, test, max_lr, second in RUNS:
        tags = {"mlflow.parentRunId": parent, "role": role, "schedule": schedule,
                "seed": str(seed), "method": "magnitude", "ratio": "0.5", "round": round_}  # fmt: skip
        start = int((T0 + pd.Timedelta(second, "s")).timestamp() * 1000)
        trial = client.create_run(exp, start_time=start, run_name=name, tags=tags).info.run_id
        client.log_param(trial, "trial.epochs", "4")
        if max_lr is not None:
            client.log_param(trial, "trial.max_lr", str(max_lr))
        if val is not None:
            client.log_metric(trial, "final/val_acc", val)
        client.log_metric(trial, "final/test_acc", test)
        client.set_terminated(trial)
    record = StudyRecord(
        name="w", spec=SPEC, spec_hash="h", workdir=str(tmp_path), tracking_uri=uri,
        experiment_id=exp, parent_run_id=parent, optuna_storage="", ray_storage="",
    )  # fmt: skip
    record.save()
    return record


def names(frame: pd.DataFrame, tidy: pd.DataFrame) -> set[str]:
    """The run names of `frame`'s run ids."""
    return set(tidy.set_index("run_id").loc[frame["run_id"], "run_name"])


def test_show_compare_oracle_and_summary_pick_what_the_rule_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On one store: the rule's winners are the hand-picked ones, and `compare`'s selection and
    oracle, the oracle's per-round winners, `show`'s summary and missing cells and the study
    run's summary metrics are those winners."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    record = write_store(tmp_path)
    frame = trials_frame(record)
    tidy = tidy_trials(frame)
    rule = winner_rows(search_pool(tidy), SEED_KEY)
    assert names(rule, tidy) == SEARCH_WINNERS == names(select_trials(tidy), tidy)
    comparison = compare(frame)
    assert names(comparison.selected, tidy) == SEARCH_WINNERS
    oracle_rule = winner_rows(oracle_pool(tidy), ORACLE_KEY)
    for k, expected in ORACLE_WINNERS.items():
        assert names(oracle_round_winners(record, k), tidy) == expected
        assert names(oracle_rule[oracle_rule["round"] == k], tidy) == expected
    picked = comparison.oracle.sort_values("round")
    assert picked["max_lr"].tolist() == pytest.approx([0.03, 0.10])
    assert picked["test_acc"].tolist() == pytest.approx([0.94, 0.92])
    assert any(
        n.startswith("1 (method, target, budget, schedule, seed)") for n in comparison.notes
    )
    assert any(n.startswith("1 oracle (method") for n in comparison.notes)
    clr = schedule_summary(tidy).set_index("schedule").loc["clr"]
    assert clr["n"] == 1 and clr["test_acc_mean"] == pytest.approx(92.0)
    log_study_summary(record)
    from mlflow.tracking import MlflowClient  # MLflow loads for the store tests only

    logged = MlflowClient(record.tracking_uri).get_run(record.parent_run_id).data.metrics
    assert logged["summary/test_acc_mean.clr.magnitude-0.5-e4"] == pytest.approx(92.0)
    assert logged["summary/test_acc_mean.ft.magnitude-0.5-e4"] == pytest.approx(89.5)
    _print_summary("w", str(tmp_path), frame)
    shown = capsys.readouterr().out
    assert "92.00" in shown and "seed 1" in shown  # clr's winner; its seed-1 cell is missing


def test_tags_under_another_rule_are_counted_not_followed() -> None:
    """An oracle_winner tag on the run the rule does not pick (a study tagged under an older
    rule): the rule's winner is reported and the disagreement counted in a note."""
    frame = pd.DataFrame(
        [
            run("tagged", role="oracle", round_="1", val=0.80, test=0.99, max_lr=0.3, winner=True),
            run("best", role="oracle", round_="1", val=0.90, test=0.90, max_lr=0.1),
            run("s", val=0.9, test=0.9),
        ]
    )
    tidy = tidy_trials(frame)
    assert tag_disagreements(tidy) == 1
    comparison = compare(frame)
    assert comparison.oracle["max_lr"].tolist() == [0.1]
    assert any("oracle_winner tag" in n for n in comparison.notes)

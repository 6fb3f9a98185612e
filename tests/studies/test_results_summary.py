"""The per-schedule summary of `prunetune show` and the end of `run`: mean ± std over seeds of
the validation-selected trials (not the best seed), n, and the cells that have no trial."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_compare import SPEC, known_frame, run, save_record

from studies.cli.study import _print_summary
from studies.results.markdown import summary_text
from studies.results.runs import missing_cells, schedule_summary, tidy_trials
from studies.session.records import StudyRecord

# Per seed the selected clr trial; its best seed (2) is also its best on test: a best-seed
# summary would show 93.00, the honest one 92.00 ± 1.00 over n = 3.
CLR_VAL, CLR_TEST = [0.90, 0.91, 0.92], [0.91, 0.92, 0.93]


def seeds_frame() -> pd.DataFrame:
    """clr and ft over three seeds, with a decoy per seed that only test accuracy would pick."""
    rows = []
    for seed in range(3):
        rows.append(run(f"clr{seed}", seed=seed, val=CLR_VAL[seed], test=CLR_TEST[seed],
                        max_lr=[0.02, 0.05, 0.2][seed]))  # fmt: skip
        rows.append(run(f"decoy{seed}", seed=seed, val=0.5, test=0.99, max_lr=0.9))
        rows.append(run(f"ft{seed}", schedule="ft", seed=seed, val=0.95, test=0.80 + seed / 100))
    return pd.DataFrame(rows)


def summary_row(summary: pd.DataFrame, schedule: str) -> pd.Series:
    """The single summary row of `schedule`."""
    match = summary[summary["schedule"] == schedule]
    assert len(match) == 1, match
    return match.iloc[0]


def test_summary_is_mean_and_std_over_seeds_not_the_best_seed() -> None:
    """clr: n 3, test 92.00 ± 1.00 (not seed 2's 93), val 91, median max LR 0.05."""
    clr = summary_row(schedule_summary(tidy_trials(seeds_frame())), "clr")
    assert clr["n"] == 3 and clr["seeds"] == (0, 1, 2)
    assert clr["test_acc_mean"] == pytest.approx(92.0)
    assert clr["test_acc_std"] == pytest.approx(1.0)
    assert clr["val_acc_mean"] == pytest.approx(91.0)
    assert clr["max_lr"] == pytest.approx(0.05)


def test_summary_is_sorted_by_mean_validation_within_a_group() -> None:
    """ft (val 95) comes before clr (val 91) although clr is far better on test."""
    summary = schedule_summary(tidy_trials(seeds_frame()))
    assert list(summary["schedule"]) == ["ft", "clr"]
    assert summary_row(summary, "ft")["test_acc_mean"] == pytest.approx(81.0)


def test_summary_of_one_seed_has_no_std() -> None:
    """n = 1: the std is NaN and the text shows the mean alone."""
    frame = seeds_frame()
    summary = schedule_summary(tidy_trials(frame[frame["tags.seed"] == "1"]))
    clr = summary_row(summary, "clr")
    assert clr["n"] == 1 and pd.isna(clr["test_acc_std"])
    assert "92.00 ±" not in summary_text(summary, None)


def test_missing_cells_are_derived_from_the_studys_own_grid() -> None:
    """Without ft's seed 2 and scratch-b's seed 1, those two cells are listed; a failed clr
    run at seed 0 leaves no hole since another clr trial finished there."""
    frame = known_frame()
    frame = frame[~frame["run_id"].isin(["ft2", "sb1"])]
    missing = missing_cells(tidy_trials(frame))
    cells = {tuple(r) for r in missing[["schedule", "epochs", "seed"]].itertuples(index=False)}
    assert cells == {("ft", 4.0, 2.0), ("scratch-b", 9.0, 1.0)}
    assert missing_cells(tidy_trials(known_frame())).empty


def test_a_failed_runs_cell_counts_as_missing() -> None:
    """A schedule whose only trial at a seed failed: that seed's cell is missing."""
    frame = pd.concat(
        [seeds_frame(), pd.DataFrame([run("slr0", schedule="slr", status="FAILED", test=None)])],
        ignore_index=True,
    )
    missing = missing_cells(tidy_trials(frame))
    assert list(zip(missing["schedule"], missing["seed"], strict=True)) == [
        ("slr", 0.0),
        ("slr", 1.0),
        ("slr", 2.0),
    ]


def test_summary_text_fits_99_columns_and_lists_missing_cells() -> None:
    """The text shows mean ± std and n, and names the missing cells with their seeds."""
    frame = known_frame()
    tidy = tidy_trials(frame[frame["run_id"] != "ft2"])
    text = summary_text(schedule_summary(tidy), missing_cells(tidy))
    assert all(len(line) <= 99 for line in text.splitlines())
    assert "92.00 ± 1.00" in text
    assert "1 cell(s) without a selected trial" in text
    assert "magnitude 0.5, 4 epochs, ft: seed 2" in text


def test_print_summary_after_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`_print_summary` prints mean ± std over seeds (not the best seed) and the cell check."""
    save_record(tmp_path, "s")
    _print_summary("s", str(tmp_path), seeds_frame(), status="finished")
    out = capsys.readouterr().out
    assert "study 's': 9 trial runs (finished)" in out
    assert "mean ± std over seeds" in out and "92.00 ± 1.00" in out and "93.00" not in out
    assert "every method × target × budget × schedule × seed cell has a finished trial" in out


def test_print_summary_with_a_ratio_range_does_not_list_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A searched ratio range has no grid of cells: the summary says they are not listed."""
    ranged = {**SPEC, "pruning": {**SPEC["pruning"], "ratio": {"low": 0.3, "high": 0.9}}}
    # The record's store must exist (a missing one is an error); outside the workdir, an empty
    # file is not read (only a store inside it has its artifact paths relocated).
    (tmp_path / "mlflow.db").touch()
    workdir = tmp_path / "runs"
    StudyRecord(
        name="r", spec=ranged, spec_hash="h", workdir=str(workdir),
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        experiment_id="1", parent_run_id="p", optuna_storage="", ray_storage="",
    ).save()  # fmt: skip
    _print_summary("r", str(workdir), seeds_frame())
    assert "not listed (the ratio is searched over a range)" in capsys.readouterr().out


def test_no_finished_trial_says_so() -> None:
    """A frame with only failed trials gives an empty summary and a one-line message."""
    frame = pd.DataFrame([run("x", status="FAILED", test=None)])
    summary = schedule_summary(tidy_trials(frame))
    assert summary.empty and summary_text(summary) == "no finished trials yet\n"


def test_oracle_study_summary_is_its_last_rounds_winners() -> None:
    """An oracle study has no search trials: its summary is, per seed, the winner of the last
    round on validation, as schedule "oracle" — not "no finished trials yet"."""
    rows = []
    for seed in range(2):
        for k in (1, 2):
            rows.append(run(f"w{seed}{k}", role="oracle", round_=str(k), seed=seed, winner=True,
                            val=0.8 + k / 100, test=0.7 + k / 10 + seed / 100, max_lr=0.05 * k))  # fmt: skip
            rows.append(run(f"l{seed}{k}", role="oracle", round_=str(k), seed=seed,
                            val=0.7, test=0.99, max_lr=0.5))  # fmt: skip
    summary = schedule_summary(tidy_trials(pd.DataFrame(rows)))
    row = summary_row(summary, "oracle")
    assert row["n"] == 2 and row["seeds"] == (0, 1)
    assert row["test_acc_mean"] == pytest.approx(90.5) and row["max_lr"] == pytest.approx(0.1)
    text = summary_text(summary, None, "an oracle study")
    assert "oracle" in text and "not listed (an oracle study)" in text

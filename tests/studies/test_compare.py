"""`prunetune compare`: table arithmetic, NaN handling, per-round path and report files."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies.cli.compare import add_commands
from studies.errors import UsageError
from studies.results.compare import compare, welch_p
from studies.results.markdown import display_table, markdown_table
from studies.results.report import run_compare, write_report
from studies.session.records import StudyRecord

SPEC = {
    "model": {"name": "smallcnn"},
    "dataset": {"name": "mnist1d"},
    "pruning": {"methods": ["magnitude"], "schedule": "one-shot", "rounds": 1},
    "retrain": {"schedules": ["ft", "clr"], "epochs": [4], "schedule_params": {}},
    "pretrain": {"lr": 0.1},
}


def run(
    run_id: str,
    *,
    role: str = "search",
    schedule: str = "clr",
    seed: int = 0,
    val: float | None = 0.9,
    test: float | None = 0.9,
    max_lr: float | None = None,
    epochs: int = 4,
    ratio: str = "0.5",
    rounds: int = 1,
    round_: str = "",
    winner: bool = False,
    baseline: str = "",
    status: str = "FINISHED",
    sparsity: float = 0.5,
) -> dict:
    """One MLflow run row in the schema of COMPARE_INTERFACES.md (tags/params are strings)."""
    return {
        "run_id": run_id,
        "status": status,
        "tags.role": role,
        "tags.schedule": schedule,
        "tags.method": "magnitude",
        "tags.ratio": ratio,
        "tags.config": "",
        "tags.seed": str(seed),
        "tags.status": "completed",
        "tags.round": round_,
        "tags.oracle_winner": "true" if winner else "",
        "tags.baseline": baseline,
        "tags.mlflow.runName": run_id,
        "params.trial.epochs": str(epochs),
        "params.trial.rounds": str(rounds),
        "params.trial.max_lr": None if max_lr is None else str(max_lr),
        "metrics.final/val_acc": val,
        "metrics.final/test_acc": test,
        "metrics.final/sparsity": sparsity,
    }


def pretrain(seed: int, acc: float) -> dict:
    """A dense pretraining run row."""
    return {
        "run_id": f"dense{seed}",
        "status": "FINISHED",
        "tags.role": "pretrain",
        "tags.seed": str(seed),
        "tags.schedule": "step",
        "metrics.dense/test_acc": acc,
    }


CLR_TEST, FT_TEST, ORACLE_TEST = [0.91, 0.92, 0.93], [0.88, 0.90, 0.89], [0.94, 0.93, 0.95]
# Scratch-B's per-seed differences to clr vary (−0.5, +0.5, −1.5): a paired test is defined.
SCRATCH_TEST, DENSE_TEST = [0.905, 0.925, 0.915], [0.95, 0.96, 0.94]


def known_frame() -> pd.DataFrame:
    """Three seeds with hand-picked accuracies, decoys that only a wrong selection would pick."""
    rows = []
    for seed in range(3):
        rows.append(run(f"clr{seed}", seed=seed, val=0.90, test=CLR_TEST[seed], max_lr=0.05))
        # Worse on validation, better on test: selection must ignore it.
        rows.append(run(f"clrbad{seed}", seed=seed, val=0.80, test=0.99, max_lr=0.5))
        rows.append(run(f"ft{seed}", schedule="ft", seed=seed, val=0.88, test=FT_TEST[seed]))
        rows.append(
            run(f"sb{seed}", role="baseline", schedule="step", baseline="scratch-b", seed=seed,
                val=0.89, test=SCRATCH_TEST[seed], epochs=9)
        )  # fmt: skip
        rows.append(
            run(f"or{seed}", role="oracle", schedule="clr", seed=seed, val=0.91,
                test=ORACLE_TEST[seed], max_lr=0.1, winner=True)
        )  # fmt: skip
        # An oracle run worse on validation, better on test: only a test-leaking rule picks it.
        rows.append(run(f"orx{seed}", role="oracle", seed=seed, val=0.85, test=0.99, max_lr=0.01))
        rows.append(pretrain(seed, DENSE_TEST[seed]))
    rows.append(run("failed", status="FAILED", test=None, val=None))
    return pd.DataFrame(rows)


def row(table: pd.DataFrame, schedule: str) -> pd.Series:
    """The single table row of `schedule`."""
    match = table[table["schedule"] == schedule]
    assert len(match) == 1, match
    return match.iloc[0]


def test_means_stds_and_n_over_seeds_of_the_validation_selected_trials() -> None:
    """Mean, std (ddof=1) and n per schedule use the best-validation trial of each seed."""
    table = compare(known_frame()).table
    clr, ft = row(table, "clr"), row(table, "ft")
    assert clr["n"] == 3 and ft["n"] == 3
    assert clr["test_acc_mean"] == pytest.approx(92.0)
    assert clr["test_acc_std"] == pytest.approx(np.std([91, 92, 93], ddof=1))
    assert ft["test_acc_mean"] == pytest.approx(89.0)
    assert ft["test_acc_std"] == pytest.approx(1.0)
    assert clr["max_lr"] == pytest.approx(0.05)
    assert clr["seeds"] == (0, 1, 2)


def test_gaps_to_oracle_winner_and_dense_model_in_points() -> None:
    """Gap to oracle = mean − the oracle winners' mean; gap to dense = mean − pretrain mean; both
    with the paired 95 % CI of the per-seed differences (scipy's ttest_rel interval)."""
    clr = row(compare(known_frame()).table, "clr")
    assert clr["oracle_acc"] == pytest.approx(94.0)
    assert clr["gap_oracle"] == pytest.approx(-2.0)
    assert clr["dense_acc"] == pytest.approx(95.0)
    assert clr["gap_dense"] == pytest.approx(-3.0)
    oracle_ci = stats.ttest_rel([91, 92, 93], [94, 93, 95]).confidence_interval(0.95)
    dense_ci = stats.ttest_rel([91, 92, 93], [95, 96, 94]).confidence_interval(0.95)
    assert (clr["gap_oracle_low"], clr["gap_oracle_high"]) == pytest.approx(tuple(oracle_ci))
    assert (clr["gap_dense_low"], clr["gap_dense_high"]) == pytest.approx(tuple(dense_ci))


def test_rows_sharing_seeds_are_paired_and_match_scipy_ttest_rel() -> None:
    """clr has the best mean validation accuracy: it is the reference. ft shares its seeds, so
    its p and CI are scipy's paired t-test of the per-seed differences (not Welch's: the arms
    of one seed share its dense model and split); the reference itself has none."""
    table = compare(known_frame()).table
    clr, ft, scratch = row(table, "clr"), row(table, "ft"), row(table, "scratch-b")
    assert bool(clr["reference"]) and not bool(ft["reference"]) and not bool(scratch["reference"])
    assert set(table["ref_schedule"]) == {"clr"}
    assert math.isnan(clr["p_value"]) and math.isnan(clr["delta_ref"]) and clr["design"] == ""
    paired = stats.ttest_rel([88, 90, 89], [91, 92, 93])
    assert ft["design"] == "paired" and ft["n_test"] == 3
    assert ft["p_value"] == pytest.approx(paired.pvalue)
    ci = paired.confidence_interval(0.95)
    assert (ft["delta_ref_low"], ft["delta_ref_high"]) == pytest.approx((ci.low, ci.high))
    assert ft["delta_ref"] == pytest.approx(-3.0)
    assert ft["dz"] == pytest.approx(-3.0) and math.isnan(ft["hedges_g"])  # diffs −3, −2, −4
    welch = stats.ttest_ind([88, 90, 89], [91, 92, 93], equal_var=False).pvalue
    assert welch_p([88, 90, 89], [91, 92, 93]) == pytest.approx(welch) != ft["p_value"]


def test_rows_without_a_shared_seed_fall_back_to_welch() -> None:
    """ft run on seeds 3-5 only shares no seed with clr (0-2): Welch's p and Hedges' g, and one
    report note counts the unpaired comparison."""
    frame = known_frame()
    frame = frame[frame["tags.schedule"] != "ft"]
    ft = [run(f"ft{s}", schedule="ft", seed=s + 3, val=0.88, test=FT_TEST[s]) for s in range(3)]
    comparison = compare(pd.concat([frame, pd.DataFrame(ft)], ignore_index=True))
    ft_row = row(comparison.table, "ft")
    assert ft_row["design"] == "unpaired" and ft_row["n_test"] == 3
    expected = stats.ttest_ind([88, 90, 89], [91, 92, 93], equal_var=False).pvalue
    assert ft_row["p_value"] == pytest.approx(expected)
    assert ft_row["hedges_g"] == pytest.approx(-2.4) and math.isnan(ft_row["dz"])
    assert math.isnan(ft_row["wilcoxon_p"])
    assert "1 comparison(s) unpaired (no seed in common with the reference): Welch" in (
        comparison.notes
    )


def test_a_seed_only_one_row_has_is_left_out_of_the_pairs_and_noted() -> None:
    """ft lacks seed 2: it is paired with clr on seeds 0 and 1 (n_test 2), as its note says."""
    frame = known_frame()
    frame = frame[frame["run_id"] != "ft2"]
    ft = row(compare(frame).table, "ft")
    assert ft["n"] == 2 and ft["n_test"] == 2 and ft["design"] == "paired"
    assert ft["p_value"] == pytest.approx(stats.ttest_rel([88, 90], [91, 92]).pvalue)
    assert ft["note"] == "paired on seeds 0,1; left out 2"


def test_baselines_are_rows_of_the_budget_group_with_their_own_epochs() -> None:
    """Scratch-B sits in the 4-epoch group, keeps its 9 trained epochs and is tested too."""
    scratch = row(compare(known_frame()).table, "scratch-b")
    assert scratch["budget"] == 4 and scratch["epochs"] == 9 and scratch["role"] == "baseline"
    assert scratch["test_acc_mean"] == pytest.approx(91.5)
    expected = stats.ttest_rel([90.5, 92.5, 91.5], [91, 92, 93]).pvalue
    assert scratch["p_value"] == pytest.approx(expected)


def test_one_seed_gives_nan_std_and_p_value_with_one_report_note() -> None:
    """With a single seed std and p are NaN; the report says why once, not on every row."""
    frame = known_frame()
    one = frame[frame["tags.seed"] == "0"]
    comparison = compare(one)
    ft = row(comparison.table, "ft")
    assert ft["n"] == 1 and math.isnan(ft["test_acc_std"]) and math.isnan(ft["p_value"])
    assert (comparison.table["note"] == "").all()
    assert [n for n in comparison.notes if "fewer than 2 seeds" in n] == [
        "3 row(s) with fewer than 2 seeds: no std",
        "2 comparison(s) with fewer than 2 seeds to test (pairs, or values on a side): Δ without "
        "CI; p, p (Holm), TOST, effect blank",
    ]
    assert math.isnan(ft["tost_p"]) and ft["status"] == "not testable (n < 2)"


def test_missing_oracle_and_dense_runs_are_not_fatal_and_not_on_rows() -> None:
    """Without oracle or pretrain runs the gaps are NaN; rows say nothing about it, one report
    note covers the dense runs and the header (not the notes) says "oracle: none"."""
    frame = known_frame()
    frame = frame[~frame["tags.role"].isin(["oracle", "pretrain"])]
    comparison = compare(frame)
    clr = row(comparison.table, "clr")
    assert math.isnan(clr["gap_oracle"]) and math.isnan(clr["gap_dense"])
    assert (comparison.table["note"] == "").all()
    assert not any("oracle" in n for n in comparison.notes)
    assert sum("no dense" in n for n in comparison.notes) == 1


def test_oracle_from_another_study_replaces_the_studys_own() -> None:
    """Passing oracle_trials takes the oracle values from that frame."""
    frame = known_frame()
    other = pd.DataFrame(
        [run(f"o{s}", role="oracle", seed=s, test=0.96, max_lr=0.2, winner=True) for s in range(3)]
    )
    clr = row(compare(frame, other).table, "clr")
    assert clr["oracle_acc"] == pytest.approx(96.0)


def test_skipped_runs_are_counted_in_notes() -> None:
    """The FAILED run is left out of the tables and counted in a note."""
    comparison = compare(known_frame())
    assert any(n.startswith("1 trial run(s) skipped") for n in comparison.notes)


def test_no_usable_runs_is_a_one_line_usage_error() -> None:
    """A study with only failed runs raises UsageError, not a pandas traceback."""
    frame = pd.DataFrame([run("x", status="FAILED", test=None)])
    with pytest.raises(UsageError, match="no finished search or baseline run"):
        compare(frame)


# --- iterative studies ----------------------------------------------------------------------

R = 3
SCYC_LR = [0.03, 0.0305, 0.04]


def iterative_frame() -> tuple[pd.DataFrame, dict[tuple[str, str], list[tuple[int, float]]]]:
    """Two seeds of scyc and clr over 3 rounds, a per-round greedy oracle, and histories."""
    rows, hist = [], {}
    sched_test = {
        "scyc": [[0.90, 0.88, 0.85], [0.92, 0.90, 0.87]],
        "clr": [[0.89, 0.86, 0.80]] * 2,
    }
    for seed in range(2):
        for schedule in ("scyc", "clr"):
            rid = f"{schedule}{seed}"
            max_lr = None if schedule == "scyc" else 0.05
            accs = sched_test[schedule][seed]
            rows.append(run(rid, schedule=schedule, seed=seed, rounds=R, test=accs[-1],
                            val=accs[-1], max_lr=max_lr, ratio="0.2"))  # fmt: skip
            lrs = SCYC_LR if schedule == "scyc" else [0.05] * R
            hist[(rid, "round/test_acc")] = [(k + 1, a) for k, a in enumerate(accs)]
            hist[(rid, "round/val_acc")] = [(k + 1, a) for k, a in enumerate(accs)]
            hist[(rid, "round/sparsity")] = [(k + 1, 1 - 0.8 ** (k + 1)) for k in range(R)]
            hist[(rid, "round/max_lr")] = [(k + 1, v) for k, v in enumerate(lrs)]
        for k in range(1, R + 1):
            rows.append(run(f"or{seed}r{k}", role="oracle", seed=seed, round_=str(k), rounds=R,
                            test=0.93 - 0.02 * k, max_lr=0.02 * k, winner=True, ratio="0.2"))  # fmt: skip
        rows.append(pretrain(seed, 0.95))
    return pd.DataFrame(rows), hist


def test_per_round_table_from_histories_with_oracle_per_round() -> None:
    """Per-round means come from round_* histories; the oracle gap uses that round's winner."""
    frame, hist = iterative_frame()
    comparison = compare(frame, fetch=lambda run_id, key: hist.get((run_id, key), []))
    assert comparison.iterative
    rounds = comparison.rounds
    scyc2 = rounds[(rounds["schedule"] == "scyc") & (rounds["round"] == 2)].iloc[0]
    assert scyc2["n"] == 2 and scyc2["test_acc_mean"] == pytest.approx(89.0)
    assert scyc2["oracle_acc"] == pytest.approx(89.0)  # 0.93 − 0.04
    assert scyc2["gap_oracle"] == pytest.approx(0.0)
    assert scyc2["sparsity"] == pytest.approx(1 - 0.8**2)
    assert bool(scyc2["reference"])
    # The main table compares the final round against the oracle's last round.
    final = row(comparison.table, "scyc")
    assert final["round"] == R and final["oracle_acc"] == pytest.approx(87.0)


def test_scyc_max_lr_per_round_against_oracle_choice() -> None:
    """The max-LR table lists S-Cyc's and CLR's LR per round next to the oracle's grid pick."""
    frame, hist = iterative_frame()
    comparison = compare(frame, fetch=lambda run_id, key: hist.get((run_id, key), []))
    lrs = comparison.max_lr_rounds.sort_values("round")
    assert list(lrs["max_lr_scyc"]) == pytest.approx(SCYC_LR)
    assert list(lrs["max_lr_clr"]) == pytest.approx([0.05] * R)
    assert list(lrs["oracle_max_lr"]) == pytest.approx([0.02, 0.04, 0.06])
    assert lrs.iloc[0]["oracle_max_lr_seeds"] == "0.02, 0.02"


def test_iterative_without_histories_notes_the_missing_round_table() -> None:
    """No fetch function: the final-round table still works and a note says why rounds lack."""
    frame, _ = iterative_frame()
    comparison = compare(frame)
    assert not comparison.iterative and len(comparison.table) == 2
    assert any("no per-round table" in n for n in comparison.notes)


# --- report files ---------------------------------------------------------------------------


def test_report_files_for_a_one_shot_study(tmp_path: Path) -> None:
    """report.md (with the table), trials.csv, table.csv and the PNGs are written."""
    frame = known_frame()
    comparison = compare(frame)
    path = write_report(comparison, tmp_path, name="demo", spec=SPEC, trials=frame)
    for name in ("report.md", "trials.csv", "table.csv", "accuracy_vs_sparsity.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "lr_curves.png").stat().st_size > 0
    text = path.read_text()
    assert "# Study `demo`" in text and "## Main table" in text
    assert markdown_table(display_table(comparison.table)) in text
    assert "92.00 ± 1.00" in text and "scratch-b" in text and "## Notes" in text
    assert len(pd.read_csv(tmp_path / "trials.csv")) == len(frame)


def test_report_files_for_an_iterative_study(tmp_path: Path) -> None:
    """The iterative report adds the per-round tables and the max-LR plot."""
    frame, hist = iterative_frame()
    comparison = compare(frame, fetch=lambda run_id, key: hist.get((run_id, key), []))
    spec = {**SPEC, "pruning": {"methods": ["magnitude"], "schedule": "iterative", "rounds": R}}
    text = write_report(comparison, tmp_path, name="it", spec=spec, trials=frame).read_text()
    for name in ("rounds.csv", "max_lr_rounds.csv", "max_lr_rounds.png", "lr_curves.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "## Per round" in text and "max_lr_rounds.png" in text


def test_report_without_oracle_says_none_in_header_and_notes_dense_once(tmp_path: Path) -> None:
    """report.md: header "oracle: none", no oracle columns; Notes list the missing dense runs and
    the single-seed rows once each."""
    frame = known_frame()
    frame = frame[~frame["tags.role"].isin(["oracle", "pretrain"])]
    comparison = compare(frame[frame["tags.seed"] == "0"])
    text = write_report(comparison, tmp_path, name="x", spec=SPEC, trials=frame).read_text()
    header, notes = text.split("## Main table")[0], text.split("## Notes")[1]
    assert "oracle: none" in header and "this study" not in header
    assert "oracle %" not in text and "Δ oracle" not in text
    assert notes.count("no dense") == 1 and notes.count("row(s) with fewer than 2 seeds") == 1
    table_rows = text.split("## Main table")[1].split("## Notes")[0].splitlines()[4:]
    assert table_rows and all("±" not in line and "| 1 |" in line for line in table_rows if line)


# --- the command ----------------------------------------------------------------------------


class FakeSource:
    """Runs from dicts instead of MLflow; records what would be logged."""

    def __init__(self, runs: dict[str, pd.DataFrame]) -> None:
        self.frames, self.logged = runs, []

    def runs(self, record) -> pd.DataFrame:
        return self.frames.get(record.name, pd.DataFrame())

    def history(self, record):
        return lambda run_id, key: []

    def log_report(self, record, out_dir: Path) -> None:
        self.logged.append((record.parent_run_id, sorted(p.name for p in out_dir.iterdir())))


def save_record(workdir: Path, name: str) -> None:
    """A study record on disk, as `prunetune run` leaves it (its runs come from a fake source,
    so its tracking store is a server that is never called)."""
    StudyRecord(
        name=name, spec=SPEC, spec_hash="h", workdir=str(workdir),
        tracking_uri="http://127.0.0.1:1",
        experiment_id="1", parent_run_id=f"parent-{name}", optuna_storage="", ray_storage="",
    ).save()  # fmt: skip


def test_run_compare_writes_under_reports_and_logs_to_parent_run(tmp_path: Path) -> None:
    """The command writes <workdir>/reports/NAME/ and logs those files to the parent run."""
    save_record(tmp_path, "s")
    source = FakeSource({"s": known_frame()})
    path, table = run_compare(str(tmp_path), "s", source=source)
    assert path == tmp_path / "reports" / "s" / "report.md" and path.exists()
    assert set(table["schedule"]) == {"clr", "ft", "scratch-b"}
    assert source.logged[0][0] == "parent-s" and "report.md" in source.logged[0][1]


def test_run_compare_errors_are_one_line_usage_errors(tmp_path: Path) -> None:
    """Unknown study, unknown --oracle study and a study without runs are UsageErrors."""
    save_record(tmp_path, "empty")
    save_record(tmp_path, "s")
    source = FakeSource({"s": known_frame()})
    with pytest.raises(UsageError, match="study 'nope' not found"):
        run_compare(str(tmp_path), "nope", source=source)
    with pytest.raises(UsageError, match=r"^--oracle: study 'nope' not found"):
        run_compare(str(tmp_path), "s", oracle="nope", source=source)
    with pytest.raises(UsageError, match="'empty' has no trial runs") as err:
        run_compare(str(tmp_path), "empty", source=source)
    assert "\n" not in str(err.value)


def test_compare_subcommand_parses_its_arguments() -> None:
    """add_commands adds `compare NAME --oracle NAME --workdir DIR` with a handler."""
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", "s", "--oracle", "o", "--workdir", "/w"])
    assert (args.name, args.oracle, args.workdir) == ("s", "o", "/w")
    assert callable(args.handler)


@pytest.mark.slow
def test_real_mlflow_store_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a real sqlite MLflow store: runs and histories read, report logged as artifacts."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("s", artifact_location=str(tmp_path / "artifacts"))
    parent = client.create_run(exp, run_name="s").info.run_id
    for seed in range(2):
        tags = {"mlflow.parentRunId": parent, "role": "search", "schedule": "clr",
                "seed": str(seed), "method": "magnitude", "ratio": "0.2"}  # fmt: skip
        trial = client.create_run(exp, run_name=f"t{seed}", tags=tags).info.run_id
        client.log_param(trial, "trial.epochs", "4")
        client.log_param(trial, "trial.rounds", "2")
        for k, acc in enumerate([0.9, 0.85 + 0.01 * seed], 1):
            client.log_metric(trial, "round/test_acc", acc, step=k)
            client.log_metric(trial, "round/sparsity", 1 - 0.8**k, step=k)
        client.log_metric(trial, "final/test_acc", 0.85 + 0.01 * seed)
        client.log_metric(trial, "final/val_acc", 0.86)
        client.set_terminated(trial)
    StudyRecord(
        name="s", spec=SPEC, spec_hash="h", workdir=str(tmp_path), tracking_uri=uri,
        experiment_id=exp, parent_run_id=parent, optuna_storage="", ray_storage="",
    ).save()  # fmt: skip
    path, table = run_compare(str(tmp_path), "s")
    assert row(table, "clr")["test_acc_mean"] == pytest.approx(85.5)
    assert "## Per round" in path.read_text()
    logged = {a.path for a in client.list_artifacts(parent, "report")}
    assert {"report/report.md", "report/trials.csv", "report/rounds.csv"} <= logged

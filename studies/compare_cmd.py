"""``prunetune compare NAME [--oracle NAME] [--workdir DIR]``: the study's comparison report.

Reads the study's runs back from MLflow, writes ``<workdir>/reports/<NAME>/`` (report.md,
trials.csv, tables, plots), logs the same files to the study's parent run under ``report/``,
and prints the main table and the path of report.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Protocol

import pandas as pd

from studies.errors import UsageError


class RunSource(Protocol):
    """Where a study's runs come from; MLflow in the CLI, a fake in tests."""

    def runs(self, record) -> pd.DataFrame: ...

    def history(self, record): ...  # -> compare.HistoryFetch

    def log_report(self, record, out_dir: Path) -> None: ...


class MlflowSource:
    """The study's tracking server: trial runs, metric histories, artifact logging."""

    def runs(self, record) -> pd.DataFrame:
        from trainables.tracking import runs_dataframe

        return runs_dataframe(record.tracking_uri, record.experiment_id, record.parent_run_id)

    def history(self, record):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=record.tracking_uri)

        def fetch(run_id: str, key: str) -> list[tuple[int, float]]:
            metrics = sorted(client.get_metric_history(run_id, key), key=lambda m: m.timestamp)
            return [(m.step, m.value) for m in metrics]

        return fetch

    def log_report(self, record, out_dir: Path) -> None:
        from studies.report import log_report

        log_report(record.tracking_uri, record.parent_run_id, out_dir)


def add_commands(sub: argparse._SubParsersAction) -> None:
    cmp = sub.add_parser(
        "compare", help="compare a study's schedules with the oracle, baselines and dense model"
    )
    cmp.add_argument("name", help="the study to report on")
    cmp.add_argument(
        "--oracle", metavar="NAME", default=None, help="take the oracle runs from this study"
    )
    cmp.add_argument("--workdir", default=None, help="default ./prunetune-runs")
    cmp.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from studies.launch import default_workdir
    from studies.report import display_table

    report, table = run_compare(args.workdir or default_workdir(), args.name, oracle=args.oracle)
    print(display_table(table).to_string(index=False))
    print(f"\nreport: {report}")
    return 0


def run_compare(
    workdir: str,
    name: str,
    *,
    oracle: str | None = None,
    source: RunSource | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Build, write and log the report of study `name`; returns (report.md path, main table)."""
    from studies.compare import compare
    from studies.records import load_record
    from studies.report import write_report

    source = source or MlflowSource()
    record = load_record(workdir, name)
    trials = _runs(source, record, "")
    oracle_trials = None
    if oracle is not None:
        try:
            oracle_record = load_record(workdir, oracle)
        except UsageError as err:
            raise UsageError(f"--oracle: {err}") from err
        oracle_trials = _runs(source, oracle_record, "--oracle: ")
    comparison = compare(trials, oracle_trials, fetch=source.history(record))
    out_dir = Path(workdir) / "reports" / name
    report = write_report(
        comparison, out_dir, name=name, spec=record.spec, trials=trials, oracle_study=oracle
    )
    if oracle_trials is not None:
        oracle_trials.to_csv(out_dir / "oracle_trials.csv", index=False)
    try:
        source.log_report(record, out_dir)
    except Exception as err:  # the report exists on disk; a tracking hiccup must not lose it
        print(f"prunetune: warning: report not logged to MLflow: {err}", file=sys.stderr)
    return report, comparison.table


def _runs(source: RunSource, record, prefix: str) -> pd.DataFrame:
    frame = source.runs(record)
    if frame is None or frame.empty:
        raise UsageError(
            f"{prefix}study {record.name!r} has no trial runs in MLflow "
            f"({record.tracking_uri}, experiment {record.experiment_id}); "
            f"run or resume it first"
        )
    return frame

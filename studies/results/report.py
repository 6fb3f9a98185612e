"""A study's comparison report: read its runs back from MLflow, compare, write
``<workdir>/reports/<NAME>/`` (report.md, trials.csv, tables, plots) and log the same files to
the study's parent run under ``report/``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from studies.errors import UsageError
from studies.results.compare import Comparison, HistoryFetch, compare
from studies.results.markdown import render_markdown
from studies.results.plots import (
    ACC_PLOT,
    LR_PLOT,
    MAX_LR_PLOT,
    plot_accuracy_vs_sparsity,
    plot_lr_curves,
    plot_max_lr_rounds,
)
from studies.results.runs import study_runs
from studies.session.records import StudyRecord, load_record
from studies.spec.model import CompareSection
from trainables.query import metric_history
from trainables.runs import StudyRun


class RunSource(Protocol):
    """Where a study's runs come from; MLflow in the CLI, a fake in tests."""

    def runs(self, record: StudyRecord) -> pd.DataFrame: ...

    def history(self, record: StudyRecord) -> HistoryFetch: ...

    def log_report(self, record: StudyRecord, out_dir: Path) -> None: ...


class MlflowSource:
    """The study's tracking store: trial runs, metric histories, artifact logging."""

    def runs(self, record: StudyRecord) -> pd.DataFrame:
        return study_runs(record)

    def history(self, record: StudyRecord) -> HistoryFetch:
        def fetch(run_id: str, key: str) -> list[tuple[int, float]]:
            return metric_history(record.tracking_uri, run_id, key)

        return fetch

    def log_report(self, record: StudyRecord, out_dir: Path) -> None:
        StudyRun.attach(record.tracking_uri, record.parent_run_id).log_artifacts(out_dir, "report")


def build_comparison(
    workdir: str,
    name: str,
    *,
    oracle: str | None = None,
    source: RunSource | None = None,
) -> tuple[Comparison, pd.DataFrame, pd.DataFrame | None]:
    """The comparison of study `name` (with the oracle runs of study `oracle`), and the raw
    trials frames it was made from."""
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
    margin = equivalence_margin(record.spec)
    comparison = compare(trials, oracle_trials, fetch=source.history(record), margin=margin)
    return comparison, trials, oracle_trials


def equivalence_margin(spec: dict[str, Any]) -> float:
    """The study's compare.equivalence_margin; records written before the [compare] section
    existed have none and get the default."""
    return CompareSection.model_validate(spec.get("compare", {})).equivalence_margin


def run_compare(
    workdir: str,
    name: str,
    *,
    oracle: str | None = None,
    source: RunSource | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Build, write and log the report of study `name`; returns (report.md path, main table)."""
    source = source or MlflowSource()
    comparison, trials, oracle_trials = build_comparison(
        workdir, name, oracle=oracle, source=source
    )
    record = load_record(workdir, name)
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


def _runs(source: RunSource, record: StudyRecord, prefix: str) -> pd.DataFrame:
    frame = source.runs(record)
    if frame is None or frame.empty:
        raise UsageError(
            f"{prefix}study {record.name!r} has no trial runs in MLflow "
            f"({record.tracking_uri}, experiment {record.experiment_id}); "
            f"run or resume it first"
        )
    return frame


def write_report(
    comparison: Comparison,
    out_dir: str | Path,
    *,
    name: str,
    spec: dict[str, Any],
    trials: pd.DataFrame,
    oracle_study: str | None = None,
) -> Path:
    """Write report.md, trials.csv, table CSVs and plots into `out_dir`; return report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trials.to_csv(out / "trials.csv", index=False)
    comparison.table.to_csv(out / "table.csv", index=False)
    plots = [plot_accuracy_vs_sparsity(comparison, out / ACC_PLOT)]
    notes = list(comparison.notes)
    plots.append(plot_lr_curves(comparison, spec, out / LR_PLOT, notes))
    if comparison.iterative:
        comparison.rounds.to_csv(out / "rounds.csv", index=False)
        comparison.max_lr_rounds.to_csv(out / "max_lr_rounds.csv", index=False)
        plots.append(plot_max_lr_rounds(comparison, out / MAX_LR_PLOT))
    text = render_markdown(
        comparison, name=name, spec=spec, notes=notes, oracle_study=oracle_study
    )
    text += "\n## Plots\n\n" + "".join(f"![{p.stem}]({p.name})\n\n" for p in plots)
    path = out / "report.md"
    path.write_text(text)
    return path

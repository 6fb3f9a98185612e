"""prunetune's study service: study files, search spaces, launching, resuming, comparing.

spec/      the study file → a validated StudySpec
plan/      a spec → the phases to run (search, baselines, oracle rounds), each a Tune run
results/   a study's runs read back, compared, reported
cli/       the `prunetune` command line
launch.py, preflight.py, ray_session.py, records.py, storage.py, errors.py
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from studies.results.compare import Comparison
    from studies.spec import StudySpec


def run(spec: StudySpec | str, **resolve: str | None) -> pd.DataFrame:
    """Run a study (a StudySpec, a TOML path or a preset name) and return a pandas.DataFrame
    with one row per trial run (params, summary metrics, tags) read back from MLflow.

    Keyword arguments (workdir, tracking_uri, storage_url, address) override the study file."""
    # Ray, Optuna and MLflow load when a study runs, not when `studies` is imported; the
    # loopback settings go first (Ray reads them once, at import).
    from studies.session.ray_session import set_loopback_env

    set_loopback_env()
    # the launcher imports Ray: only now, after the settings above
    from studies.session.launch import run_study
    from studies.spec import StudySpec, load_spec
    from studies.spec import resolve as resolve_spec

    if not isinstance(spec, StudySpec):
        spec = load_spec(str(spec))
    return run_study(resolve_spec(spec, **resolve))


def load(name: str, workdir: str | None = None) -> pd.DataFrame:
    """A study's trials as a tidy DataFrame, one row per trial run, typed columns (floats are
    floats): run_id, run_name, role, schedule (with its start, e.g. lrw+rewind), schedule_name,
    start, method, target (ratio or config), epochs, rounds, round, seed, max_lr, val_acc,
    test_acc (final, as fractions), sparsity, macs_ratio, dense_test_acc, status, usable, start_time.

        trials = studies.load("quickstart")
        trials.groupby("schedule")["test_acc"].describe()
    """
    # MLflow loads when a study is read, not when `studies` is imported.
    from studies import storage
    from studies.results.runs import tidy_trials, trials_frame
    from studies.session.records import load_record

    record = load_record(workdir or storage.default_workdir(), name)
    return tidy_trials(trials_frame(record))


def compare(name: str, oracle: str | None = None, workdir: str | None = None) -> Comparison:
    """The tables `prunetune compare` reports, without writing or logging anything:
    `.table` (per method, target, budget, round and schedule: mean ± std over seeds, Δ vs the
    validation-chosen reference with a 95 % CI, p and Holm-adjusted p, Hedges' g, gaps to the
    oracle and the dense model), `.rounds` and `.max_lr_rounds` (iterative studies),
    `.selected` (the validation-selected trial per seed), `.oracle`, `.notes`."""
    # MLflow and scipy load when a study is compared, not when `studies` is imported.
    from studies import storage
    from studies.results.report import build_comparison

    comparison, _, _ = build_comparison(workdir or storage.default_workdir(), name, oracle=oracle)
    return comparison


__all__ = ["compare", "load", "run"]

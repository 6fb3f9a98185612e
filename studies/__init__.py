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

    from studies.spec import StudySpec


def run(spec: StudySpec | str, **resolve: str | None) -> pd.DataFrame:
    """Run a study (a StudySpec, a TOML path or a preset name) and return a pandas.DataFrame
    with one row per trial run (params, summary metrics, tags) read back from MLflow.

    Keyword arguments (workdir, tracking_uri, storage_url, address) override the study file."""
    # Ray, Optuna and MLflow load when a study runs, not when `studies` is imported.
    from studies.launch import run_study
    from studies.spec import StudySpec, load_spec
    from studies.spec import resolve as resolve_spec

    if not isinstance(spec, StudySpec):
        spec = load_spec(str(spec))
    return run_study(resolve_spec(spec, **resolve))


__all__ = ["run"]

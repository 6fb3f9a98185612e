"""prunetune's study service: study files, search spaces, launching, resuming, comparing."""

from __future__ import annotations

from typing import Any


def run(spec: Any, **resolve: str | None):
    """Run a study (a StudySpec, a TOML path or a preset name) and return a pandas.DataFrame
    with one row per trial run (params, summary metrics, tags) read back from MLflow."""
    from studies.launch import run_study
    from studies.spec import StudySpec, load_spec

    if not isinstance(spec, StudySpec):
        spec = load_spec(str(spec))
    return run_study(spec.resolved(**resolve))


__all__ = ["run"]

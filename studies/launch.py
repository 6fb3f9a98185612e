"""Launching a study: preflight checks, the MLflow parent run, Ray Tune with Optuna, resume.

Order matters for "nothing half-started": every check that creates nothing runs first, then
Ray is started, then the MLflow parent run and the Optuna study are created, then trials run.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from ray import tune

from studies import records
from studies.errors import UsageError
from studies.plan import Phase, plan
from studies.plan.search import optuna_storage
from studies.preflight import preflight
from studies.ray_session import ensure_ray, set_loopback_env
from studies.records import StudyRecord
from studies.results.runs import trials_frame
from studies.spec import StudySpec, spec_hash, validate
from trainables.keys import RunStatus
from trainables.study_run import (
    end_study_run,
    kill_unfinished_trial_runs,
    open_study_run,
    reopen_study_run,
)

log = logging.getLogger("prunetune")


def run_study(spec: StudySpec, *, dry_run: bool = False) -> pd.DataFrame:
    """Run a resolved StudySpec to the end; returns one row per trial (role search/oracle/…)."""
    set_loopback_env()
    preflight(spec)
    existing = _existing(spec)
    if existing is not None:
        return existing
    if dry_run:
        return pd.DataFrame()
    ensure_ray(spec.ray.address, spec.storage.workdir)
    record = _open_study(spec, spec_hash(spec))
    return _run_phases(spec, record)


def resume_study(name: str, workdir: str) -> pd.DataFrame:
    """Continue an interrupted study: finished trials are not re-run, Optuna keeps its trials."""
    set_loopback_env()
    record = records.load_record(workdir, name)
    if record.status == RunStatus.FINISHED:
        raise UsageError(f"study {name!r} already finished; `prunetune show {name}` shows it")
    spec = validate(record.spec, f"study {name!r}")
    ensure_ray(spec.ray.address, spec.storage.workdir)
    reopen_study_run(record.tracking_uri, record.parent_run_id)
    record.status = RunStatus.RUNNING
    record.save()
    return _run_phases(spec, record)


def _existing(spec: StudySpec) -> pd.DataFrame | None:
    """A study of the same name: same spec and finished → its results; else a clear error."""
    path = records.record_path(spec.storage.workdir, spec.name)
    if not path.exists():
        return None
    record = records.load_record(spec.storage.workdir, spec.name)
    if record.spec_hash != spec_hash(spec):
        raise UsageError(
            f"name: study {spec.name!r} already exists in {spec.storage.workdir} with another "
            f"spec; choose a new name (--set name=...) or another --workdir"
        )
    if record.status != RunStatus.FINISHED:
        raise UsageError(
            f"name: study {spec.name!r} exists and is {record.status_text}; "
            f"continue it with `prunetune resume {spec.name}`"
        )
    log.warning("study %r already finished with this spec; showing its results", spec.name)
    return trials_frame(record)


def _open_study(spec: StudySpec, digest: str) -> StudyRecord:
    workdir = spec.storage.workdir
    study_run = open_study_run(
        spec.tracking.uri,
        spec.tracking.experiment or spec.name,
        spec.name,
        digest,
        str(Path(workdir) / "mlartifacts"),
    )
    record = StudyRecord(
        name=spec.name,
        spec=spec.model_dump(mode="json"),
        spec_hash=digest,
        workdir=workdir,
        tracking_uri=spec.tracking.uri,
        experiment_id=study_run.experiment_id,
        parent_run_id=study_run.run_id,
        optuna_storage=spec.storage.optuna,
        ray_storage=spec.storage.ray,
    )
    record.save()
    return record


def _run_phases(spec: StudySpec, record: StudyRecord) -> pd.DataFrame:
    """Run the study's phases in order, skipping finished ones and restoring an interrupted
    one from its Tune experiment state."""
    for phase in plan(spec, record):
        if phase.name in record.phases_done:
            continue
        path = str(Path(record.ray_storage) / phase.ray_name)
        if tune.Tuner.can_restore(path):
            tuner = tune.Tuner.restore(
                path, trainable=phase.trainable(), resume_unfinished=True, resume_errored=True
            )
        else:
            tuner = phase.build()
        try:
            interrupted = _fit(tuner) or _optuna_unfinished(record, phase)
        finally:
            kill_unfinished_trial_runs(
                record.tracking_uri, record.experiment_id, record.parent_run_id
            )
        if interrupted:
            record.status = RunStatus.KILLED
            record.save()
            end_study_run(record.tracking_uri, record.parent_run_id, RunStatus.KILLED)
            raise StudyInterrupted(record.name)
        if phase.after is not None:
            phase.after()
        record.phases_done.append(phase.name)
        record.save()
    record.status = RunStatus.FINISHED
    record.save()
    end_study_run(record.tracking_uri, record.parent_run_id, RunStatus.FINISHED)
    return trials_frame(record)


def _fit(tuner: tune.Tuner) -> bool:
    """tuner.fit(); True if the driver got SIGINT. Tune handles the first SIGINT itself (stops,
    saves state, returns normally) and then puts back the handler it found: finding our sentinel
    back in place is how we know. Tune leaves its own handler installed after a normal end."""

    def sentinel(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, sentinel)
    try:
        tuner.fit()
        return signal.getsignal(signal.SIGINT) is sentinel
    except KeyboardInterrupt:
        return True
    finally:
        signal.signal(signal.SIGINT, previous)


def _optuna_unfinished(record: StudyRecord, phase: Phase) -> bool:
    """A second opinion for Optuna phases: a RUNNING trial or fewer ended than asked for."""
    if phase.optuna_study is None:
        return False
    study = optuna.load_study(
        study_name=phase.optuna_study, storage=optuna_storage(record.optuna_storage)
    )
    states = [t.state for t in study.get_trials(deepcopy=False)]
    running = states.count(optuna.trial.TrialState.RUNNING)
    return running > 0 or len(states) - running < phase.expected


class StudyInterrupted(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"study {name!r} interrupted; continue it with `prunetune resume {name}`")

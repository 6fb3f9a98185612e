"""Launching a study: preflight checks, the lease, Ray, the stores, the phases; and resume.

Order matters for "nothing half-started": every check that creates nothing runs first
(preflight), then the driver takes the study's lease (one driver per study), then Ray is
started or joined, then the Optuna studies are claimed for this spec and the MLflow parent run
and the record are created, then trials run. From then on the study ends FINISHED, KILLED
(interrupted, resumable) or FAILED in both the record and the parent run, never RUNNING.
"""

from __future__ import annotations

import fcntl
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from ray import tune

from studies import storage
from studies.errors import UsageError
from studies.plan import Phase, plan
from studies.plan.search import claim_optuna_study, optuna_storage, optuna_studies
from studies.results.runs import trials_frame
from studies.results.summary import log_study_summary, study_description
from studies.session import records
from studies.session.lease import StudyLease, refuse_if_held
from studies.session.links import browse_lines
from studies.session.preflight import preflight
from studies.session.ray_session import ensure_ray, set_loopback_env
from studies.session.records import StudyRecord
from studies.spec import StudySpec, spec_hash, validate
from trainables.keys import RunStatus
from trainables.study_run import (
    describe_study_run,
    end_study_run,
    kill_unfinished_trial_runs,
    open_study_run,
    reopen_study_run,
)

log = logging.getLogger("prunetune")
# Tune's own result files are off (the trials' metrics live in MLflow; studies.session.ray_session), so
# the ResultGrid it builds at the end of a run warns once per trial that it found none: noise.
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
# Optuna's INFO lines ("A new study created", then "Using an existing study" when the searcher
# opens the study prunetune just claimed) read like a problem on every fresh run.
optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_study(spec: StudySpec, *, dry_run: bool = False) -> pd.DataFrame:
    """Run a resolved StudySpec to the end; returns one row per trial (role search/oracle/…)."""
    set_loopback_env()
    preflight(spec)
    if dry_run:
        _existing(spec)
        return pd.DataFrame()
    with StudyLease(spec.storage.workdir, spec.name):
        existing = _existing(spec)
        if existing is not None:
            return existing
        ensure_ray(spec.ray.address, spec.storage.workdir)
        record = _open_study(spec, spec_hash(spec))
        _announce(record)
        return _run_phases(spec, record)


def resume_study(name: str, workdir: str) -> pd.DataFrame:
    """Continue an interrupted study: finished trials are not re-run, Optuna keeps its trials."""
    set_loopback_env()
    refuse_if_held(workdir, name)  # a live driver that has not written the record yet
    records.load_record(workdir, name)  # an unknown name fails before any file is written
    with StudyLease(workdir, name):
        record = records.load_record(workdir, name)  # as the last driver left it
        if record.status == RunStatus.FINISHED:
            raise UsageError(f"study {name!r} already finished; `prunetune show {name}` shows it")
        spec = validate(record.spec, f"study {name!r}")
        preflight(spec)  # the stores, data and storages may have changed since the last run
        ensure_ray(spec.ray.address, spec.storage.workdir)
        reopen_study_run(record.tracking_uri, record.parent_run_id)
        record.status = RunStatus.RUNNING
        record.save()
        _announce(record)
        return _run_phases(spec, record)


def _announce(record: StudyRecord) -> None:
    """Where to watch the study, before its first trial starts."""
    print(f"study {record.name!r} started; browse it while it runs:", flush=True)
    print("\n".join(f"  {line}" for line in browse_lines(record)), flush=True)


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
    """The study's Optuna studies (claimed for this spec first: a conflict creates nothing),
    its MLflow parent run, its record. Store creation is serialised per workdir: two studies
    starting at once in a fresh workdir would race to create the SQLite schemas."""
    workdir = spec.storage.workdir
    with _workdir_lock(workdir):
        for name, modes, metrics in optuna_studies(spec):
            claim_optuna_study(spec.storage.optuna, name, digest, modes, metrics)
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
    try:
        record.save()
        describe_study_run(study_run, *study_description(spec, digest))
    except BaseException:
        end_study_run(record.tracking_uri, record.parent_run_id, RunStatus.FAILED)
        raise
    return record


@contextmanager
def _workdir_lock(workdir: str) -> Iterator[None]:
    path = Path(workdir) / ".stores.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run_phases(spec: StudySpec, record: StudyRecord) -> pd.DataFrame:
    """Run the study's phases in order, skipping finished ones and restoring an interrupted
    one from its Tune experiment state. Whatever goes wrong, the record and the parent run end
    KILLED (interrupted: resumable) or FAILED, never RUNNING."""
    try:
        for phase in plan(spec, record):
            if phase.name not in record.phases_done:
                _run_phase(phase, record)
    except StudyInterrupted:
        raise
    except BaseException:
        _end(record, RunStatus.FAILED)
        raise
    _end(record, RunStatus.FINISHED)
    return trials_frame(record)


def _run_phase(phase: Phase, record: StudyRecord) -> None:
    path = storage.join(record.ray_storage, phase.ray_name)
    if tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(
            path, trainable=phase.trainable(), resume_unfinished=True, resume_errored=True
        )
    else:
        tuner = phase.build()
    try:
        interrupted = _fit(tuner) or _optuna_unfinished(record, phase)
    finally:
        kill_unfinished_trial_runs(record.tracking_uri, record.experiment_id, record.parent_run_id)
    if interrupted:
        _end(record, RunStatus.KILLED)
        raise StudyInterrupted(record.name)
    if phase.after is not None:
        phase.after()
    record.phases_done.append(phase.name)
    record.save()


def _end(record: StudyRecord, status: RunStatus) -> None:
    """The record and the parent run say the same; trial runs left RUNNING are swept; a
    finished study's run gets its summary (mean test accuracy per schedule) as metrics."""
    record.status = status
    record.save()
    if status == RunStatus.FINISHED:
        try:
            log_study_summary(record)
        except Exception as err:  # the trials hold the results; a summary is a convenience
            log.warning("study summary not logged to MLflow: %s", err)
    kill_unfinished_trial_runs(record.tracking_uri, record.experiment_id, record.parent_run_id)
    end_study_run(record.tracking_uri, record.parent_run_id, status)


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
    """A second opinion for Optuna phases, once Tune says the phase ended: fewer trials ended
    than asked for. A trial still RUNNING then is stale — asked for by a driver that was killed
    before Tune's next state snapshot, so no restored trial will ever tell it — and is marked
    FAIL (the restored searcher asks for a replacement), never left RUNNING."""
    if phase.optuna_study is None:
        return False
    study = optuna.load_study(
        study_name=phase.optuna_study, storage=optuna_storage(record.optuna_storage)
    )
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in running:
        log.warning("Optuna trial %d of %s was left RUNNING: FAIL", trial.number, study.study_name)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    ended = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    )
    return len(study.get_trials(deepcopy=False, states=ended)) < phase.expected


class StudyInterrupted(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"study {name!r} interrupted; continue it with `prunetune resume {name}`")

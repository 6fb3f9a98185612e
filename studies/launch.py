"""Launching a study: preflight checks, the MLflow parent run, Ray Tune with Optuna, resume.

Order matters for "nothing half-started": every check that creates nothing runs first, then
Ray is started, then the MLflow parent run and the Optuna study are created, then trials run.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import pandas as pd

from studies import records
from studies.errors import UsageError
from studies.preflight import preflight
from studies.ray_session import ensure_ray, set_loopback_env
from studies.records import StudyRecord

log = logging.getLogger("prunetune")


def run_study(spec: Any, *, dry_run: bool = False) -> pd.DataFrame:
    """Run a resolved StudySpec to the end; returns one row per trial (role search/oracle/…)."""
    from studies.spec import spec_hash

    set_loopback_env()
    preflight(spec)
    existing = _existing(spec)
    if existing is not None:
        return existing
    if dry_run:
        return pd.DataFrame()
    ensure_ray(spec.ray.address, spec.storage.workdir)
    record = _open_study(spec, spec_hash(spec))
    tuner = _make_tuner(spec, record)
    return _fit(tuner, record, _expected_trials(spec))


def resume_study(name: str, workdir: str) -> pd.DataFrame:
    """Continue an interrupted study: finished trials are not re-run, Optuna keeps its trials."""
    from ray import tune

    from studies.spec import StudySpec

    set_loopback_env()
    record = records.load_record(workdir, name)
    if record.status == records.FINISHED:
        raise UsageError(f"study {name!r} already finished; `prunetune show {name}` shows it")
    if not tune.Tuner.can_restore(record.ray_path):
        raise UsageError(f"study {name!r}: no Ray Tune state at {record.ray_path} to resume from")
    spec = StudySpec.model_validate(record.spec)
    ensure_ray(spec.ray.address, spec.storage.workdir)
    from trainables.tracking import reopen_study_run

    reopen_study_run(record.tracking_uri, record.parent_run_id)
    record.status = records.RUNNING
    record.save()
    tuner = tune.Tuner.restore(
        record.ray_path,
        trainable=_trainable(spec),
        resume_unfinished=True,
        resume_errored=True,
    )
    return _fit(tuner, record, _expected_trials(spec))


def _expected_trials(spec: Any) -> int:
    from studies.searchers import num_samples

    return num_samples(spec)


def _existing(spec: Any) -> pd.DataFrame | None:
    """A study of the same name: same spec and finished → its results; else a clear error."""
    from studies.spec import spec_hash

    path = records.record_path(spec.storage.workdir, spec.name)
    if not path.exists():
        return None
    record = records.load_record(spec.storage.workdir, spec.name)
    if record.spec_hash != spec_hash(spec):
        raise UsageError(
            f"name: study {spec.name!r} already exists in {spec.storage.workdir} with another "
            f"spec; choose a new name (--set name=...) or another --workdir"
        )
    if record.status != records.FINISHED:
        raise UsageError(
            f"name: study {spec.name!r} exists and is {record.status}; "
            f"continue it with `prunetune resume {spec.name}`"
        )
    log.warning("study %r already finished with this spec; showing its results", spec.name)
    return trials_frame(record)


def _open_study(spec: Any, digest: str) -> StudyRecord:
    from trainables.tracking import open_study_run

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


def study_context(record: StudyRecord) -> dict[str, str]:
    return {
        "name": record.name,
        "workdir": record.workdir,
        "tracking_uri": record.tracking_uri,
        "experiment_id": record.experiment_id,
        "parent_run_id": record.parent_run_id,
        "dense_dir": str(Path(record.workdir) / "dense"),
        "spec_hash": record.spec_hash,
    }


def _trainable(spec: Any):
    from ray import tune

    from trainables.trial import prune_retrain

    def trainable(config: dict[str, Any]) -> None:  # a fresh function: with_resources mutates it
        prune_retrain(config)

    resources = {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    return tune.with_resources(trainable, resources)


def _make_tuner(spec: Any, record: StudyRecord):
    from ray import tune

    from studies.searchers import make_scheduler, make_search_alg, num_samples

    param_space = {"spec": record.spec, "study": study_context(record), "role": "search"}
    return tune.Tuner(
        _trainable(spec),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=make_search_alg(spec),
            scheduler=make_scheduler(spec),
            num_samples=num_samples(spec),
            max_concurrent_trials=spec.search.concurrency,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=spec.storage.ray,
            failure_config=tune.FailureConfig(max_failures=spec.search.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=0,
        ),
    )


def _fit(tuner, record: StudyRecord, expected: int) -> pd.DataFrame:
    from trainables.tracking import end_study_run, kill_unfinished_trial_runs

    interrupted = False
    previous = signal.getsignal(signal.SIGINT)
    try:
        tuner.fit()
        interrupted = _unfinished(record, expected)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGINT, previous)
        kill_unfinished_trial_runs(record.tracking_uri, record.experiment_id, record.parent_run_id)
    record.status = records.INTERRUPTED if interrupted else records.FINISHED
    end_study_run(
        record.tracking_uri, record.parent_run_id, "KILLED" if interrupted else "FINISHED"
    )
    record.save()
    if interrupted:
        raise StudyInterrupted(record.name)
    return trials_frame(record)


class StudyInterrupted(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"study {name!r} interrupted; continue it with `prunetune resume {name}`")


def _unfinished(record: StudyRecord, expected: int) -> bool:
    """Tune returns normally after SIGINT, keeps its interrupted flag private and marks stopped
    trials TERMINATED in memory; the Optuna study is the faithful record of what finished."""
    import optuna

    from studies.searchers import optuna_storage

    study = optuna.load_study(
        study_name=record.name, storage=optuna_storage(record.optuna_storage)
    )
    states = [t.state for t in study.get_trials(deepcopy=False)]
    running = states.count(optuna.trial.TrialState.RUNNING)
    return running > 0 or len(states) - running < expected


def trials_frame(record: StudyRecord) -> pd.DataFrame:
    """One row per trial run of the study from MLflow (params, summary metrics, tags)."""
    from trainables.tracking import runs_dataframe

    frame = runs_dataframe(record.tracking_uri, record.experiment_id, record.parent_run_id)
    if frame.empty:
        return frame
    role = frame.get("tags.role")
    return frame[role != "pretrain"].reset_index(drop=True) if role is not None else frame


def default_workdir() -> str:
    return os.environ.get("PRUNETUNE_WORKDIR", "./prunetune-runs")

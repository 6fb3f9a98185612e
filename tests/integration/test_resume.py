"""An interrupted study (SIGINT to the driver) continues with `prunetune resume`: finished trials
are not re-run, Optuna holds no duplicate trials, no run is left RUNNING."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _complete_trials(db: Path, name: str) -> int:
    import optuna
    import sqlalchemy

    if not db.exists():
        return 0
    try:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):
        # The study does not exist yet, or this poll raced the driver creating the storage's
        # tables (both stamp its schema version: one of them gets a UNIQUE violation).
        return 0
    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_sigint_then_resume(write_study, tmp_path: Path) -> None:
    """SIGINT after the first trial finished; resume runs the rest exactly once."""
    import optuna
    from mlflow.tracking import MlflowClient

    study = write_study(name="resumable", trials=6, epochs=4)
    workdir = tmp_path / "runs"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "studies.cli", "run", str(study), "--workdir", str(workdir)]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    db = workdir / "optuna.db"
    deadline = time.time() + 300
    while _complete_trials(db, "resumable") < 1 and time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    assert "prunetune resume resumable" in out

    from studies.session.records import load_record

    record = load_record(str(workdir), "resumable")
    assert record.status == "KILLED" and record.status_text == "interrupted"
    client = MlflowClient(record.tracking_uri)
    assert client.get_run(record.parent_run_id).info.status == "KILLED"
    runs = client.search_runs([record.experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    done_before = {
        r.info.run_name
        for r in runs
        if r.data.tags.get("role") == "search" and r.data.tags.get("status") == "completed"
    }

    res = subprocess.run(
        [sys.executable, "-m", "studies.cli", "resume", "resumable", "--workdir", str(workdir)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert load_record(str(workdir), "resumable").status == "FINISHED"
    assert client.get_run(record.parent_run_id).info.status == "FINISHED"

    ostudy = optuna.load_study(study_name="resumable", storage=f"sqlite:///{db}")
    assert len(ostudy.trials) == 6
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in ostudy.trials)
    runs = client.search_runs([record.experiment_id])
    trials = [r for r in runs if r.data.tags.get("role") == "search"]
    assert len({r.info.run_name for r in trials}) == len(trials) == 6
    assert all(r.info.status == "FINISHED" for r in runs)
    for r in trials:
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "acc/val")]
        assert steps == [0, 1, 2, 3], (r.info.run_name, steps)
    finished_again = {r.info.run_name for r in trials if r.info.run_name in done_before}
    assert finished_again == done_before

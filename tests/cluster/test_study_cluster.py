"""A tiny study on the real deployment stack: a multi-node Ray (driver via --address, or
`ray job submit` to the job server), MLflow server on PostgreSQL, Optuna on PostgreSQL.

What is checked is what an operator would look at afterwards: every Optuna trial COMPLETE in
PostgreSQL, the MLflow parent run FINISHED with one nested run per trial and none RUNNING,
trials spread over ≥ 2 nodes (the ``node`` tag), and nothing listening off loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.helpers import owned_outside_loopback, run_watching_sockets
from tests.cluster.services import MlflowServer, Postgres, RayCluster
from tests.integration.study_helpers import TINY_STUDY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIALS = 4
PRUNETUNE = str(Path(sys.executable).with_name("prunetune"))
RAY = str(Path(sys.executable).with_name("ray"))
JOB_TIMEOUT_S = 600


def _study_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        textwrap.dedent(TINY_STUDY).format(
            name=name, methods='["l1"]', ratio="[0.5]", schedules='["ft", "clr"]', epochs=2,
            sampler="random", trials=TRIALS,
        )
    )  # fmt: skip
    return path


def assert_study_recorded(name: str, mlflow: MlflowServer, postgres: Postgres) -> set[str]:
    """Store facts of a finished study; returns the distinct ``node`` tags of its trials."""
    import optuna
    from mlflow.tracking import MlflowClient

    storage = optuna.storages.RDBStorage(postgres.optuna_url)
    study = optuna.load_study(study_name=name, storage=storage)
    states = [t.state for t in study.trials]
    assert len(states) == TRIALS
    assert all(s == optuna.trial.TrialState.COMPLETE for s in states), states

    client = MlflowClient(mlflow.uri)
    exp = client.get_experiment_by_name(name)
    assert exp is not None, f"no MLflow experiment {name!r}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent_id = parents[0].info.run_id
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
    trials = [r for r in children if r.data.tags.get("role") == "search"]
    assert len(trials) == TRIALS
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    for run in trials:
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "completed"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        assert run.data.metrics, f"trial run {run.info.run_name} logged no metrics"
    return {r.data.tags["node"] for r in trials}


def _worker_node_tags(cluster: RayCluster) -> set[str]:
    return {f"127.0.0.1/{w.node_id[:12]}" for w in cluster.workers.values()}


def test_study_via_address(
    ray_cluster: RayCluster, mlflow_pg: MlflowServer, postgres: Postgres, tmp_path: Path
) -> None:
    """`prunetune run --address <GCS>` with PostgreSQL-backed MLflow and Optuna: trials run on
    both worker nodes, every store records the study finished."""
    name = "cluster-address"
    workdir = tmp_path / "runs"
    done, off_loopback = run_watching_sockets(
        [
            PRUNETUNE, "run", str(_study_file(tmp_path, name)),
            "--address", ray_cluster.address, "--tracking-uri", mlflow_pg.uri,
            "--storage", postgres.optuna_url, "--workdir", str(workdir),
        ],
        timeout=JOB_TIMEOUT_S, watch=lambda: _stack_off_loopback(ray_cluster, mlflow_pg),
        cwd=tmp_path, env=ray_cluster.env(PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    nodes = assert_study_recorded(name, mlflow_pg, postgres)
    assert len(nodes) >= 2, nodes
    assert nodes <= _worker_node_tags(ray_cluster) | _dead_nodes(ray_cluster), nodes
    assert off_loopback == set(), "the driver, a trial or a service listened off loopback"


def test_study_via_job_submit(
    ray_cluster: RayCluster, mlflow_pg: MlflowServer, postgres: Postgres, tmp_path: Path
) -> None:
    """`ray job submit --no-wait -- prunetune run …` (no --address: the driver joins through
    RAY_ADDRESS) ends SUCCEEDED with the same store facts."""
    name = "cluster-job"
    submission = f"prunetune-{name}-{int(time.time())}"
    workdir = tmp_path / "runs"  # absolute: the job's CWD is Ray's, not ours
    submit = subprocess.run(
        [
            RAY, "job", "submit", "--address", ray_cluster.dashboard_url, "--no-wait",
            "--submission-id", submission, "--",
            PRUNETUNE, "run", str(_study_file(tmp_path, name)), "--tracking-uri", mlflow_pg.uri,
            "--storage", postgres.optuna_url, "--workdir", str(workdir),
        ],
        capture_output=True, text=True, env=ray_cluster.env(), timeout=120,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr[-3000:]
    off_loopback: set[str] = set()
    status = _wait_job(
        ray_cluster, submission, JOB_TIMEOUT_S,
        # The job's driver runs under the head's raylet: the cluster's trees include it.
        on_poll=lambda: off_loopback.update(_stack_off_loopback(ray_cluster, mlflow_pg)),
    )  # fmt: skip
    if status != "SUCCEEDED":
        pytest.fail(
            f"job {submission} ended {status}:\n{_job_logs(ray_cluster, submission)[-8000:]}"
        )
    nodes = assert_study_recorded(name, mlflow_pg, postgres)
    assert len(nodes) >= 2, nodes
    logs = _job_logs(ray_cluster, submission)
    assert f"{mlflow_pg.uri}/#/experiments/" in logs, logs[-3000:]  # the driver's summary
    assert off_loopback == set(), "the driver, a trial or a service listened off loopback"


def _stack_off_loopback(cluster: RayCluster, mlflow: MlflowServer) -> set[str]:
    groups = cluster.pgids() | mlflow.pgids()
    return owned_outside_loopback(groups, groups)


def _wait_job(
    cluster: RayCluster, submission: str, timeout: float, on_poll: Callable[[], object]
) -> str:
    """Poll the job server's REST API until the job is in a terminal state."""
    deadline = time.monotonic() + timeout
    status = "PENDING"
    while time.monotonic() < deadline:
        on_poll()
        url = f"{cluster.dashboard_url}/api/jobs/{submission}"
        with urllib.request.urlopen(url, timeout=10) as response:
            status = json.load(response)["status"]
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        time.sleep(2)
    subprocess.run(
        [RAY, "job", "stop", "--address", cluster.dashboard_url, submission],
        env=cluster.env(), capture_output=True, timeout=60,
    )  # fmt: skip
    return f"{status} (timed out after {timeout:.0f} s, stopped)"


def _job_logs(cluster: RayCluster, submission: str) -> str:
    done = subprocess.run(
        [RAY, "job", "logs", "--address", cluster.dashboard_url, submission],
        capture_output=True, text=True, env=cluster.env(), timeout=60,
    )  # fmt: skip
    return done.stdout + done.stderr


def _dead_nodes(cluster: RayCluster) -> set[str]:
    """Node tags of nodes a previous test killed (kill_worker) — still valid trial hosts."""
    return {f"{n['node_ip']}/{n['node_id'][:12]}" for n in cluster.nodes() if n["state"] == "DEAD"}

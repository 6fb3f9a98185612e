"""The cluster fixtures themselves: PostgreSQL, MLflow on PostgreSQL with proxied artifacts,
and the multi-node Ray (nodes, loopback, a lost node and its replacement)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cluster import procs
from tests.cluster.helpers import is_loopback, listening_sockets, owned_outside_loopback
from tests.cluster.services import MlflowServer, Postgres, RayCluster, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Logs an artifact through the tracking server and reads it back; prints what it saw.
ARTIFACT_CLIENT = """
import json, sys, tempfile, pathlib
import mlflow
from mlflow.tracking import MlflowClient
uri, hidden = sys.argv[1], pathlib.Path(sys.argv[2])
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("artifact-proxy")
src = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
src.write_text("through the proxy")
with mlflow.start_run() as run:
    mlflow.log_artifact(str(src), "notes")
back = MlflowClient(uri).download_artifacts(run.info.run_id, "notes/note.txt", tempfile.mkdtemp())
print(json.dumps({
    "run_id": run.info.run_id,
    "artifact_uri": run.info.artifact_uri,
    "read_back": pathlib.Path(back).read_text(),
    "destination_visible": any(hidden.iterdir()) if hidden.exists() else False,
}))
"""


def test_postgres_serves_both_databases(postgres: Postgres) -> None:
    """Databases mlflow and optuna exist and answer over TCP on 127.0.0.1."""
    names = postgres.psql("postgres", "SELECT datname FROM pg_database ORDER BY datname")
    assert {"mlflow", "optuna"} <= set(names.split())
    assert postgres.psql("optuna", "SELECT 1") == "1"
    assert postgres.optuna_url == f"postgresql://postgres@127.0.0.1:{postgres.port}/optuna"


def test_postgres_restart_keeps_data(postgres: Postgres) -> None:
    """restart() brings the same server back on the same port with its data."""
    postgres.psql("optuna", "CREATE TABLE IF NOT EXISTS restart_probe (v int)")
    postgres.psql("optuna", "INSERT INTO restart_probe VALUES (7)")
    down = postgres.restart()
    assert postgres.running()
    assert postgres.psql("optuna", "SELECT sum(v) FROM restart_probe") in {"7", "14", "21"}
    postgres.psql("optuna", "DROP TABLE restart_probe")
    assert down < 30


def test_mlflow_pg_proxies_artifacts(mlflow_pg: MlflowServer, tmp_path: Path) -> None:
    """A client that cannot see the artifact destination logs and reads artifacts through the
    server; they land in the destination on the server's side."""
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(ARTIFACT_CLIENT))
    hidden = mlflow_pg.artifacts_dir
    # A private mount namespace with an empty tmpfs over the destination: the client provably
    # has no access to the files, as a worker on another machine would.
    cmd = [
        "unshare", "-m", "sh", "-c",
        f'mount -t tmpfs none "{hidden}" && exec "$0" "$@"',
        sys.executable, str(script), mlflow_pg.uri, str(hidden),
    ]  # fmt: skip
    if shutil.which("unshare") is None:
        pytest.skip("unshare not available: cannot hide the artifact destination")
    done = subprocess.run(cmd, capture_output=True, text=True, env=service_env(), timeout=180)
    if "mount" in done.stderr and "ermission" in done.stderr:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["artifact_uri"].startswith("mlflow-artifacts:")
    assert seen["read_back"] == "through the proxy"
    assert seen["destination_visible"] is False
    landed = list(hidden.rglob("note.txt"))
    assert len([p for p in landed if seen["run_id"] in str(p)]) == 1
    assert landed[0].read_text() == "through the proxy"


def test_mlflow_pg_stop_start_same_port(mlflow_pg: MlflowServer) -> None:
    """stop() takes the server down and start() brings it back on the same URI, runs intact."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_pg.uri)
    exp = client.get_experiment_by_name("stop-start") or client.get_experiment(
        client.create_experiment("stop-start")
    )
    run = client.create_run(exp.experiment_id)
    uri = mlflow_pg.uri
    mlflow_pg.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{uri}/health", timeout=2)
    mlflow_pg.start()
    assert mlflow_pg.uri == uri
    assert client.get_run(run.info.run_id).info.status == "RUNNING"
    client.set_terminated(run.info.run_id)
    assert mlflow_pg.start_s < 60


def test_ray_cluster_nodes(ray_cluster: RayCluster) -> None:
    """Head with 0 CPUs plus ≥ 2 one-CPU worker nodes, each with its own resource, all with
    node IP 127.0.0.1."""
    nodes = [n for n in ray_cluster.nodes() if n["state"] == "ALIVE"]
    heads = [n for n in nodes if n["is_head_node"]]
    workers = [n for n in nodes if not n["is_head_node"]]
    assert len(heads) == 1 and heads[0]["resources_total"].get("CPU", 0) == 0
    assert len(workers) >= 2
    for node in workers:
        assert node["node_ip"] == "127.0.0.1"
        assert node["resources_total"]["CPU"] == 1
        assert any(key.startswith("node_w") for key in node["resources_total"])


def test_stack_listens_on_loopback_only(
    postgres: Postgres, mlflow_pg: MlflowServer, ray_cluster: RayCluster
) -> None:
    """Every socket that PostgreSQL, MLflow and the Ray nodes listen on is on 127.0.0.1."""
    pids = procs.tree(
        postgres.pids() | mlflow_pg.pgids() | ray_cluster.pgids(),
        mlflow_pg.pgids() | ray_cluster.pgids(),
    )
    sockets = listening_sockets(pids)
    assert len(sockets) >= 10, sockets  # GCS, dashboard, raylets, agents, mlflow, postgres
    assert [s for s in sockets if not is_loopback(s)] == []


def test_ray_cluster_lost_node_and_replacement(ray_cluster: RayCluster) -> None:
    """kill_worker(i) SIGKILLs a whole worker node (GCS marks it DEAD); add_worker() brings a
    replacement with a fresh node resource, so the cluster ends the test with as many nodes."""
    before = len(ray_cluster.workers)
    index = max(ray_cluster.workers)
    lost = ray_cluster.workers[index]
    ray_cluster.kill_worker(index)
    deadline = time.monotonic() + 60
    while lost.node_id in ray_cluster.alive_node_ids():
        assert time.monotonic() < deadline, "GCS never noticed the lost node"
        time.sleep(0.5)
    dead = [n for n in ray_cluster.nodes() if n["node_id"] == lost.node_id]
    assert dead and dead[0]["state"] == "DEAD"
    replacement = ray_cluster.add_worker()
    assert replacement.index > index
    assert replacement.node_id in ray_cluster.alive_node_ids()
    assert len(ray_cluster.workers) == before
    totals = [n["resources_total"] for n in ray_cluster.nodes() if n["state"] == "ALIVE"]
    assert any(replacement.resource in t for t in totals)


def test_socket_watch_sees_a_child_listener(tmp_path: Path) -> None:
    """The loopback check finds the listeners of a process tree and classifies addresses
    (the negative control binds only 127.0.0.1: nothing may listen outside on this box)."""
    assert all(map(is_loopback, ["127.0.0.1:1", "[::ffff:127.0.0.1]:1", "[::1]:1"]))
    assert not any(map(is_loopback, ["0.0.0.0:1", "*:1", "[::]:1", "192.0.2.2:1"]))
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not listening_sockets(procs.tree([server.pid])):
            assert time.monotonic() < deadline, "http.server never listened"
            time.sleep(0.2)
        (found,) = listening_sockets(procs.tree([server.pid]))
        assert found.startswith("127.0.0.1:") and is_loopback(found)
        assert owned_outside_loopback({server.pid}) == set()
    finally:
        server.kill()
        server.wait(timeout=10)

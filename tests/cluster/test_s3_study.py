"""A cluster without a shared filesystem: Ray Tune's checkpoints (storage.ray) and the files
trials share (storage.shared: the dense cache and its rewinding snapshots, the oracle's round
checkpoints) in one S3 bucket (moto on 127.0.0.1), the study records in a driver workdir that
no trial may touch. Also the shared store's Ray leases across two nodes: a second holder waits,
a killed holder's lease expires and is taken over."""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.helpers import run_watching_sockets
from tests.cluster.services import MlflowServer, Postgres, RayCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "prunetune-study"
PRUNETUNE = str(Path(sys.executable).with_name("prunetune"))
# moto accepts any credentials; Tune forwards these two from the driver to its trials.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}

STUDY = """
name = "{name}"
kind = "oracle"
[model]
name = "smallcnn"
[dataset]
name = "digits"
[pretrain]
epochs = 2
lr = 0.05
[pruning]
methods = ["magnitude"]
ratio = [0.5]
schedule = "iterative"
rounds = 2
[retrain]
schedules = ["clr"]
epochs = [1]
start = ["rewind:1"]  # every round rewinds to the dense run's epoch 1: snapshots cross nodes
[search]
concurrency = 2
[oracle]
grid = [0.01, 0.1]
[storage]
ray = "s3://{bucket}/ray?{query}"
shared = "s3://{bucket}/shared?{query}"
"""


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server in this process on 127.0.0.1 with one empty bucket; yields host:port."""
    import pyarrow.fs as pafs
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"127.0.0.1:{port}"
        pafs.S3FileSystem(
            endpoint_override=endpoint, scheme="http", region="us-east-1", allow_bucket_creation=True,
            access_key="test", secret_key="test",
        ).create_dir(BUCKET)  # fmt: skip
        yield endpoint
    finally:
        server.stop()


def _bucket_files(endpoint: str, prefix: str) -> list[str]:
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(
        endpoint_override=endpoint, scheme="http", region="us-east-1", access_key="test",
        secret_key="test",
    )  # fmt: skip
    selector = pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True, allow_not_found=True)
    return [i.path for i in fs.get_file_info(selector) if i.type == pafs.FileType.File]


# --- leases across nodes -------------------------------------------------------------------


def _hold(key: str, ttl_s: float, seconds: float, die: bool = False) -> dict[str, Any]:
    """Take the lease on this node, hold it `seconds`, release it; `die`: exit while holding."""
    import ray

    from trainables.shared_store import Lease

    lease = Lease(key, ttl_s=ttl_s)
    lease.__enter__()
    got = time.time()
    if die:
        os._exit(1)  # killed while holding: never renews, never releases
    time.sleep(seconds)
    released = time.time()
    lease.__exit__(None, None, None)
    return {"got": got, "released": released, "node": ray.get_runtime_context().get_node_id()}


def _wait_held(table: Any, key: str, task: Any, timeout: float = 120) -> str:
    """The holder of `key` once `task` took it (its error if it failed first)."""
    import ray

    deadline, ended = time.monotonic() + timeout, False
    while time.monotonic() < deadline:
        holder = ray.get(table.holder.remote(key))
        if holder:
            return holder
        if ended:  # and still no holder: the task failed before taking it
            ray.get(task)
            raise AssertionError(f"the task ended without taking {key}")
        ended = bool(ray.wait([task], timeout=0.1)[0])
    raise AssertionError(f"nobody took {key} within {timeout} s")


def test_leases_exclude_across_nodes_and_expire(ray_cluster: RayCluster) -> None:
    """A holder on one node makes a holder on the other wait until it releases; a holder
    killed while holding blocks the other only until its lease expires (ttl 2 s)."""
    import ray

    from trainables.shared_store import lease_table

    ray.init(address=ray_cluster.address, log_to_driver=False)
    # pytest imports this file as `cluster.test_s3_study` (tests/ has no __init__), a name the
    # nodes cannot import: ship _hold by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        # Created here, so the holder killed below does not take the table down with it.
        table = lease_table()
        first, second = [{w.resource: 0.01} for w in list(ray_cluster.workers.values())[:2]]
        hold = ray.remote(num_cpus=0, max_retries=0)(_hold)
        a = hold.options(resources=first).remote("s3://b/k1", 30.0, 3.0)
        _wait_held(table, "s3://b/k1", a)
        b = hold.options(resources=second).remote("s3://b/k1", 30.0, 0.0)
        held, waited = ray.get([a, b], timeout=120)
        assert held["node"] != waited["node"]
        assert waited["got"] >= held["released"] - 0.05, (held, waited)  # clocks: one machine

        dying = hold.options(resources=first).remote("s3://b/k2", 2.0, 0.0, True)
        _wait_held(table, "s3://b/k2", dying)
        seen = time.time()
        taker = ray.get(hold.options(resources=second).remote("s3://b/k2", 2.0, 0.0), timeout=60)
        assert 1.0 <= taker["got"] - seen < 15, taker["got"] - seen
        with pytest.raises(ray.exceptions.RayError):
            ray.get(dying, timeout=30)  # the holder really died
        assert ray.get(table.holder.remote("s3://b/k2")) is None  # the taker released it
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        ray.shutdown()


# --- a study ---------------------------------------------------------------------------------


def test_oracle_study_with_s3_storage_and_no_shared_workdir(
    ray_cluster: RayCluster,
    mlflow_pg: MlflowServer,
    postgres: Postgres,
    moto_endpoint: str,
    tmp_path: Path,
) -> None:
    """A 2-round rewinding oracle on 2 worker nodes with storage.ray and storage.shared in S3:
    it finishes, the dense model is trained once, trials ran on both nodes, the dense model,
    its snapshots and every round checkpoint are in the bucket, none in the driver's workdir."""
    name = f"s3-oracle-{int(time.time())}"
    query = f"endpoint_override={moto_endpoint}&scheme=http&region=us-east-1"
    study = tmp_path / "study.toml"
    study.write_text(textwrap.dedent(STUDY).format(name=name, bucket=BUCKET, query=query))
    workdir = tmp_path / "driver-workdir"
    workdir.mkdir()
    # Tripwires: a trial that still used the workdir for shared files would fail on these.
    for tripwire in ("dense", "checkpoints", "ray"):
        (workdir / tripwire).write_text("not for trials")
    done, off_loopback = run_watching_sockets(
        [
            PRUNETUNE, "run", str(study), "--address", ray_cluster.address,
            "--tracking-uri", mlflow_pg.uri, "--storage", postgres.optuna_url,
            "--workdir", str(workdir),
        ],
        timeout=600, cwd=tmp_path, env=ray_cluster.env(PYTHONUNBUFFERED="1", **AWS_ENV),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    assert off_loopback == set()

    runs = _runs(mlflow_pg.uri, name)
    pretrain = [r for r in runs if r.data.tags.get("role") == "pretrain"]
    assert len(pretrain) == 1, [r.info.run_name for r in pretrain]  # trained once, then shared
    oracle = [r for r in runs if r.data.tags.get("role") == "oracle"]
    assert sorted(r.data.tags["round"] for r in oracle) == ["1", "1", "2", "2"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert len({r.data.tags["node"] for r in oracle}) >= 2, [r.data.tags["node"] for r in oracle]

    shared = _bucket_files(moto_endpoint, "shared")
    dense = [p for p in shared if "/dense/" in p and not p.endswith(".lock")]
    assert len([p for p in dense if p.endswith(".snapshots.pt")]) == 1, shared
    assert len(dense) == 2, shared
    checkpoints = {p.rsplit("/", 1)[-1] for p in shared if f"/checkpoints/{name}/" in p}
    assert checkpoints == {f"{r.info.run_id}.pt" for r in oracle}
    for run in oracle:
        assert run.data.tags["final_checkpoint"].startswith(f"s3://{BUCKET}/shared/checkpoints/")
    assert any(p.endswith(".json") for p in _bucket_files(moto_endpoint, f"ray/{name}-oracle-r2"))
    assert {p.name for p in workdir.iterdir()} >= {"dense", "checkpoints", "ray", "studies"}
    for tripwire in ("dense", "checkpoints", "ray"):
        assert (workdir / tripwire).read_text() == "not for trials"


def _runs(uri: str, experiment: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    return client.search_runs([found.experiment_id], max_results=1000)

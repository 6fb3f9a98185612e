"""Ray Tune 2.60 experiment storage on S3 (a moto server on 127.0.0.1), with trials on the
cluster's worker nodes: checkpoints go to the bucket, `Tuner.can_restore`/`Tuner.restore`
work from it. One test per way of pointing Tune at a non-AWS endpoint (see s3_tune_driver)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.services import (
    RayCluster,
    _stop_group,
    free_port,
    http_ok,
    service_env,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "prunetune-ci"
# moto accepts any credentials; no instance-metadata lookups (they would wait for timeouts).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class MotoS3:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str

    def filesystem(self):
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            endpoint_override=self.endpoint, scheme="http", access_key="test",
            secret_key="test", region="us-east-1", allow_bucket_creation=True,
        )  # fmt: skip

    def keys(self, prefix: str) -> list[str]:
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(f"{self.bucket}/{prefix}", recursive=True)
        return [info.path for info in self.filesystem().get_file_info(selector)]


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """moto's S3 server on 127.0.0.1 with one empty bucket."""
    root = tmp_path_factory.mktemp("moto")
    port = free_port()
    log = root / "moto.log"
    server = Path(sys.executable).with_name("moto_server")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out,
            stderr=subprocess.STDOUT, env=service_env(), start_new_session=True,
        )  # fmt: skip
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{endpoint}/"), 60, "moto server", log, proc)
        s3 = MotoS3(endpoint, BUCKET)
        s3.filesystem().create_dir(BUCKET)
        yield s3
    finally:
        _stop_group(proc)


@pytest.mark.parametrize("mode", ["fs", "uri", "env"])
def test_tune_checkpoints_and_restores_on_s3(
    mode: str, moto_s3: MotoS3, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    """Trials on worker nodes checkpoint 3× to S3; after a failure at step 2 the experiment
    can be restored from S3 and resumes from checkpoint 2."""
    env = ray_cluster.env(**AWS_ENV)
    if mode == "env":
        env["AWS_ENDPOINT_URL"] = moto_s3.endpoint  # the driver's environment only
    done = subprocess.run(
        [
            sys.executable, "-m", "tests.cluster.s3_tune_driver", mode, moto_s3.endpoint,
            moto_s3.bucket, ray_cluster.address, str(tmp_path / "failed-once"),
        ],
        capture_output=True, text=True, env=env, timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first_error"] and seen["first_step"] == 2
    assert seen["can_restore"] is True
    assert seen["error"] is None, seen["error"]
    assert (seen["step"], seen["resumed_from"]) == (3, 2)
    assert seen["checkpoint_fs"] == "S3FileSystem"
    assert seen["checkpoint"].startswith(f"{moto_s3.bucket}/runs/s3-{mode}/")
    workers = {w.node_id for w in ray_cluster.workers.values()}
    assert seen["node"] in workers | _dead(ray_cluster), "the trial must run on a worker node"
    # Tune copies AWS_ACCESS_KEY_ID/SECRET/SESSION_TOKEN (not AWS_ENDPOINT_URL) from the driver
    # into trial actors (ray/tune/execution/class_cache.py); the endpoint reaches the worker
    # nodes only inside the S3FileSystem the driver resolved and pickled.
    assert seen["trial_env"] == ["", "test"]
    keys = moto_s3.keys(f"runs/s3-{mode}")
    checkpoints = {k.rsplit("/", 2)[-2] for k in keys if k.endswith("state.json")}
    assert checkpoints == {"checkpoint_000000", "checkpoint_000001", "checkpoint_000002"}
    assert any(k.endswith(".json") and "experiment_state" in k for k in keys), keys


def _dead(cluster: RayCluster) -> set[str]:
    return {n["node_id"] for n in cluster.nodes() if n["state"] == "DEAD"}

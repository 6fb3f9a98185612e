"""A Ray Tune driver whose experiment storage is S3 (a moto server), in one of three forms:

- ``fs``:  ``storage_path="BUCKET/PREFIX"`` + ``storage_filesystem=pyarrow.fs.S3FileSystem(...)``
- ``uri``: ``storage_path="s3://BUCKET/PREFIX?endpoint_override=HOST:PORT&scheme=http&region=…"``
- ``env``: ``storage_path="s3://BUCKET/PREFIX"`` with ``AWS_ENDPOINT_URL`` in the driver's env

The trial reports and checkpoints 3 times and fails once after its 2nd checkpoint; the driver
then checks ``Tuner.can_restore`` and resumes with ``Tuner.restore(..., resume_errored=True)``,
which must continue from checkpoint 2 (downloaded from S3). Prints one JSON line.

Only ray + pyarrow: this is evidence about Ray Tune 2.60's storage, not about prunetune.
Run: ``python -m tests.cluster.s3_tune_driver MODE ENDPOINT BUCKET RAY_ADDRESS MARKER``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import ray
from ray import tune

REGION = "us-east-1"


def trainable(config: dict[str, Any]) -> None:
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            start = json.loads((Path(d) / "state.json").read_text())["step"]
    node = ray.get_runtime_context().get_node_id()
    for step in range(start + 1, 4):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "state.json").write_text(json.dumps({"step": step}))
            metrics = {
                "step": step,
                "resumed_from": start,
                "node": node,
                # Proof that the trial's process got the endpoint from the pickled filesystem,
                # not from an environment the driver had.
                "trial_env_endpoint": os.environ.get("AWS_ENDPOINT_URL", ""),
                "trial_env_key": os.environ.get("AWS_ACCESS_KEY_ID", ""),
            }
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
        if step == 2 and not os.path.exists(config["marker"]):
            Path(config["marker"]).write_text("failed once")  # the retry goes through
            raise RuntimeError("planned failure after checkpoint 2")


def storage(mode: str, endpoint: str, bucket: str) -> tuple[str, pafs.FileSystem | None]:
    """(storage_path, storage_filesystem) for one of the three forms."""
    if mode == "fs":
        fs = pafs.S3FileSystem(
            endpoint_override=endpoint, scheme="http", access_key="test", secret_key="test",
            region=REGION,
        )  # fmt: skip
        return f"{bucket}/runs", fs
    if mode == "uri":
        host = endpoint.removeprefix("http://")
        return f"s3://{bucket}/runs?endpoint_override={host}&scheme=http&region={REGION}", None
    if mode == "env":
        return f"s3://{bucket}/runs", None
    raise SystemExit(f"unknown mode {mode!r}")


def experiment_path(storage_path: str, name: str) -> str:
    """Where the experiment lives, in the same form (the query string stays at the end)."""
    base, sep, query = storage_path.partition("?")
    return f"{base}/{name}{sep}{query}"


def main(mode: str, endpoint: str, bucket: str, address: str, marker: str) -> dict[str, Any]:
    ray.init(address=address, log_to_driver=False)
    path, fs = storage(mode, endpoint, bucket)
    name = f"s3-{mode}"
    fn = tune.with_resources(trainable, {"cpu": 1})
    first = tune.Tuner(
        fn,
        param_space={"marker": marker},
        run_config=tune.RunConfig(
            name=name, storage_path=path, storage_filesystem=fs,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    ).fit()[0]  # fmt: skip
    where = experiment_path(path, name)
    can_restore = tune.Tuner.can_restore(where, storage_filesystem=fs)
    again = tune.Tuner.restore(
        where, tune.with_resources(trainable, {"cpu": 1}), resume_errored=True,
        storage_filesystem=fs,
    ).fit()[0]  # fmt: skip
    return {
        "first_error": bool(first.error),
        "first_step": first.metrics.get("step"),
        "can_restore": can_restore,
        "error": str(again.error).splitlines()[-1] if again.error else None,
        "step": again.metrics.get("step"),
        "resumed_from": again.metrics.get("resumed_from"),
        "node": again.metrics.get("node"),
        "trial_env": [again.metrics.get("trial_env_endpoint"), again.metrics.get("trial_env_key")],
        "checkpoint": again.checkpoint.path if again.checkpoint else None,
        "checkpoint_fs": type(again.checkpoint.filesystem).__name__ if again.checkpoint else None,
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:6])))

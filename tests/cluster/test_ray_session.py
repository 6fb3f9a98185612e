"""studies.session.ray_session: which Ray a driver joins (explicit address, RAY_ADDRESS as inside a Ray
job, else embedded) and that an unreachable cluster fails in seconds with one line."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studies.errors import UsageError
from studies.session.ray_session import check_reachable, target_address
from tests.cluster.services import RayCluster, service_env
from tests.integration.study_helpers import TINY_STUDY

# Runs ensure_ray in a fresh interpreter (this process may hold another Ray already) and
# reports what it joined.
JOIN_SCRIPT = """
import json, sys, ray
from studies.session.ray_session import current_address, ensure_ray, in_ray_job
address = sys.argv[1] or None
ensure_ray(address, sys.argv[2], num_cpus=2)  # num_cpus must be ignored when joining
node = ray._private.worker.global_worker.node
print(json.dumps({
    "address": current_address(),
    "resources": ray.cluster_resources(),
    "in_job": in_ray_job(),
    "dashboard": node.webui_url,
}))
"""


@pytest.fixture
def not_a_gcs() -> Iterator[str]:
    """host:port of an HTTP server: the port is open but nothing there speaks Ray."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _join(address: str, workdir: Path, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(JOIN_SCRIPT), address, str(workdir)],
        capture_output=True,
        text=True,
        env=service_env(**env),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_target_address_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit address beats RAY_ADDRESS, RAY_ADDRESS beats embedded."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert target_address("") == ("", "")
    assert target_address("10.0.0.5:6379") == ("10.0.0.5:6379", "ray.address")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6390")
    assert target_address(None) == ("127.0.0.1:6390", "RAY_ADDRESS")
    assert target_address("10.0.0.5:6379") == ("10.0.0.5:6379", "ray.address")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1:1", "Connection refused"),
        ("ray://127.0.0.1:1", "Connection refused"),
        ("nosuchhost.invalid:6379", ""),
        ("http://127.0.0.1:8265", "dashboard/job-server URL"),
    ],
)
def test_unreachable_address_fails_fast(address: str, reason: str) -> None:
    """Refused, unknown host, Ray Client and dashboard URLs: one line, well under 20 s."""
    began = time.monotonic()
    with pytest.raises(UsageError) as caught:
        check_reachable(address)
    message = str(caught.value)
    assert message.startswith(f"ray.address {address}: cannot reach a Ray cluster (")
    assert reason in message and "\n" not in message
    assert time.monotonic() - began < 20


def test_open_port_that_is_not_ray(not_a_gcs: str) -> None:
    """A port that answers but is no GCS is reported as such, not retried for minutes."""
    began = time.monotonic()
    with pytest.raises(UsageError, match="the port answers but is not a Ray GCS"):
        check_reachable(not_a_gcs, field="RAY_ADDRESS")
    assert time.monotonic() - began < 20


def test_ensure_ray_unreachable_ray_address_fails_fast(tmp_path: Path) -> None:
    """RAY_ADDRESS of a dead cluster: ensure_ray fails in seconds, naming RAY_ADDRESS."""
    script = (
        "import sys\n"
        "from studies.errors import UsageError\n"
        "from studies.session.ray_session import ensure_ray\n"
        "try:\n"
        "    ensure_ray(None, sys.argv[1])\n"
        "except UsageError as err:\n"
        "    print(err)\n"
        "    sys.exit(2)\n"
    )
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
        env=service_env(RAY_ADDRESS="127.0.0.1:1"), timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stdout.strip() == (
        "RAY_ADDRESS 127.0.0.1:1: cannot reach a Ray cluster (Connection refused)"
    )
    assert time.monotonic() - began < 20


@pytest.mark.integration
def test_cli_unreachable_cluster_one_line(tmp_path: Path) -> None:
    """`prunetune run --address 127.0.0.1:1` exits 2 with one line, within seconds and before
    recording anything."""
    study = tmp_path / "tiny.toml"
    study.write_text(
        textwrap.dedent(TINY_STUDY).format(
            name="unreachable", methods='["l1"]', ratio="[0.5]", schedules='["ft", "clr"]',
            epochs=1, sampler="random", trials=1,
        )
    )  # fmt: skip
    workdir = tmp_path / "runs"
    began = time.monotonic()
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("prunetune")), "run", str(study),
            "--workdir", str(workdir), "--address", "127.0.0.1:1",
        ],
        capture_output=True, text=True, env=service_env(), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - began
    lines = [line for line in done.stderr.splitlines() if "cannot reach a Ray cluster" in line]
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1
    assert "ray.address 127.0.0.1:1: cannot reach a Ray cluster (Connection refused)" in lines[0]
    assert "Traceback" not in done.stderr
    assert took < 60  # imports of torch/ray/mlflow included; the probe itself is < 2 s
    records = list(workdir.rglob("*.json")) if workdir.exists() else []
    assert records == [], "nothing may be recorded for a study that could not start"


@pytest.mark.integration
def test_joins_ray_address_like_a_ray_job(ray_cluster: RayCluster, tmp_path: Path) -> None:
    """No address + RAY_ADDRESS set: ensure_ray joins that cluster (num_cpus ignored)."""
    seen = _join("", tmp_path, RAY_ADDRESS=ray_cluster.address)
    assert seen["address"] == ray_cluster.address
    assert {w.resource for w in ray_cluster.workers.values()} <= set(seen["resources"])
    assert seen["resources"]["CPU"] == len(ray_cluster.workers)
    assert seen["in_job"] is False


@pytest.mark.integration
def test_joins_explicit_address(ray_cluster: RayCluster, tmp_path: Path) -> None:
    """An explicit GCS address is joined even when RAY_ADDRESS points elsewhere."""
    seen = _join(ray_cluster.address, tmp_path, RAY_ADDRESS="127.0.0.1:1")
    assert seen["address"] == ray_cluster.address
    assert seen["resources"]["CPU"] == len(ray_cluster.workers)


@pytest.mark.integration
def test_embedded_default_unchanged() -> None:
    """No address anywhere: a local Ray on 127.0.0.1 with the given CPUs and no dashboard."""
    # A short workdir keeps Ray's session dir inside it (else ray_temp_dir falls back to a
    # /tmp/prunetune-ray-* dir that nobody removes).
    workdir = Path(tempfile.mkdtemp(prefix="ptc-", dir="/tmp"))
    try:
        seen = _join("", workdir)  # service_env() drops any RAY_ADDRESS
        assert (workdir / "ray-tmp").is_dir()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert seen["address"].startswith("127.0.0.1:")
    assert seen["resources"]["CPU"] == 2
    assert not seen["dashboard"]

"""Session-wide test setup: loopback-only environment and a real MLflow tracking server.

Nothing heavy is imported here: tests of pure science must not pay for (or depend on) ray/mlflow.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Telemetry would try the internet; Ray would bind the routable IP and write an auth token.
TEST_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}
MLFLOW_START_TIMEOUT_S = 60.0
_server_logs: list[Path] = []
_start_times: list[float] = []


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(TEST_ENV)
    # One torch thread per test process: on 2 shared cores, 2-thread torch spins and runs
    # several times slower under load (measured by the helpers). Set before torch is imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"(no log at {path})"


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=1.0) as response:
            return response.status == 200
    except OSError:
        return False


def _mlflow_command() -> list[str]:
    script = Path(sys.executable).with_name("mlflow")
    if script.exists():
        return [str(script)]
    found = shutil.which("mlflow")
    return [found] if found else [sys.executable, "-m", "mlflow"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The server is its own process group (uvicorn spawns a worker): stop exactly that group.
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@dataclass
class MlflowServer:
    uri: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    launched: float  # time.monotonic() at launch


@pytest.fixture(scope="session")
def mlflow_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """The launched (not yet healthy) server: depend on it to overlap its ~10 s start with
    other setup; `mlflow_server` waits for it."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log_path = root / "server.log"
    _server_logs.append(log_path)
    cmd = [
        *_mlflow_command(),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # Job execution (a Huey consumer for GenAI jobs) costs ~2 GB RSS and is not needed.
    env = {**os.environ, **TEST_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield MlflowServer(f"http://127.0.0.1:{port}", proc, log_path, time.monotonic())
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_process: MlflowServer) -> str:
    """A real `mlflow server` on 127.0.0.1 (sqlite store, served artifacts); yields its URI."""
    server = mlflow_server_process
    while not _healthy(server.uri):
        if server.proc.poll() is not None:
            pytest.fail(
                f"mlflow server exited with {server.proc.returncode}:\n{_tail(server.log_path)}"
            )
        if time.monotonic() - server.launched > MLFLOW_START_TIMEOUT_S:
            pytest.fail(f"mlflow server not healthy after 60 s:\n{_tail(server.log_path)}")
        time.sleep(0.25)
    _start_times.append(time.monotonic() - server.launched)
    return server.uri


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _start_times:
        terminalreporter.write_line(f"mlflow server healthy {_start_times[0]:.1f} s after launch")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failed test that used the MLflow server shows the tail of the server's log."""
    report = yield
    if report.failed and _server_logs and "mlflow_server" in getattr(item, "fixturenames", ()):
        report.sections.append(("mlflow server log (tail)", _tail(_server_logs[-1])))
    return report

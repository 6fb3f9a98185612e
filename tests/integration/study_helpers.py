"""Plain helpers for the integration tests (importable; conftest holds only fixtures)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

TINY_STUDY = """
name = "{name}"
description = "integration-test study: digits, small CNN, a few epochs"

[model]
name = "smallcnn"

[dataset]
name = "digits"

[pretrain]
epochs = 3
lr = 0.05
batch_size = 64

[pruning]
methods = {methods}
ratio = {ratio}

[retrain]
schedules = {schedules}
epochs = [{epochs}]
max_lr = {{ low = 0.01, high = 0.2 }}
batch_size = 64

[search]
sampler = "{sampler}"
trials = {trials}
concurrency = 2
seeds = [0]
max_failures = 1

[resources]
cpu = 1
"""


# What the test session sets for every process; a user's shell has none of it.
SESSION_ENV = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")


def prunetune(
    *args: str, cwd: Path, timeout: float = 600, bare_env: bool = False, **popen: object
):
    """Run the real CLI in a subprocess (its own interpreter, as a user would); `bare_env`:
    without the test session's Ray settings, as from a plain shell (prunetune sets them)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if bare_env:
        env = {k: v for k, v in env.items() if k not in SESSION_ENV}
    cmd = [sys.executable, "-m", "studies.cli", *args]
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **popen
    )


def listening_ports_outside_loopback() -> list[str]:
    """Sockets in LISTEN state bound to a non-loopback address (ss), for the loopback check."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    bad = []
    for line in out.splitlines():
        local = line.split()[3]
        # gRPC servers (Ray's) listen on the IPv4-mapped IPv6 form of 127.0.0.1
        host = local.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
        if host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("127."):
            bad.append(local)
    return bad


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""Plain helpers for the cluster tests (conftest.py holds only fixtures)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

from tests.cluster import procs


def listening_sockets(pids: set[int] | None = None) -> list[str]:
    """Local addresses of TCP sockets in LISTEN state (ss), only those of ``pids`` if given."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [
        line.split()[3]
        for line in out.splitlines()
        if pids is None or any(f"pid={pid}," in line for pid in pids)
    ]


def is_loopback(local: str) -> bool:
    """127.0.0.0/8, ::1 and their IPv4-mapped form (gRPC servers of Ray listen on
    [::ffff:127.0.0.1]:PORT, which tests.integration's helper counts as outside)."""
    host = local.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
    return host.startswith("127.") or host in ("::1", "localhost")


def owned_outside_loopback(roots: set[int], groups: set[int] = frozenset()) -> set[str]:
    """Non-loopback listening sockets of these process trees only: a machine-wide check would
    also see the Rays that other test runs on this shared machine start meanwhile."""
    return {s for s in listening_sockets(procs.tree(roots, groups)) if not is_loopback(s)}


def run_watching_sockets(
    cmd: list[str], *, timeout: float, watch: Callable[[], set[str]] | None = None, **popen: Any
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``cmd`` to the end while sampling, every second, the non-loopback listening sockets
    of its process tree (and of ``watch()``, e.g. the cluster's); returns both."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        seen |= owned_outside_loopback({proc.pid})
        if watch is not None:
            seen |= watch()
        try:
            out, err = proc.communicate(timeout=1.0)  # retrying loses no output
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                proc.kill()
                out, err = proc.communicate()
                err += f"\n(killed after {timeout:.0f} s)"
                break
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), seen

"""Plain helpers for the cluster tests (conftest.py holds only fixtures)."""

from __future__ import annotations

import subprocess


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


def outside_loopback() -> set[str]:
    """Every listening socket of this machine that is not on loopback."""
    return {s for s in listening_sockets() if not is_loopback(s)}

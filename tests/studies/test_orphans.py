"""The reaper kills what a dead driver's embedded Ray left in a workdir's session directories —
with every descendant — and leaves a live driver's processes alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from studies.session.orphans import orphans, reap

# A stand-in for a Ray daemon: its command line names a session dir; it starts a child that is
# renamed away from the session (as Ray's workers are, "ray::IDLE").
DAEMON = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def _daemon(temp: Path, driver_pid: int) -> tuple[subprocess.Popen[str], int]:
    session = temp / f"session_2026-11-30_03-00-00_123456_{driver_pid}"
    session.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", DAEMON, f"--session-dir={session}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_dead_drivers_session_is_reaped_with_descendants(tmp_path: Path) -> None:
    """A daemon of a session whose driver pid is gone, and its child, are killed."""
    proc, child = _daemon(tmp_path / "ray-tmp", _dead_pid())
    try:
        assert {proc.pid, child} <= set(orphans(str(tmp_path / "ray-tmp")))
        assert reap(str(tmp_path / "ray-tmp")) >= 2
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
            state = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()[0]
            if state == "Z":  # killed, waiting for its (dead) parent's reaper
                break
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{child}") or state == "Z"
    finally:
        proc.kill()


def test_live_drivers_session_is_left_alone(tmp_path: Path) -> None:
    """A session whose driver (here: this test process) lives is not an orphan."""
    proc, child = _daemon(tmp_path / "ray-tmp", os.getpid())
    try:
        assert orphans(str(tmp_path / "ray-tmp")) == []
        assert reap(str(tmp_path / "ray-tmp")) == 0 and proc.poll() is None
    finally:
        proc.kill()
        os.kill(child, 9)


# A stand-in for Ray's dashboard agent after its raylet died: renamed (no session path in its
# command line), not a descendant of any session process, its session log held open.
AGENT = """
import os, time
log = open(os.environ["AGENT_LOG"], "a")
print("ready", flush=True)
time.sleep(600)
"""


def test_renamed_agent_is_found_by_the_session_log_it_holds(tmp_path: Path) -> None:
    """An agent that renamed itself and lost its parent is still reaped: the log file it holds
    open lies in the dead driver's session directory."""
    logs = tmp_path / "ray-tmp" / f"session_2026-11-30_03-00-00_123456_{_dead_pid()}" / "logs"
    logs.mkdir(parents=True)
    agent = subprocess.Popen(  # argv[0] as Ray's setproctitle leaves it
        ["ray::DashboardAgent", "-c", AGENT],
        executable=sys.executable,
        env={**os.environ, "AGENT_LOG": str(logs / "dashboard_agent.log")},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stdout is not None and agent.stdout.readline().strip() == "ready"
        assert str(tmp_path) not in Path(f"/proc/{agent.pid}/cmdline").read_text()
        assert agent.pid in orphans(str(tmp_path / "ray-tmp"))
        reap(str(tmp_path / "ray-tmp"))
        assert agent.wait(timeout=10) == -9
    finally:
        agent.kill()

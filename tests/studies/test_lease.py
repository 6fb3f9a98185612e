"""One study, one driver: the lease refuses a second holder while the first lives, and expires
the moment the holder's process ends, however it ends (SIGKILL included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studies.errors import UsageError
from studies.session.lease import STALE_AFTER_S, StudyLease, lease_path, refuse_if_held

HOLD = """
import sys, time
from studies.session.lease import StudyLease
lease = StudyLease(sys.argv[1], "s").acquire()
print("held", flush=True)
time.sleep(600)
"""


def _holder(workdir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workdir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_driver_is_refused_while_the_first_lives(tmp_path: Path) -> None:
    """Another process holding the lease: acquire raises a one-line UsageError naming it."""
    proc = _holder(tmp_path)
    try:
        with pytest.raises(UsageError, match=rf"another driver \(pid {proc.pid} on") as err:
            StudyLease(str(tmp_path), "s").acquire()
        assert "\n" not in str(err.value)
    finally:
        proc.kill()
        proc.wait()


def test_resume_before_the_record_names_the_live_driver(tmp_path: Path) -> None:
    """A driver holds the lease but has not written the study's record yet: `resume` says a
    driver runs the study (not "not found"), and the probe neither takes nor creates a lease."""
    from studies.session.launch import resume_study  # Ray and MLflow: only this test needs them

    proc = _holder(tmp_path)
    try:
        with pytest.raises(UsageError, match=rf"another driver \(pid {proc.pid} on"):
            resume_study("s", str(tmp_path))
        assert json.loads(lease_path(str(tmp_path), "s").read_text())["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    refuse_if_held(str(tmp_path), "s")  # the holder is gone: no refusal
    refuse_if_held(str(tmp_path), "other")
    assert not lease_path(str(tmp_path), "other").exists()


def test_a_killed_drivers_lease_expires_at_once(tmp_path: Path) -> None:
    """SIGKILL the holder: the next driver gets the lease without waiting for a timeout."""
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    started = time.monotonic()
    lease = StudyLease(str(tmp_path), "s").acquire()
    try:
        assert time.monotonic() - started < 1.0
        assert json.loads(lease_path(str(tmp_path), "s").read_text())["pid"] == os.getpid()
    finally:
        lease.release()


def test_release_lets_the_next_driver_in(tmp_path: Path) -> None:
    """In one process: held → refused; released → acquired again."""
    first = StudyLease(str(tmp_path), "s").acquire()
    with pytest.raises(UsageError):
        StudyLease(str(tmp_path), "s").acquire()
    first.release()
    with StudyLease(str(tmp_path), "s"):
        assert lease_path(str(tmp_path), "s").read_text()


def test_fresh_heartbeat_from_another_host_is_respected(tmp_path: Path) -> None:
    """A lease file written by a driver on another host with a fresh heartbeat (its flock does
    not reach this host on some NFS) refuses; a stale one is taken over."""
    path = lease_path(str(tmp_path), "s")
    path.parent.mkdir(parents=True)
    other = {"host": "elsewhere", "pid": 1, "heartbeat": time.time()}
    path.write_text(json.dumps(other))
    with pytest.raises(UsageError, match="pid 1 on elsewhere"):
        StudyLease(str(tmp_path), "s").acquire()
    path.write_text(json.dumps({**other, "heartbeat": time.time() - STALE_AFTER_S - 1}))
    with StudyLease(str(tmp_path), "s"):
        assert json.loads(path.read_text())["host"] != "elsewhere"

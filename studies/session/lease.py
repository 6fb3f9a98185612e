"""One study, one driver: a lease on ``<workdir>/studies/<name>.lease`` held while a driver runs
or resumes the study.

Two drivers on one study would both ask Optuna for trials, both write the record and both end
the parent run. The lease is an exclusive `flock` on the lease file, which the kernel drops when
the driver's process ends — however it ends, SIGKILL included — so a dead driver's lease expires
at once and `prunetune resume` can take over. The file also names its holder (host, pid) and a
heartbeat the holder refreshes: a driver on another host whose filesystem does not share locks
(some NFS setups) still sees a live holder by a heartbeat younger than `STALE_AFTER_S`.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import IO, Any, Self

from studies.errors import UsageError

HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0  # six missed heartbeats: the holder on another host is gone


def lease_path(workdir: str, name: str) -> Path:
    return Path(workdir) / "studies" / f"{name}.lease"


class StudyLease:
    """Held from `acquire()` to `release()` (or the end of the process)."""

    def __init__(self, workdir: str, name: str) -> None:
        self.path = lease_path(workdir, name)
        self.name = name
        self._file: IO[str] | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> Self:
        """Take the lease or raise a one-line UsageError naming the live holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 — held open for the lease's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(self.path)
            handle.close()
            raise UsageError(self._refusal(holder)) from None
        holder = _read(self.path)
        if _alive_elsewhere(holder):
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
            raise UsageError(self._refusal(holder))
        self._file = handle
        self._write()
        self._beat = threading.Thread(target=self._heartbeat, name="lease", daemon=True)
        self._beat.start()
        return self

    def release(self) -> None:
        if self._file is None:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        self._file.truncate(0)
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _write(self) -> None:
        assert self._file is not None
        info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "heartbeat": time.time(),
        }
        self._file.seek(0)
        self._file.truncate(0)
        self._file.write(json.dumps(info))
        self._file.flush()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if self._file is not None:
                self._write()

    def _refusal(self, holder: dict[str, Any]) -> str:
        return _refusal(self.name, holder)


def refuse_if_held(workdir: str, name: str) -> None:
    """Raise the one-line refusal if a live driver holds the study's lease, without taking it
    or creating anything: a driver that holds the lease but has not written the study's record
    yet is still the study's driver, not "study not found"."""
    path = lease_path(workdir, name)
    try:
        handle = open(path)  # noqa: SIM115 — closed below; a shared flock only probes
    except FileNotFoundError:
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(_refusal(name, _read(path))) from None
        holder = _read(path)
        fcntl.flock(handle, fcntl.LOCK_UN)
    if _alive_elsewhere(holder):
        raise UsageError(_refusal(name, holder))


def _refusal(name: str, holder: dict[str, Any]) -> str:
    who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    age = time.time() - float(holder.get("heartbeat", time.time()))
    return (
        f"study {name!r} is being run by another driver ({who}, alive {age:.0f} s ago); one "
        f"study has one driver: wait for it, or stop it and `prunetune resume {name}`"
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive_elsewhere(holder: dict[str, Any]) -> bool:
    """A holder on another host with a fresh heartbeat (its flock may not reach us)."""
    if not holder or holder.get("host") == socket.gethostname():
        return False  # same host: the flock we just got proves the holder is gone
    return time.time() - float(holder.get("heartbeat", 0.0)) < STALE_AFTER_S

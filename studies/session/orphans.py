"""Ray processes left behind by a driver that died without shutting its embedded Ray down.

A driver killed with SIGKILL (lost terminal, OOM killer) never runs `ray.shutdown()`: its GCS,
raylet, dashboard and runtime-env agents and trial workers can outlive it, keep cores busy and,
worse, keep a trial logging epochs to MLflow while `prunetune resume` retrains the same trial.
Ray names each session directory after the process that started it
(``<temp>/session_<date>_<time>_<micros>_<pid>``), so a process whose command line points into
a session of a pid that is gone belongs to a dead driver. Before an embedded Ray starts in a
workdir, those processes — and everything they started — are killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
from pathlib import Path

log = logging.getLogger("prunetune")

_SESSION = re.compile(r"session_[\d-]+_[\d-]+_\d+_(\d+)")


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command line) of every process we can read."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        out[int(entry.name)] = (ppid, cmdline)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_paths(pid: int) -> list[str]:
    """The files process `pid` has open (its log files tell a renamed Ray agent's session)."""
    folder = Path("/proc") / str(pid) / "fd"
    paths = []
    try:
        for fd in folder.iterdir():
            with contextlib.suppress(OSError):  # closed meanwhile
                paths.append(os.readlink(fd))
    except OSError:  # gone, or not ours to read
        pass
    return paths


def _session_of(pid: int, cmdline: str, root: str) -> int | None:
    """The pid that started the Ray session process `pid` belongs to, if it is under `root`:
    read from its command line or, for agents that renamed themselves (ray::DashboardAgent,
    ray::RuntimeEnvAgent) and lost their raylet parent, from the session logs they hold open."""
    texts = [cmdline] if root in cmdline else [p for p in _open_paths(pid) if root in p]
    for text in texts:
        found = _SESSION.search(text[text.index(root) :])
        if found:
            return int(found.group(1))
    return None


def orphans(temp_dir: str) -> list[int]:
    """Processes of sessions under `temp_dir` whose driver is gone, with their descendants."""
    table = _processes()
    root = str(Path(temp_dir))
    dead: set[int] = set()
    for pid, (_, cmdline) in table.items():
        if root not in cmdline and not cmdline.startswith("ray::"):
            continue  # only Ray's renamed processes are worth reading open files of
        owner = _session_of(pid, cmdline, root)
        if owner is not None and not _alive(owner):
            dead.add(pid)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    stack, seen = list(dead), set()
    while stack:  # workers are renamed (ray::IDLE): find them as descendants
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            stack.extend(children.get(pid, []))
    return sorted(seen - {os.getpid()})


def reap(temp_dir: str) -> int:
    """SIGKILL every process `orphans` finds; returns how many."""
    victims = orphans(temp_dir)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile: what we wanted
            os.kill(pid, signal.SIGKILL)
    if victims:
        log.warning("killed %d Ray processes left by a dead driver in %s", len(victims), temp_dir)
    return len(victims)

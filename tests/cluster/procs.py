"""Process bookkeeping from /proc (no psutil in the venv): the process trees the cluster
fixtures started, killing exactly those, and their memory (RSS and PSS)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, pgid) of a live process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[2])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def tree(roots: Iterable[int], pgids: Iterable[int] = ()) -> set[int]:
    """The roots, their descendants and every member of the given process groups.

    Ray workers are children of their raylet; a process orphaned by a killed parent keeps its
    group, so group membership catches what the parent links no longer show."""
    roots, pgids = set(roots), set(pgids)
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    for pid in _all_pids():
        st = _stat(pid)
        if st is None:
            continue
        children.setdefault(st[0], []).append(pid)
        if st[1] in pgids:
            found.add(pid)
    todo = [p for p in roots if _stat(p) is not None] + list(found)
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, []))
    return seen


def kill(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: Iterable[int], timeout: float = 10.0) -> set[int]:
    """Wait until none of ``pids`` is alive (zombies count as gone); returns the survivors."""
    left = set(pids)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        left = {p for p in left if _alive(p)}
        if left:
            time.sleep(0.1)
    return left


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def memory_kb(pids: Iterable[int]) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in KiB; PSS splits shared pages, so it is what the box pays."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


@dataclass
class PeakMemory:
    """Samples the memory of the process trees that ``sources`` name, every ``interval`` s."""

    sources: Callable[[], tuple[set[int], set[int]]]  # () -> (root pids, pgids)
    interval: float = 2.0
    peak_rss_kb: int = 0
    peak_pss_kb: int = 0
    peak_procs: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()

    def sample(self) -> None:
        roots, pgids = self.sources()
        pids = tree(roots, pgids)
        rss, pss = memory_kb(pids)
        if pss > self.peak_pss_kb:
            self.peak_pss_kb, self.peak_procs = pss, len(pids)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # a process vanishing mid-read must not end the sampling
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

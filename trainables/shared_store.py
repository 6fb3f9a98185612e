"""Files that the trials of a study share across nodes: the dense-model cache (+ its snapshots
for rewinding) and the final checkpoints that the greedy oracle's next round starts from.

One interface, two backends, chosen by the root (``storage.shared`` resolved; "" = the workdir):

- a local directory, which every Ray node must then see (one machine, NFS, a shared volume):
  ``write`` goes to a temporary file renamed into place, ``lock`` is an ``fcntl.flock``;
- an object-store URI (``s3://BUCKET/PREFIX?endpoint_override=…``, ``gs://BUCKET/PREFIX``),
  opened through pyarrow like Ray Tune's ``storage_path``: a put is atomic (the object appears
  whole when the upload completes), and ``lock`` is a lease in a Ray actor, since an object
  store has no locks.

    store = open_store(tc.study.shared_root)
    with store.lock("dense/KEY"):                  # one trial trains, the others wait
        if not store.exists("dense/KEY.pt"):
            store.write("dense/KEY.pt", serialise(save_checkpoint, model=model))
    load_checkpoint(io.BytesIO(store.read("dense/KEY.pt")))

Remote leases: the actor ``prunetune-locks`` (namespace ``prunetune``, no CPU, async) is
created by the first trial that needs a lock and fate-shares with it (not detached: it never
outlives the study's trials). A lease expires ``ttl_s`` (60 s) after its last renewal; the holder
renews it from a daemon thread every few seconds, so a trial killed while training the dense
model blocks the others for at most a minute, after which one of them takes the lease over. If
the actor itself dies (its creator ended), holders put their lease back on the new one at their
next renewal and waiters ask the new one: at worst two trials do the same work, and since every
write is atomic and the dense run deterministic, nothing is corrupted.
"""

from __future__ import annotations

import asyncio
import fcntl
import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import ray

from trainables.schemes import Use, open_filesystem
from trainables.schemes import is_remote as _is_remote

log = logging.getLogger("prunetune")

LOCKS_ACTOR = "prunetune-locks"
LOCKS_NAMESPACE = "prunetune"  # fixed: studies sharing one store on one cluster exclude each other
LEASE_TTL_S = 60.0
RENEW_EVERY_S = 5.0
_WAIT_SLICE_S = 5.0  # one acquire call waits this long at most, so a dead actor is noticed


def is_remote(root: str) -> bool:
    """An object store that pyarrow opens (as Ray Tune does), not a directory."""
    return _is_remote(root, Use.FILES)


def serialise(save: Callable[..., None], **kwargs: Any) -> bytes:
    """The bytes `save(file, **kwargs)` writes (save_checkpoint, save_snapshots)."""
    buffer = io.BytesIO()
    save(buffer, **kwargs)
    return buffer.getvalue()


class SharedStore:
    """Files under one root, named by relative keys ("dense/KEY.pt")."""

    root: str

    def location(self, rel: str) -> str:
        """The file's full path or URI, as `read_location` reads it (recorded in MLflow tags)."""
        raise NotImplementedError

    def exists(self, rel: str) -> bool:
        raise NotImplementedError

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def write(self, rel: str, data: bytes) -> None:
        """Atomically: a reader sees the old file or the whole new one, never a part."""
        raise NotImplementedError

    def lock(self, rel: str, ttl_s: float = LEASE_TTL_S) -> Any:
        """A context manager held by one process of the whole cluster at a time."""
        raise NotImplementedError


def _checked(rel: str) -> str:
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"shared-store key {rel!r} must be a relative path without '.' or '..'")
    return rel


class LocalStore(SharedStore):
    """A directory every node mounts at the same path."""

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, rel: str) -> Path:
        return Path(self.root) / _checked(rel)

    def location(self, rel: str) -> str:
        return str(self.path(rel))

    def exists(self, rel: str) -> bool:
        return self.path(rel).is_file()

    def read(self, rel: str) -> bytes:
        return self.path(rel).read_bytes()

    def write(self, rel: str, data: bytes) -> None:
        path = self.path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # on NFS, rename before the data lands can expose zeros
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def lock(self, rel: str, ttl_s: float = LEASE_TTL_S) -> Iterator[None]:
        # ttl_s is the remote lease's: a flock ends with its process, so it needs none.
        path = self.path(rel).with_name(self.path(rel).name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # blocks while another process holds it
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class RemoteStore(SharedStore):
    """An object-store prefix (S3, GCS) through pyarrow; locks are leases in a Ray actor."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.fs, self.base = open_filesystem(root)

    def key(self, rel: str) -> str:
        return f"{self.base.rstrip('/')}/{_checked(rel)}"

    def location(self, rel: str) -> str:
        head, sep, query = self.root.partition("?")  # the query stays at the end
        return f"{head.rstrip('/')}/{_checked(rel)}{sep}{query}"

    def exists(self, rel: str) -> bool:
        from pyarrow.fs import FileType  # pyarrow comes with Ray Tune; only remote stores use it

        return self.fs.get_file_info(self.key(rel)).type == FileType.File

    def read(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.key(rel)) as stream:
            return stream.read()

    def write(self, rel: str, data: bytes) -> None:
        # An S3/GCS object appears only when its upload completes: a put is atomic.
        with self.fs.open_output_stream(self.key(rel)) as stream:
            stream.write(data)

    @contextmanager
    def lock(self, rel: str, ttl_s: float = LEASE_TTL_S) -> Iterator[None]:
        with Lease(self.location(rel), ttl_s):
            yield


@lru_cache(maxsize=8)
def open_store(root: str) -> SharedStore:
    """The store at `root` (a directory or an s3:// / gs:// URI), one per process and root."""
    if not root:
        raise ValueError("the shared store needs a root (storage.shared or the workdir)")
    return RemoteStore(root) if is_remote(root) else LocalStore(root)


def read_location(location: str) -> bytes:
    """The bytes of a file named by its full path or URI (SharedStore.location)."""
    if not is_remote(location):
        return Path(location).read_bytes()
    fs, key = open_filesystem(location)
    with fs.open_input_stream(key) as stream:
        return stream.read()


# --- leases --------------------------------------------------------------------------------


@ray.remote(num_cpus=0)
class LeaseTable:
    """key → (holder, expiry) on this actor's monotonic clock (no clock skew between nodes)."""

    def __init__(self) -> None:
        self.leases: dict[str, tuple[str, float]] = {}

    def _free(self, key: str, holder: str, now: float) -> bool:
        current = self.leases.get(key)
        return current is None or current[1] <= now or current[0] == holder

    async def acquire(self, key: str, holder: str, ttl_s: float, wait_s: float) -> bool:
        """Take the lease if free or expired, waiting up to `wait_s`; False if still held."""
        deadline = time.monotonic() + wait_s
        while True:
            now = time.monotonic()
            if self._free(key, holder, now):
                self.leases[key] = (holder, now + ttl_s)
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(min(0.1, deadline - now))

    async def renew(self, key: str, holder: str, ttl_s: float) -> bool:
        """Extend the holder's lease (or take it back if free: a restarted table); False if
        another holder has it now."""
        now = time.monotonic()
        if not self._free(key, holder, now):
            return False
        self.leases[key] = (holder, now + ttl_s)
        return True

    async def release(self, key: str, holder: str) -> None:
        if self.leases.get(key, ("",))[0] == holder:
            del self.leases[key]

    async def holder(self, key: str) -> str | None:
        """Who holds `key` now (None if nobody or expired)."""
        current = self.leases.get(key)
        return current[0] if current and current[1] > time.monotonic() else None


def lease_table() -> Any:
    """The cluster's lease table, created by the first caller (fate-sharing with it)."""
    return LeaseTable.options(
        name=LOCKS_ACTOR,
        namespace=LOCKS_NAMESPACE,
        get_if_exists=True,
        lifetime="non_detached",  # tied to the job that uses it, never left behind
    ).remote()


def _call(method: str, *args: Any) -> Any:
    """A call on the lease table, once more on a new one if the old one died with its creator."""
    for attempt in (1, 2):
        try:
            return ray.get(getattr(lease_table(), method).remote(*args))
        except (ray.exceptions.RayActorError, ValueError):
            # Dead (or dying: get_if_exists then finds no name): ask a fresh table.
            if attempt == 2:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


class Lease:
    """Holds `key` in the lease table: waits until free or expired, renews every
    RENEW_EVERY_S from a daemon thread while held, releases on exit."""

    def __init__(self, key: str, ttl_s: float = LEASE_TTL_S, renew_s: float | None = None):
        self.key = key
        self.ttl_s = ttl_s
        self.renew_s = renew_s if renew_s is not None else min(RENEW_EVERY_S, ttl_s / 4)
        self.holder = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost = False  # set if another holder took the lease while we held it

    def __enter__(self) -> Lease:
        waited = time.monotonic()
        while not _call("acquire", self.key, self.holder, self.ttl_s, _WAIT_SLICE_S):
            log.info("waiting for %s (%.0f s)", self.key, time.monotonic() - waited)
        self._renewer = threading.Thread(target=self._renew, name="lease-renew", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.renew_s):
            try:
                kept = _call("renew", self.key, self.holder, self.ttl_s)
            except Exception as err:  # a missed renewal is retried; expiry is ttl_s away
                log.warning("lease %s not renewed (%s)", self.key, err)
                continue
            if not kept and not self.lost:
                self.lost = True
                log.warning(
                    "lease %s was taken over: another trial may do the same work", self.key
                )

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            _call("release", self.key, self.holder)
        except Exception as err:  # the lease expires by itself
            log.warning(
                "lease %s not released (%s); it expires in %.0f s", self.key, err, self.ttl_s
            )


__all__ = [
    "Lease",
    "LocalStore",
    "RemoteStore",
    "SharedStore",
    "is_remote",
    "open_filesystem",
    "open_store",
    "read_location",
    "serialise",
]

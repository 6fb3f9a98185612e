"""Metrics on their way to MLflow: a trial keeps training while the tracking server is away.

Per-epoch metrics are queued and sent at once, failing fast (no retries, a short timeout)
instead of blocking the trial in the MLflow client's minutes of backoff. What could not be sent
stays queued and goes out with the next epoch; the queue is saved in every checkpoint, so a
trial that is restarted from a checkpoint sends what its previous attempt could not. Close-out
flushes with patience and fails the trial (Tune retries it from its checkpoint) only if MLflow
stays away past that.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from mlflow.entities import Metric

from trainables.schemes import Use, retryable_errors

log = logging.getLogger(__name__)

# While sending per-epoch metrics: one attempt, 5 s. MLflow reads these at every request.
_FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
FLUSH_PATIENCE_S = 600.0
# What a tracking store that is away raises, declared with each scheme (trainables.schemes).
TRACKING_DOWN = retryable_errors(Use.TRACKING)
PendingRow = list  # [key, value, timestamp_ms, step]: JSON- and weights_only-safe


class TrackingUnavailable(RuntimeError):
    """MLflow stayed unreachable for the whole flush patience."""


@contextmanager
def fail_fast() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in _FAIL_FAST}
    os.environ.update(_FAIL_FAST)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class MetricOutbox:
    """Queued metrics and the callable that stores a batch (`MlflowClient.log_batch` of a run).

    `on_stored(metric)` is told of each metric once the store has it, never before: that is
    what keeps a (metric, step) from being logged twice across retries."""

    def __init__(
        self,
        send: Callable[[list[Metric]], None],
        on_stored: Callable[[Metric], None],
        chunk: int = 1000,  # MLflow's log_batch limit
    ) -> None:
        self._send = send
        self._on_stored = on_stored
        self._chunk = chunk
        self._queue: list[Metric] = []
        self._warned = False

    def __len__(self) -> int:
        return len(self._queue)

    def queued(self, key: str, step: int) -> bool:
        return any(m.key == key and m.step == step for m in self._queue)

    def put(self, batch: Sequence[Metric]) -> None:
        self._queue.extend(batch)

    def try_send(self) -> bool:
        """One fail-fast attempt at everything queued; True when the queue is empty."""
        while self._queue:
            batch = self._queue[: self._chunk]
            try:
                with fail_fast():
                    self._send(batch)
            except TRACKING_DOWN as exc:
                if not self._warned:
                    log.warning("MLflow unreachable, %d metrics queued: %s", len(self), exc)
                    self._warned = True
                return False
            del self._queue[: len(batch)]  # a chunk stored is never sent again
            for metric in batch:
                self._on_stored(metric)
        if self._warned:
            log.warning("MLflow reachable again: queued metrics sent")
            self._warned = False
        return True

    def flush(self, patience_s: float = FLUSH_PATIENCE_S) -> None:
        """Send everything queued, retrying with backoff for up to `patience_s` seconds."""
        deadline, wait = time.monotonic() + patience_s, 1.0
        while not self.try_send():
            if time.monotonic() + wait > deadline:
                raise TrackingUnavailable(
                    f"MLflow unreachable for {patience_s:.0f} s; {len(self)} metrics not sent "
                    "(kept in the trial's checkpoint for its retry)"
                )
            time.sleep(wait)
            wait = min(wait * 2, 30.0)

    def rows(self) -> list[PendingRow]:
        """The queue as plain rows, for the trial's checkpoint."""
        return [[m.key, m.value, m.timestamp, m.step] for m in self._queue]

    def restore(self, rows: Sequence[PendingRow], stored: Callable[[str, int], bool]) -> None:
        """Queue rows a previous attempt saved, minus those the store has meanwhile."""
        self._queue.extend(
            Metric(str(k), float(v), int(t), int(s)) for k, v, t, s in rows if not stored(k, s)
        )

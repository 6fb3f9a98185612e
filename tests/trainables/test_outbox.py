"""The metric outbox: per-epoch metrics wait while MLflow is away and go out once, in order,
when it is back; a chunk stored is never sent again; the queue survives a checkpoint."""

from __future__ import annotations

import os

import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from trainables.outbox import MetricOutbox, TrackingUnavailable, fail_fast


class FlakyStore:
    """log_batch that fails while `down` (as the MLflow client does after its retries)."""

    def __init__(self) -> None:
        self.down = False
        self.batches: list[list[Metric]] = []
        self.env_seen: list[str | None] = []

    def send(self, batch: list[Metric]) -> None:
        self.env_seen.append(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES"))
        if self.down:
            raise MlflowException("API request failed: Connection refused")
        self.batches.append(list(batch))


def _m(key: str, step: int, value: float = 1.0) -> Metric:
    return Metric(key, value, 0, step)


def test_metrics_wait_while_down_and_go_out_once_when_back() -> None:
    """Down for two epochs: nothing stored, nothing lost; back: one batch with all of it."""
    store, stored = FlakyStore(), []
    box = MetricOutbox(store.send, stored.append)
    store.down = True
    for step in (0, 1):
        box.put([_m("val_acc", step)])
        assert box.try_send() is False
    assert len(box) == 2 and not store.batches and not stored
    store.down = False
    box.put([_m("val_acc", 2)])
    assert box.try_send() is True
    assert [m.step for m in store.batches[0]] == [0, 1, 2] and len(store.batches) == 1
    assert [m.step for m in stored] == [0, 1, 2] and len(box) == 0


def test_sends_fail_fast_and_restore_the_environment() -> None:
    """Each attempt runs with MLflow's retries off; the process environment is put back."""
    store = FlakyStore()
    before = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    box = MetricOutbox(store.send, lambda m: None)
    box.put([_m("a", 0)])
    box.try_send()
    assert store.env_seen == ["0"]
    assert os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES") == before
    with fail_fast():
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"


def test_a_stored_chunk_is_never_sent_again() -> None:
    """Chunks of 2: the second chunk fails; the retry sends only what was not stored."""
    calls: list[list[int]] = []

    def send(batch: list[Metric]) -> None:
        calls.append([m.step for m in batch])
        if len(calls) == 2:
            raise OSError("connection reset")

    box = MetricOutbox(send, lambda m: None, chunk=2)
    box.put([_m("x", s) for s in range(4)])
    assert box.try_send() is False
    assert box.try_send() is True
    assert calls == [[0, 1], [2, 3], [2, 3]]


def test_rows_round_trip_minus_what_the_store_has() -> None:
    """The queue as checkpoint rows; restored minus pairs the store holds meanwhile."""
    box = MetricOutbox(FlakyStore().send, lambda m: None)
    box.put([_m("val_acc", 3, 0.5), _m("lr", 3, 0.1)])
    rows = box.rows()
    assert rows == [["val_acc", 0.5, 0, 3], ["lr", 0.1, 0, 3]]
    again = MetricOutbox(FlakyStore().send, lambda m: None)
    again.restore(rows, stored=lambda key, step: key == "lr")
    assert again.rows() == [["val_acc", 0.5, 0, 3]]


def test_flush_gives_up_after_its_patience() -> None:
    """MLflow away for good: flush raises TrackingUnavailable, the metrics stay queued."""
    store = FlakyStore()
    store.down = True
    box = MetricOutbox(store.send, lambda m: None)
    box.put([_m("a", 0)])
    with pytest.raises(TrackingUnavailable, match="1 metrics not sent"):
        box.flush(patience_s=0.5)
    assert len(box) == 1

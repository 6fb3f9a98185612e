"""MLflow run objects: a study's parent run and the nested run of each trial.

Everything goes through `MlflowClient` with explicit run ids, never `mlflow.start_run`: trials
run in reused Ray actors and are retried, and a process-global active run would leak from one
trial into the next. Ray's `MLflowLoggerCallback` is not used either: it cannot nest runs, makes
one HTTP call per metric and duplicates epoch rows after a retry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar

from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from trainables.keys import END_STATUSES, Outcome, RunStatus, Tag
from trainables.outbox import MetricOutbox
from trainables.query import unfinished_run_of

log = logging.getLogger(__name__)

PARAM_VALUE_MAX = 500  # MLflow < 2.x servers and some DB schemas still cap params at 500 chars
TAG_VALUE_MAX = 8000
BATCH_PARAMS_TAGS = 100  # MLflow's per-log_batch limits
BATCH_METRICS = 1000
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")
_T = TypeVar("_T")


def flatten(d: Mapping[str, Any], sep: str = ".") -> dict[str, str]:
    """Nested dict → {"a.b.c": "value"}; lists (and empty dicts) become compact JSON strings."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, sub in value.items():
                walk(f"{prefix}{sep}{key}" if prefix else str(key), sub)
        else:
            out[prefix] = _as_str(value)

    for key, value in d.items():
        walk(str(key), value)
    return out


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def _key(name: str) -> str:
    """MLflow rejects keys with characters outside [/\\w.- :]; keep the rest of the name."""
    return _BAD_KEY_CHARS.sub("_", str(name))


def clip(value: Any, limit: int) -> str:
    text = _as_str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Run:
    """What a study run and a trial run share: tags, artifacts, ending (also as a context)."""

    def __init__(self, client: MlflowClient, tracking_uri: str, run: Run) -> None:
        self.client = client
        self.tracking_uri = tracking_uri
        self.run_id: str = run.info.run_id
        self.experiment_id: str = run.info.experiment_id
        self.artifact_uri: str = run.info.artifact_uri
        self.ended = False

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [RunTag(_key(k), clip(v, TAG_VALUE_MAX)) for k, v in tags.items()]
        for chunk in _chunks(items, BATCH_PARAMS_TAGS):
            self.client.log_batch(self.run_id, tags=list(chunk))

    @classmethod
    def attach(cls, tracking_uri: str, run_id: str) -> Self:
        """An existing run by id, as it is (its status is not touched)."""
        client = MlflowClient(tracking_uri)
        return cls(client, tracking_uri, client.get_run(run_id))

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        self.client.log_metric(self.run_id, _key(key), float(value), step=int(step))

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dict(self, obj: Any, file_name: str) -> None:
        self.client.log_dict(self.run_id, obj, file_name)

    def log_figure(self, fig: Any, file_name: str) -> None:
        """Log a matplotlib figure (a bare `Figure`, which nothing keeps alive afterwards)."""
        self.client.log_figure(self.run_id, fig, file_name)

    def end(self, status: RunStatus = RunStatus.FINISHED) -> None:
        terminate(self.client, self.run_id, status)
        self.ended = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> bool:
        if self.ended:  # an explicit end() inside the block has the last word
            return False
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt | SystemExit):
            # Tune stops a trial (ASHA, SIGINT) by raising SystemExit(0) inside tune.report
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        try:
            self.end(status)
        except Exception:
            if exc_type is None:
                raise
            log.warning("could not mark run %s %s", self.run_id, status, exc_info=True)
        return False


class StudyRun(_Run):
    """The parent run of a study; trial runs are nested under it."""


class TrialRun(_Run):
    """One trial's nested run. Epoch metrics are logged once per (metric, step), also across
    retries: a reattached run learns the steps already present from its metric history."""

    def __init__(self, client: MlflowClient, tracking_uri: str, run: Run) -> None:
        super().__init__(client, tracking_uri, run)
        self._logged: dict[str, dict[int, float]] = {}
        self.outbox = MetricOutbox(self._store_batch, self._remember, chunk=BATCH_METRICS)
        # The tags the run had when this attempt attached to it (empty for a new run).
        self.previous_tags: dict[str, str] = {}

    @classmethod
    def open(
        cls,
        tracking_uri: str,
        experiment_id: str,
        parent_run_id: str,
        run_name: str,
        *,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        trial_key: str | None = None,
    ) -> TrialRun:
        """Create a run nested under `parent_run_id`, or reattach to `run_id` (a retried trial).
        `trial_key` (the Tune trial's name) is tagged, so a trial restarted without a checkpoint
        (interrupted in its first epoch) finds its run again."""
        client = MlflowClient(tracking_uri)
        tags = {k: clip(v, TAG_VALUE_MAX) for k, v in (tags or {}).items()}
        if trial_key is not None:
            tags[Tag.TUNE_TRIAL] = trial_key
        if run_id is None and trial_key is not None:
            run_id = unfinished_run_of(client, experiment_id, parent_run_id, trial_key)
        run = get_run(client, run_id) if run_id else None
        if run is None:
            if run_id:
                log.warning("run %s to reattach to is gone; starting a new run", run_id)
            run = client.create_run(
                experiment_id, run_name=run_name, tags={**tags, Tag.PARENT: parent_run_id}
            )
            self = cls(client, tracking_uri, run)
        else:
            self = cls(client, tracking_uri, run)
            self.previous_tags = dict(run.data.tags)
            self._load_history(run)  # what is stored is not logged again
            if self.closed_out and run.info.status == RunStatus.FINISHED:
                # Finished after Tune's last snapshot, restored by a resume: left as it is
                # (status, end time, tags); the block around it only replays stored rows.
                self.ended = True
                return self
            client.update_run(run.info.run_id, status=RunStatus.RUNNING)
            if self.closed_out:  # its outcome and node stand: the retry only ends the run
                tags = {k: v for k, v in tags.items() if k not in (Tag.STATUS, Tag.NODE)}
            self.set_tags(tags)
        self._log_params(flatten(params or {}), run.data.params)
        return self

    def _load_history(self, run: Run) -> None:
        for key in run.data.metrics:
            steps = self._logged.setdefault(key, {})
            for metric in self.client.get_metric_history(self.run_id, key):
                steps[metric.step] = metric.value

    def _log_params(self, params: Mapping[str, str], present: Mapping[str, str]) -> None:
        # MLflow params are immutable: on reattach only the missing ones are logged.
        items = []
        for key, value in params.items():
            key, value = _key(key), clip(value, PARAM_VALUE_MAX)
            if key in present:
                if present[key] != value:
                    log.warning("param %s already logged as %r, not %r", key, present[key], value)
                continue
            items.append(Param(key, value))
        for chunk in _chunks(items, BATCH_PARAMS_TAGS):
            self.client.log_batch(self.run_id, params=list(chunk))

    @property
    def closed_out(self) -> bool:
        """An earlier attempt already closed this trial (summary, outcome, artifacts): a
        restored trial must not do it again."""
        return self.previous_tags.get(Tag.STATUS) in (Outcome.COMPLETED, Outcome.DIVERGED)

    def logged_steps(self, key: str) -> list[int]:
        """Steps at which `key` is known to be logged (this session and, after reattach, before)."""
        return sorted(self._logged.get(_key(key), {}))

    def pending_rows(self) -> list[list[Any]]:
        """Metrics not yet stored (MLflow away), as rows for the trial's checkpoint."""
        return self.outbox.rows()

    def resend(self, rows: list[list[Any]]) -> None:
        """Queue what an earlier attempt of this trial could not store."""
        self.outbox.restore(rows, self.has)

    def has(self, key: str, step: int) -> bool:
        """The store holds `key` at `step` (as far as this run knows)."""
        return int(step) in self._logged.get(_key(key), {})

    def log_epoch(self, step: int, metrics: Mapping[str, float]) -> None:
        """Queue the epoch's metrics and send the queue in one batch, failing fast: if MLflow
        is away they wait for the next epoch (trainables.outbox). (metric, step) pairs already
        stored or queued are skipped."""
        step, stamp = int(step), _now_ms()
        batch = [
            Metric(_key(k), float(v), stamp, step)
            for k, v in metrics.items()
            if not self.has(k, step) and not self.outbox.queued(_key(k), step)
        ]
        self.outbox.put(batch)
        self.outbox.try_send()

    def log_summary(self, metrics: Mapping[str, float]) -> None:
        """Final values at the run's last step, so they are the 'latest' values MLflow shows;
        a value identical to what that step already holds is not logged twice. Flushes
        everything queued first, with patience (the trial is ending)."""
        self.outbox.flush()
        last = max((max(s) for s in self._logged.values() if s), default=0)
        stamp, batch = _now_ms(), []
        for name, value in metrics.items():
            key, value = _key(name), float(value)
            steps, step = self._logged.get(key, {}), last
            if step in steps:
                if _same(steps[step], value):
                    continue
                step += 1
            batch.append(Metric(key, value, stamp, step))
        self.outbox.put(batch)
        self.outbox.flush()

    def _store_batch(self, batch: list[Metric]) -> None:
        self.client.log_batch(self.run_id, metrics=batch)

    def _remember(self, metric: Metric) -> None:
        self._logged.setdefault(metric.key, {})[metric.step] = metric.value


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def warm_up(tracking_uri: str) -> threading.Thread:
    """Build this process's MLflow store in the background — the first client of a process
    creates the SQLAlchemy engine and checks the schema (1.5-3.5 s) — while the trial loads
    its data; join it before the first real call."""

    def build() -> None:
        with contextlib.suppress(Exception):  # the real call reports any problem
            MlflowClient(tracking_uri).search_experiments(max_results=1)

    thread = threading.Thread(target=build, name="mlflow-warm-up", daemon=True)
    thread.start()
    return thread


def get_run(client: MlflowClient, run_id: str) -> Run | None:
    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def terminate(client: MlflowClient, run_id: str, status: str) -> None:
    """End a run with one of MLflow's end statuses."""
    if status not in END_STATUSES:
        raise ValueError(
            f"status: {status!r} does not end a run; valid: {', '.join(END_STATUSES)}"
        )
    client.set_terminated(run_id, str(status))

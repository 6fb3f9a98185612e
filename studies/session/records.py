"""The study registry on disk: one JSON record per study under ``<workdir>/studies/``.

It holds what ``resume``, ``ls``, ``show`` and ``compare`` need to find a study again: the
resolved spec, the MLflow experiment and parent run, the Optuna and Ray storages, the status
(MLflow's run statuses: a study's record and its parent run say the same).

A workdir can be copied or moved (or mounted elsewhere on another node): every path inside it
is written as ``${WORKDIR}/…`` and read back against the directory the record is found in, and
the artifact locations MLflow's SQLite store keeps are moved along (`relocate_artifacts`). A
workdir that lacks a store the record names is an error naming it, never a new empty store.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy

from studies import storage
from studies.errors import UsageError
from trainables.keys import RunStatus

# Records written before the statuses were MLflow's (lowercase, "interrupted").
_LEGACY_STATUS = {
    "running": RunStatus.RUNNING,
    "finished": RunStatus.FINISHED,
    "interrupted": RunStatus.KILLED,
    "failed": RunStatus.FAILED,
}
# What `ls` and `show` print: KILLED means the study was interrupted and can be resumed.
_STATUS_TEXT = {
    RunStatus.RUNNING: "running",
    RunStatus.FINISHED: "finished",
    RunStatus.KILLED: "interrupted",
    RunStatus.FAILED: "failed",
}


@dataclass
class StudyRecord:
    name: str
    spec: dict[str, Any]
    spec_hash: str
    workdir: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    optuna_storage: str
    ray_storage: str
    status: RunStatus = RunStatus.RUNNING
    phases_done: list[str] = field(default_factory=list)  # search / baselines / oracle-rK
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.status = RunStatus(_LEGACY_STATUS.get(self.status, self.status))

    @property
    def status_text(self) -> str:
        return _STATUS_TEXT[self.status]

    def save(self) -> None:
        self.updated = time.time()
        path = record_path(self.workdir, self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        data = _swap(asdict(self), str(Path(self.workdir).resolve()), WORKDIR)
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, path)  # a crash mid-write never leaves a broken record

    def local_stores(self) -> dict[str, Path]:
        """The store files the study uses (SQLite, journal), by the field that names them."""
        named = {"tracking.uri": self.tracking_uri, "storage.optuna": self.optuna_storage}
        return {k: p for k, url in named.items() if (p := storage.local_file(url)) is not None}


def record_path(workdir: str, name: str) -> Path:
    return Path(workdir) / "studies" / f"{name}.json"


WORKDIR = "${WORKDIR}"  # stands for the directory the record is read from


def load_record(workdir: str, name: str) -> StudyRecord:
    """The study's record, its paths read against `workdir`; its stores must be there."""
    path = record_path(workdir, name)
    if not path.exists():
        known = ", ".join(r.name for r in list_records(workdir)) or "none"
        raise UsageError(f"study {name!r} not found in {workdir}; known studies: {known}")
    record = _read(path, workdir)
    for field_name, store in record.local_stores().items():
        if not store.is_file():
            raise UsageError(
                f"study {name!r} in {workdir}: its store {store} ({field_name}) is missing; "
                "copy the whole workdir, or pass the --workdir that holds it"
            )
    relocate_artifacts(record)
    return record


def list_records(workdir: str) -> list[StudyRecord]:
    folder = Path(workdir) / "studies"
    if not folder.is_dir():
        return []
    records = [_read(p, workdir) for p in sorted(folder.glob("*.json"))]
    return sorted(records, key=lambda r: r.created)


def _read(path: Path, workdir: str) -> StudyRecord:
    here = str(Path(workdir).expanduser().resolve())
    return StudyRecord(**_swap(json.loads(path.read_text()), WORKDIR, here))


def _swap(value: Any, old: str, new: str) -> Any:
    """`value` with the path `old` replaced by `new` in every string: as a whole path (at the
    start, or after ':' or '/' as in sqlite:///PATH, and ending at '/' or the string's end),
    so /a/runs never matches inside /b/a/runs or /a/runs2."""
    if isinstance(value, str):
        pattern = rf"(?<![^:/]){re.escape(old)}(?=/|$)"
        return re.sub(pattern, lambda _: new, value)
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, old, new) for v in value]
    return value


def relocate_artifacts(record: StudyRecord) -> None:
    """A SQLite MLflow store inside the workdir keeps absolute artifact locations: after the
    workdir moved, point them at the new place (else a report would be written to, or read
    from, the old one)."""
    tracking = storage.local_file(record.tracking_uri)
    here = Path(record.workdir).resolve()
    if tracking is None or here not in tracking.resolve().parents:
        return
    if not storage.is_sql(record.tracking_uri):  # the locations are rows of MLflow's SQL schema
        return
    new = (here / "mlartifacts").as_uri()
    engine = sqlalchemy.create_engine(record.tracking_uri)
    try:
        with engine.begin() as db:
            found = db.execute(
                sqlalchemy.text(
                    "SELECT artifact_location FROM experiments WHERE experiment_id = :e"
                ),
                {"e": record.experiment_id},
            ).scalar()
            if not found or not found.endswith("/mlartifacts") or found == new:
                return
            tables = set(sqlalchemy.inspect(db).get_table_names())
            for table, column in _ARTIFACT_COLUMNS:
                if table not in tables:  # e.g. logged_models before MLflow 3
                    continue
                db.execute(
                    sqlalchemy.text(f"UPDATE {table} SET {column} = REPLACE({column}, :o, :n)"),
                    {"o": found, "n": new},
                )
    finally:
        engine.dispose()
    # An MLflow client in this process (a notebook that ran the study, then moved it) caches
    # each run's artifact location: forget them, they point at the old place.
    cache_module = sys.modules.get("mlflow.tracking._tracking_service.utils")
    getattr(cache_module, "_artifact_repos_cache", {}).clear()


# MLflow's SQL schema: where artifact locations are stored (3.x also has logged_models).
_ARTIFACT_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
)

"""The study registry on disk: one JSON record per study under ``<workdir>/studies/``.

It holds what ``resume``, ``ls``, ``show`` and ``compare`` need to find a study again: the
resolved spec, the MLflow experiment and parent run, the Optuna and Ray storages, the status
(MLflow's run statuses: a study's record and its parent run say the same).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))
        os.replace(tmp, path)  # a crash mid-write never leaves a broken record


def record_path(workdir: str, name: str) -> Path:
    return Path(workdir) / "studies" / f"{name}.json"


def load_record(workdir: str, name: str) -> StudyRecord:
    path = record_path(workdir, name)
    if not path.exists():
        known = ", ".join(r.name for r in list_records(workdir)) or "none"
        raise UsageError(f"study {name!r} not found in {workdir}; known studies: {known}")
    return StudyRecord(**json.loads(path.read_text()))


def list_records(workdir: str) -> list[StudyRecord]:
    folder = Path(workdir) / "studies"
    if not folder.is_dir():
        return []
    records = [StudyRecord(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
    return sorted(records, key=lambda r: r.created)

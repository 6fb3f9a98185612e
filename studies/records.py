"""The study registry on disk: one JSON record per study under ``<workdir>/studies/``.

It holds what ``resume``, ``ls``, ``show`` and ``compare`` need to find a study again: the
resolved spec, the MLflow experiment and parent run, the Optuna and Ray storages, the status.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studies.errors import UsageError

RUNNING, FINISHED, INTERRUPTED, FAILED = "running", "finished", "interrupted", "failed"


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
    status: str = RUNNING
    phases_done: list[str] = field(default_factory=list)  # search / baselines / oracle-rK
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @property
    def ray_path(self) -> str:
        return str(Path(self.ray_storage) / self.name)

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

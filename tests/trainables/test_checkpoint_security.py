"""A tampered checkpoint must not run code: every path that reads a `.pt` (the checkpoint
loader, the trainable resuming from Tune's checkpoint, the dense-model cache, the oracle's
round-k start, the dense run's epoch snapshots) loads with `weights_only=True` and refuses a
pickle whose `__reduce__` calls `os.system`; the marker file that payload would create is never
written. A control load with `weights_only=False` (in a child process) proves the payload does
run code when it is trusted."""

from __future__ import annotations

import os
import pickle
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

FORMATS = ("torch.save", "pickle.dump")


class _Exploit:
    """Unpickling this runs `touch <marker>` (the pickle names `posix.system`, not this class)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _malicious(path: Path, marker: Path, how: str) -> Path:
    """A file shaped like a prunetune checkpoint (format/version/arch/state_dict …) whose
    `extra` field carries the payload."""
    from pruning.checkpoint import FORMAT, VERSION

    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": {"name": "smallcnn"},
        "state_dict": {},
        "masks": None,
        "optimizer": None,
        "extra": {"state": _Exploit(marker)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "torch.save":
        torch.save(payload, path)
    else:
        with path.open("wb") as f:
            pickle.dump(payload, f)
    return path


@pytest.mark.parametrize("how", FORMATS)
def test_payload_runs_code_when_trusted(tmp_path: Path, how: str) -> None:
    """Control: `torch.load(weights_only=False)` of the payload creates the marker."""
    marker = tmp_path / "control-marker"
    path = _malicious(tmp_path / "control.pt", marker, how)
    code = (
        "import sys, torch; torch.load(sys.argv[1], weights_only=False)"
        if how == "torch.save"
        else "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)
    assert marker.exists()


@pytest.mark.parametrize("how", FORMATS)
def test_load_checkpoint_refuses_code(tmp_path: Path, how: str) -> None:
    """pruning.checkpoint.load_checkpoint raises UnpicklingError; the marker never appears."""
    from pruning.checkpoint import load_checkpoint

    marker = tmp_path / "marker"
    path = _malicious(tmp_path / "evil.pt", marker, how)
    with pytest.raises(pickle.UnpicklingError, match=r"(?i)weights.only"):
        load_checkpoint(path)
    assert not marker.exists()


def test_load_snapshots_refuses_code(tmp_path: Path) -> None:
    """The dense run's epoch snapshots (rewinding) are read with weights_only=True too."""
    from pruning.snapshots import load_snapshots

    marker = tmp_path / "marker"
    path = _malicious(tmp_path / "evil.snapshots.pt", marker, "torch.save")
    with pytest.raises(pickle.UnpicklingError):
        load_snapshots(path)
    assert not marker.exists()


@pytest.fixture
def trial_config(tmp_path: Path) -> Any:
    """A resolved trial config of a tiny digits study (no Ray, no MLflow touched)."""
    from studies.plan.phase import study_context
    from studies.session.records import StudyRecord
    from studies.spec import resolve, spec_hash, validate
    from studies.spec.contract import trial_plan
    from trainables.config import TrialConfig

    workdir = tmp_path / "runs"
    spec = resolve(
        validate(
            {
                "name": "evil",
                "model": {"name": "smallcnn"},
                "dataset": {"name": "digits"},
                "pretrain": {"epochs": 2},
                "pruning": {"methods": ["l1"], "ratio": [0.5]},
                "retrain": {"schedules": ["clr"], "epochs": [1], "max_lr": [0.05]},
                "search": {"sampler": "random", "trials": 1},
            }
        ),
        workdir=str(workdir),
    )
    record = StudyRecord(
        name="evil",
        spec=spec.model_dump(mode="json"),
        spec_hash=spec_hash(spec),
        workdir=str(workdir),
        tracking_uri=spec.tracking.uri,
        experiment_id="0",
        parent_run_id="0" * 32,
        optuna_storage=spec.storage.optuna,
        ray_storage=spec.storage.ray,
    )
    config = {"plan": trial_plan(spec), "study": study_context(record), "role": "search"}
    config |= {"schedule": "clr", "max_lr": 0.05, "method": "l1", "ratio": 0.5, "epochs": 1}
    return TrialConfig.from_tune({**config, "seed": 0})


def test_trainable_resume_refuses_code(
    tmp_path: Path, trial_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Tune checkpoint dir holding a tampered `trial.pt`: the trainable's resume path
    (trainables.trial.start_or_resume) raises before anything runs; no marker."""
    from ray import tune

    import trainables.trial
    from trainables.round_run import CHECKPOINT_FILE

    marker = tmp_path / "marker"
    checkpoint = tmp_path / "checkpoint_000003"
    _malicious(checkpoint / CHECKPOINT_FILE, marker, "torch.save")
    monkeypatch.setattr(
        trainables.trial.tune, "get_checkpoint", lambda: tune.Checkpoint.from_directory(checkpoint)
    )
    with pytest.raises(pickle.UnpicklingError):
        trainables.trial.start_or_resume(trial_config, None, "cpu")  # type: ignore[arg-type]
    assert not marker.exists()


def test_dense_cache_and_oracle_start_refuse_code(tmp_path: Path, trial_config: Any) -> None:
    """A tampered cached dense model (shared `dense/` dir) and a tampered round-k start
    (the greedy oracle's winner of round k−1): both refused, no marker."""
    import dataclasses

    from trainables import trial
    from trainables.dense_cache import dense_key, get_dense, shared

    marker = tmp_path / "marker"
    evil = _malicious(tmp_path / "evil-dense.pt", marker, "torch.save")
    shared(trial_config).write(dense_key(trial_config), evil.read_bytes())
    with pytest.raises(pickle.UnpicklingError):
        get_dense(trial_config, None, "cpu")  # type: ignore[arg-type]
    start = _malicious(tmp_path / "winner.pt", marker, "pickle.dump")
    oracle = dataclasses.replace(trial_config, start_checkpoint=str(start))
    with pytest.raises(pickle.UnpicklingError):
        trial.start_or_resume(oracle, None, "cpu")  # type: ignore[arg-type]
    assert not marker.exists()


def test_oracle_round_without_a_previous_winner_does_not_start_from_dense(
    trial_config: Any,
) -> None:
    """Round k ≥ 2 of the oracle starts from round k − 1's winner; a group without one is an
    error naming the group, never a silent restart from the dense model."""
    import dataclasses

    from trainables import trial
    from trainables.keys import Role

    orphan = dataclasses.replace(trial_config, role=Role.ORACLE, first_round=2, rounds=2)
    with pytest.raises(RuntimeError, match=r"oracle round 2: group .* no round 1 winner"):
        trial.start_or_resume(orphan, None, "cpu")  # type: ignore[arg-type]

"""A trial that crashes at epoch k and is retried by Ray Tune ends with exactly the metrics of an
uninterrupted run (CPU, same seed), and its MLflow run holds each epoch once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

METRICS = ("loss/train", "acc/train", "acc/val", "acc/test", "lr/epoch")


def _tune_one(spec: Any, record: Any, name: str, extra: dict[str, Any]) -> None:
    from ray import tune

    from studies.plan.phase import trainable_factory
    from trainables.trial import prune_retrain

    config = {
        "role": "search",
        "schedule": "clr",
        "max_lr": 0.05,
        "method": "l1",
        "ratio": 0.5,
        "epochs": 4,
        "seed": 0,
        **extra,
    }
    tuner = tune.Tuner(
        trainable_factory(spec, record, prune_retrain)(),
        param_space=config,
        tune_config=tune.TuneConfig(num_samples=1),
        run_config=tune.RunConfig(
            name=name,
            storage_path=spec.storage.ray,
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=0,
        ),
    )
    grid = tuner.fit()
    assert not grid.errors, grid.errors


def _histories(tracking_uri: str, parent_run_id: str) -> dict[str, dict[str, list]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    runs = client.search_runs(
        [client.get_run(parent_run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.role = 'search'",
        order_by=["attributes.start_time ASC"],
    )
    out = {}
    for run in runs:
        assert run.info.status == "FINISHED"
        out[run.info.run_id] = {
            key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
            for key in METRICS
        }
    return out


def test_retried_trial_equals_uninterrupted(ray_local: str, write_study, tmp_path: Path) -> None:
    """Crash after epoch 2's checkpoint, retry: same per-epoch metrics, no duplicate rows."""
    from studies.session.launch import _open_study
    from studies.spec import load_spec, resolve, spec_hash

    spec = resolve(load_spec(str(write_study(name="retry"))), workdir=str(tmp_path / "runs"))
    record = _open_study(spec, spec_hash(spec))
    marker = tmp_path / "crashed.marker"
    _tune_one(spec, record, "clean", {})
    _tune_one(spec, record, "crashing", {"_fail_once": f"{marker}:2"})
    assert marker.exists(), "the injected failure did not happen"

    histories = _histories(record.tracking_uri, record.parent_run_id)
    assert len(histories) == 2
    clean, retried = histories.values()
    for key in METRICS:
        steps = [s for s, _ in retried[key]]
        assert steps == sorted(set(steps)), f"duplicate epoch rows for {key}: {steps}"
        assert retried[key] == clean[key], key
    assert [s for s, _ in clean["acc/val"]] == [0, 1, 2, 3]

"""Reading a study's runs back from MLflow: the nested runs of a parent run, one row each."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from trainables.keys import RunStatus, Tag


def nested_runs(
    client: MlflowClient, experiment_id: str, parent_run_id: str, extra: str = ""
) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{Tag.PARENT}` = '{parent_run_id}'{extra}",
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def unfinished_run_of(
    client: MlflowClient, experiment_id: str, parent_run_id: str, trial_key: str
) -> str | None:
    """The unfinished run an earlier attempt of Tune trial `trial_key` left (tag tune_trial)."""
    extra = (
        f" and tags.`{Tag.TUNE_TRIAL}` = '{trial_key}'"
        f" and attributes.status != '{RunStatus.FINISHED}'"
        f" and attributes.status != '{RunStatus.FAILED}'"
    )
    runs = nested_runs(client, experiment_id, parent_run_id, extra)
    return runs[-1].info.run_id if runs else None


def runs_dataframe(tracking_uri: str, experiment_id: str, parent_run_id: str) -> pd.DataFrame:
    """The study's nested runs, one row each, with the columns `mlflow.search_runs` uses:
    run_id, run_name, status, start_time, end_time, metrics.*, params.*, tags.*."""
    client = MlflowClient(tracking_uri)
    rows = []
    for run in nested_runs(client, experiment_id, parent_run_id):
        info, data = run.info, run.data
        row: dict[str, Any] = {
            "run_id": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "status": info.status,
            "artifact_uri": info.artifact_uri,
            "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
            "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True),
        }
        row.update({f"metrics.{k}": v for k, v in data.metrics.items()})
        row.update({f"params.{k}": v for k, v in data.params.items()})
        row.update({f"tags.{k}": v for k, v in data.tags.items()})
        rows.append(row)
    base = ["run_id", "run_name", "experiment_id", "status", "artifact_uri", "start_time"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=[*base, "end_time"])


def metric_history(tracking_uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of every logged value of `key`, in logging order (later retries win)."""
    history = MlflowClient(tracking_uri).get_metric_history(run_id, key)
    return [(m.step, m.value) for m in sorted(history, key=lambda m: m.timestamp)]

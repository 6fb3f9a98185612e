"""Where a user looks at a study: the MLflow runs page (or the `mlflow ui` command for a file
store) and optuna-dashboard on the study's Optuna storage, all on 127.0.0.1."""

from __future__ import annotations

from studies import storage
from studies.records import StudyRecord

MLFLOW_UI_PORT = 5000
DASHBOARD_PORT = 8080


def browse_lines(record: StudyRecord) -> list[str]:
    """The lines that tell a user how to browse the study's runs and its Optuna study."""
    uri, experiment = record.tracking_uri, record.experiment_id
    if uri.startswith(storage.HTTP):
        lines = [f"MLflow: {uri.rstrip('/')}/#/experiments/{experiment}/runs"]
    else:
        lines = [
            f"MLflow: mlflow ui --backend-store-uri {uri} --host 127.0.0.1 "
            f"--port {MLFLOW_UI_PORT}",
            f"        then open http://127.0.0.1:{MLFLOW_UI_PORT}/#/experiments/{experiment}/runs",
        ]
    lines.append(f"Optuna: prunetune dashboard {record.name} --workdir {record.workdir}")
    return lines


def dashboard_target(optuna_url: str) -> str:
    """What optuna-dashboard takes: an RDB URL, or the journal file's path."""
    path = storage.local_path(optuna_url)
    return str(path) if optuna_url.startswith(storage.JOURNAL) and path else optuna_url

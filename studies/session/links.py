"""Where a user looks at a study: the MLflow runs page (or the `mlflow ui` command for a file
store) and optuna-dashboard on the study's Optuna storage, all on 127.0.0.1."""

from __future__ import annotations

from studies import storage
from studies.session.records import StudyRecord

MLFLOW_UI_PORT = 5000
DASHBOARD_PORT = 8080
# The key of the saved runs-table view each study writes into its experiment's tags.
VIEW_KEY = "prunetune-trials"


def browse_lines(record: StudyRecord) -> list[str]:
    """The lines that tell a user how to browse the study's runs and its Optuna study."""
    uri = storage.redact(record.tracking_uri)  # printed: never a password, should one be there
    if storage.is_mlflow_server(uri):
        lines = [f"MLflow: {runs_page(uri.rstrip('/'), record.experiment_id)}"]
    else:
        page = runs_page(f"http://127.0.0.1:{MLFLOW_UI_PORT}", record.experiment_id)
        lines = [
            f"MLflow: mlflow ui --backend-store-uri {uri} --host 127.0.0.1 "
            f"--port {MLFLOW_UI_PORT}",
            f"        then open {page}",
        ]
    lines.append(f"Optuna: prunetune dashboard {record.name} --workdir {record.workdir}")
    return lines


def runs_page(server: str, experiment_id: str) -> str:
    """The experiment's runs table in the saved view every study writes (trials grouped,
    schedule / max LR / target / val / test columns); `machine_learning` keeps MLflow 3's UI
    out of its GenAI overview."""
    query = f"workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
    return f"{server}/#/experiments/{experiment_id}/runs?{query}"


def dashboard_target(optuna_url: str) -> str:
    """What optuna-dashboard takes: an RDB URL, or the journal file's path."""
    path = storage.local_file(optuna_url)
    return optuna_url if storage.is_sql(optuna_url) or path is None else str(path)

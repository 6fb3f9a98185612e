"""MLflow behind basic auth (`mlflow server --app-name basic-auth`, as docker/ deploys it):
anonymous clients get HTTP 401, `prunetune run` without credentials exits 2 with one line
naming MLFLOW_TRACKING_USERNAME/PASSWORD and creates nothing, and with them a study runs to the
end without leaving the password anywhere: not in the workdir (Tune's experiment dir and the
embedded Ray's session logs included), the Optuna DB, the MLflow backend (DB file, params, tags,
metrics, artifacts) or the driver's output."""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.helpers import (
    FaultFigures,
    fault_figures_table,  # noqa: F401 — a fixture, used by name
    prunetune_cmd,
    reap_workdir_processes,
    report_figures,
    short_workdir,
    study_facts,
    write_fault_study,
)
from tests.cluster.services import AuthMlflowServer, service_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.usefixtures("fault_figures_table"),
]

CREDENTIAL_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


@pytest.fixture(scope="module")
def auth_mlflow() -> Iterator[AuthMlflowServer]:
    """A basic-auth MLflow server (SQLite backend and user store) with a fresh random admin
    password, distinctive enough to grep for."""
    root = Path(tempfile.mkdtemp(prefix="pta-", dir="/tmp"))
    server = AuthMlflowServer(
        f"sqlite:///{root / 'mlflow.db'}",
        root,
        admin_password=f"pw-{secrets.token_hex(12)}",
        secret_key=f"key-{secrets.token_hex(12)}",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    env = service_env(PYTHONUNBUFFERED="1")
    for key in CREDENTIAL_ENV:
        env.pop(key, None)
    return {**env, **extra}


def _status(url: str, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_unauthenticated_client_and_run_refused(
    auth_mlflow: AuthMlflowServer, tmp_path: Path
) -> None:
    """Anonymous and wrong-password requests get 401; `prunetune run` without credentials exits
    2 with one line naming MLFLOW_TRACKING_USERNAME/PASSWORD and creates nothing."""
    began = time.monotonic()
    api = f"{auth_mlflow.uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert _status(api) == 401
    assert _status(api, ("admin", "not-the-password")) == 401
    assert _status(api, ("admin", auth_mlflow.admin_password)) == 200

    name = "auth-refused"
    study = write_fault_study(tmp_path, name, trials=1, epochs=1)
    workdir = tmp_path / "runs"
    done = subprocess.run(
        prunetune_cmd(
            "run", str(study), "--tracking-uri", auth_mlflow.uri, "--workdir", str(workdir)
        ),
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if "MLFLOW_TRACKING_USERNAME" in line]
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1 and "MLFLOW_TRACKING_PASSWORD" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    created = sorted(p.name for p in workdir.rglob("*")) if workdir.exists() else []
    assert created == [], created
    from mlflow.tracking import MlflowClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        mp.setenv("MLFLOW_TRACKING_PASSWORD", auth_mlflow.admin_password)
        assert MlflowClient(auth_mlflow.uri).get_experiment_by_name(name) is None
    report_figures(
        FaultFigures(
            "auth_refused", "MLflow basic auth, no credentials",
            nodes=0, trials=0, rows_lost=0, rows_duplicated=0, optuna={},  # type: ignore[arg-type]
            seconds=time.monotonic() - began, note="HTTP 401; exit 2, one line; nothing created",
        )
    )  # fmt: skip


def test_study_with_credentials_leaks_no_password(
    auth_mlflow: AuthMlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MLFLOW_TRACKING_USERNAME/PASSWORD set, a tiny study runs to the end on the
    embedded Ray; the password appears in nothing the study left behind."""
    began = time.monotonic()
    name, trials, epochs = "auth-study", 2, 2
    password = auth_mlflow.admin_password
    workdir = short_workdir("pta-")
    try:
        study = write_fault_study(workdir, name, trials=trials, epochs=epochs)
        creds = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password}
        done = subprocess.run(
            prunetune_cmd(
                "run", str(study), "--tracking-uri", auth_mlflow.uri, "--workdir", str(workdir)
            ),
            cwd=workdir, env=_env(**creds), capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        for key, value in creds.items():
            monkeypatch.setenv(key, value)
        facts = study_facts(auth_mlflow.uri, f"sqlite:///{workdir / 'optuna.db'}", name, epochs)
        assert facts.optuna["COMPLETE"] == trials and facts.parents == ["FINISHED"]
        assert len(facts.finished_trials) == trials and facts.running == []
        assert facts.rows_lost == 0 and facts.rows_duplicated == 0, facts.gaps

        dump = workdir.parent / f"{workdir.name}-mlflow-dump.txt"
        dump.write_text(_mlflow_dump(auth_mlflow.uri, name))
        places = {
            "driver stdout": done.stdout.encode(),
            "driver stderr": done.stderr.encode(),
            "MLflow runs (params, tags, metrics)": dump.read_bytes(),
        }
        files = [p for p in workdir.rglob("*") if p.is_file() and not p.is_symlink()]
        files += [p for p in auth_mlflow.artifacts_dir.rglob("*") if p.is_file()]
        assert auth_mlflow.backend_db is not None
        files.append(auth_mlflow.backend_db)
        for path in files:
            places[str(path)] = path.read_bytes()
        assert any("ray-tmp/session_" in p for p in places), "the Ray session logs were not read"
        assert any("/ray/" in p and "experiment_state" in p for p in places), "no Tune state"
        needles = [
            password.encode(),
            base64.b64encode(f"admin:{password}".encode()),
            auth_mlflow.secret_key.encode(),  # the server's secret never reaches clients
        ]
        leaks = sorted(where for where, data in places.items() if any(n in data for n in needles))
        assert leaks == [], f"the MLflow password is stored in: {leaks}"
        server_log = auth_mlflow.log_path.read_bytes()
        dump.unlink()
    finally:
        reap_workdir_processes(workdir, [])
        shutil.rmtree(workdir, ignore_errors=True)
    report_figures(
        FaultFigures(
            "auth_study", "MLflow basic auth, with credentials",
            nodes=1, trials=trials, rows_lost=facts.rows_lost,
            rows_duplicated=facts.rows_duplicated, optuna=facts.optuna,
            seconds=time.monotonic() - began,
            note=f"password in 0 of {len(places)} files/dumps; server log: "
            f"{'has it' if password.encode() in server_log else 'clean'}",
        )
    )  # fmt: skip


def _mlflow_dump(uri: str, experiment: str) -> str:
    """Every param, tag and metric (with history) of the experiment's runs, as text."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    out = [repr(exp)]
    for run in client.search_runs([exp.experiment_id], max_results=1000):
        out += [repr(run.info), repr(run.data.params), repr(run.data.tags)]
        for key in run.data.metrics:
            out.append(
                repr([(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)])
            )
        for item in client.list_artifacts(run.info.run_id):
            out.append(repr(item))
    return "\n".join(out)

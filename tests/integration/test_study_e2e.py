"""End to end through the real CLI: a local Ray on loopback, a real `mlflow server`, a sqlite
Optuna storage. Checks what a user would look at afterwards: runs, nesting, metrics, params,
artifacts, Optuna trial states, and that the pruned weights load with weights_only=True."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.study_helpers import listening_ports_outside_loopback, prunetune

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _study_runs(tracking_uri: str, name: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    assert exp is not None, f"no MLflow experiment {name!r}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return client, parents, runs


def test_cli_run_end_to_end(write_study, mlflow_server: str, tmp_path: Path) -> None:
    """`prunetune run` with a real MLflow server: nested runs, metrics, params, artifacts, Optuna."""
    import optuna

    from pruning.checkpoint import load_checkpoint

    before = set(listening_ports_outside_loopback())
    study = write_study(name="e2e", trials=4)
    workdir = tmp_path / "runs"
    res = prunetune(
        "run",
        str(study),
        "--tracking-uri",
        mlflow_server,
        "--workdir",
        str(workdir),
        cwd=tmp_path,
        bare_env=True,  # as from a plain shell: prunetune itself keeps Ray on loopback
    )
    assert res.returncode == 0, res.stderr[-4000:]
    out = res.stdout
    assert out.index("started; browse it while it runs") < out.index("[search] ")
    assert "[search] 4/4 done, 0 running, 0 pending, 0 failed | best val_acc" in out
    assert "#/experiments/" in out and "/runs" in out and "prunetune dashboard e2e" in out
    assert "tensorboard" not in out + res.stderr
    assert "Failed to fetch metrics" not in out + res.stderr  # Tune's result files are off
    assert set(listening_ports_outside_loopback()) <= before, "something listened off loopback"

    client, parents, runs = _study_runs(mlflow_server, "e2e")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["prunetune.study"] == "e2e"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    trials = [r for r in children if r.data.tags.get("role") == "search"]
    dense = [r for r in children if r.data.tags.get("role") == "pretrain"]
    assert len(trials) == 4
    assert len(dense) == 1, "the dense model must be trained once per recipe"
    assert len({r.info.run_name for r in trials}) == 4
    for run in trials:
        assert run.info.status == "FINISHED"
        assert run.data.tags["status"] == "completed"
        assert run.data.tags["schedule"] in ("ft", "clr")
        assert run.data.tags["method"] == "l1" and run.data.tags["seed"] == "0"
        assert run.data.params["trial.schedule"] == run.data.tags["schedule"]
        history = client.get_metric_history(run.info.run_id, "acc/val")
        assert sorted(m.step for m in history) == [0, 1]
        for key in (
            "final/test_acc",
            "final/best_val_acc",
            "final/sparsity",
            "final/macs",
            "final/macs_ratio",
            "dense/test_acc",
        ):
            assert key in run.data.metrics
        assert run.data.metrics["final/macs_ratio"] > 1.0
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"pruning_report.json", "model"} <= names and "lr_curve.png" not in names
    weights = client.download_artifacts(
        trials[0].info.run_id, "model/pruned_model.pt", str(tmp_path)
    )
    model = load_checkpoint(Path(weights)).model
    assert sum(p.numel() for p in model.parameters()) < _dense_params(dense[0], client)

    storage = optuna.storages.RDBStorage(f"sqlite:///{workdir}/optuna.db")
    optuna_study = optuna.load_study(study_name="e2e", storage=storage)
    assert len(optuna_study.trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in optuna_study.trials)
    # Optuna ↔ MLflow: each Optuna trial names its MLflow run, Tune trial and test accuracy.
    assert optuna_study.metric_names == ["val_acc"]
    links = [t.user_attrs["links"] for t in optuna_study.trials]
    assert {link["mlflow_run_id"] for link in links} == {r.info.run_id for r in trials}
    assert all({"tune_trial", "test_acc"} <= set(link) for link in links)

    listing = prunetune("ls", "--workdir", str(workdir), cwd=tmp_path)
    assert listing.returncode == 0 and "e2e" in listing.stdout and "finished" in listing.stdout
    shown = prunetune("show", "e2e", "--workdir", str(workdir), cwd=tmp_path)
    assert shown.returncode == 0 and "clr" in shown.stdout and "ft" in shown.stdout

    _check_notebook_api(workdir)
    _check_dashboard(workdir, tmp_path)
    compared = prunetune("compare", "e2e", "--workdir", str(workdir), cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr[-3000:]
    report_dir = workdir / "reports" / "e2e"
    report = (report_dir / "report.md").read_text()
    assert "clr" in report and "ft" in report and "oracle" in report.lower()
    assert (report_dir / "trials.csv").exists() and (
        report_dir / "accuracy_vs_sparsity.png"
    ).exists()
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.md" in logged


def _check_notebook_api(workdir: Path) -> None:
    """studies.load: typed columns; studies.compare: the report's tables, nothing written."""
    import studies

    trials = studies.load("e2e", workdir=str(workdir))
    assert len(trials) == 4 and set(trials["schedule"]) <= {"ft", "clr"}
    for column in ("max_lr", "val_acc", "test_acc", "sparsity", "epochs", "seed"):
        assert trials[column].dtype == float, column
    comparison = studies.compare("e2e", workdir=str(workdir))
    assert not comparison.table.empty and set(comparison.table["schedule"]) <= {"ft", "clr"}
    assert not (workdir / "reports").exists()


def _check_dashboard(workdir: Path, cwd: Path) -> None:
    """`prunetune dashboard` serves optuna-dashboard on 127.0.0.1 for the study's storage."""
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.integration.study_helpers import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "studies.cli", "dashboard", "e2e", "--workdir", str(workdir)]
    proc = subprocess.Popen([*cmd, "--port", str(port)], cwd=cwd, stdout=subprocess.PIPE)
    try:
        deadline, status = time.monotonic() + 60, None
        while status != 200 and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/studies", timeout=2
                ) as r:
                    status = r.status
                    body = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert status == 200 and '"e2e"' in body
        assert f"127.0.0.1:{port}" in " ".join(
            line.split()[3] for line in _listening() if f":{port}" in line
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    left = subprocess.run(["pgrep", "-f", f"optuna-dashboard.*{workdir}"], capture_output=True)
    assert left.stdout.strip() == b"", "the dashboard outlived `prunetune dashboard`"


def _listening() -> list[str]:
    import subprocess

    return subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout.splitlines()


def _dense_params(dense_run, client) -> int:
    from pruning.data import load
    from pruning.models import build

    del dense_run, client
    bundle = load("digits")
    model = build("smallcnn", num_classes=10, in_channels=1, image_size=8, dims=2)
    assert bundle.num_classes == 10
    return sum(p.numel() for p in model.parameters())

"""The launcher's guards, through a real local Ray and real SQLite stores: a failure after
launch ends the study FAILED (record and parent run), never RUNNING; a live study refuses a
second driver; an Optuna study of another spec refuses the run before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]


def _parents(tracking_uri: str, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], max_results=100)
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def test_failure_after_launch_ends_failed_not_running(
    ray_local: str, write_study, tmp_path: Path, monkeypatch
) -> None:
    """A phase that cannot be built (after the stores exist): the exception surfaces, the
    record says FAILED and the parent run is FAILED."""
    import studies.session.launch
    from studies.plan.phase import Phase
    from studies.session.records import load_record
    from studies.spec import load_spec, resolve

    def broken_plan(spec, record):
        def build():
            raise RuntimeError("phase cannot be built")

        return [Phase("search", spec.name, lambda: None, build, 1)]

    monkeypatch.setattr(studies.session.launch, "plan", broken_plan)
    workdir = tmp_path / "runs"
    spec = resolve(load_spec(str(write_study(name="broken"))), workdir=str(workdir))
    with pytest.raises(RuntimeError, match="phase cannot be built"):
        studies.session.launch.run_study(spec)
    assert load_record(str(workdir), "broken").status == "FAILED"
    parents = _parents(spec.tracking.uri, "broken")
    assert [p.info.status for p in parents] == ["FAILED"]


def test_live_study_refuses_a_second_driver(
    ray_local: str, write_study, tmp_path: Path, capsys
) -> None:
    """While a driver holds the study's lease, `run` and `resume` exit 2 with one line, and
    nothing of the study is created."""
    from studies.cli import main
    from studies.session.lease import StudyLease

    workdir = tmp_path / "runs"
    study = write_study(name="busy")
    with StudyLease(str(workdir), "busy"):
        code = main(["run", str(study), "--workdir", str(workdir)])
        err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "another driver" in err, err
    assert not (workdir / "mlflow.db").exists() and not (workdir / "optuna.db").exists()


def test_optuna_study_of_another_spec_is_refused(
    ray_local: str, write_study, tmp_path: Path, capsys
) -> None:
    """The Optuna study is tied to the spec hash: a same-named study made by another spec in
    the same storage refuses the run (exit 2) before an MLflow run or a record exists."""
    import optuna

    from studies.cli import main
    from studies.plan.search import SPEC_HASH_ATTR

    workdir = tmp_path / "runs"
    workdir.mkdir()
    url = f"sqlite:///{workdir / 'optuna.db'}"
    other = optuna.create_study(study_name="shared", storage=url, direction="maximize")
    other.set_user_attr(SPEC_HASH_ATTR, "0123456789abcdef")
    code = main(["run", str(write_study(name="shared")), "--workdir", str(workdir)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "belongs to spec 0123456789abcdef" in err, err
    assert not (workdir / "studies" / "shared.json").exists()
    assert _parents(f"sqlite:///{workdir / 'mlflow.db'}", "shared") == []

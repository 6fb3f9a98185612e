"""trainables' MLflow tracking (runs, study_run, query) against a sqlite:/// store and a real `mlflow server` on loopback."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

PARAMS = {"trial": {"max_lr": 0.1, "epochs": 5}, "spec": {"retrain": {"schedules": ["ft", "clr"]}}}
TAGS = {"schedule": "clr", "role": "search"}


@dataclass
class Store:
    uri: str
    artifact_root: Path
    served: bool  # artifacts go where the server's --artifacts-destination says


@pytest.fixture(scope="module")
def sqlite_dir(tmp_path_factory: pytest.TempPathFactory, mlflow_server_process: Any) -> Path:
    # One database for the module: a fresh one costs the schema migrations (seconds) each time.
    # The server is launched first so its start overlaps with those migrations.
    return tmp_path_factory.mktemp("tracking")


@pytest.fixture(params=["sqlite", "server"])
def store(request: pytest.FixtureRequest, sqlite_dir: Path) -> Store:
    root = sqlite_dir / f"artifacts-{uuid.uuid4().hex[:8]}"
    if request.param == "server":
        return Store(request.getfixturevalue("mlflow_server"), root, served=True)
    return Store(f"sqlite:///{sqlite_dir / 'mlflow.db'}", root, served=False)


@pytest.fixture
def study(store: Store):
    from trainables.study_run import open_study_run

    run = open_study_run(
        store.uri, f"exp-{uuid.uuid4().hex[:8]}", "s", "h4sh", str(store.artifact_root)
    )
    yield run
    if not run.ended:
        run.end("FINISHED")


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def _count_metric_batches(run: Any) -> list[int]:
    """Wrap the run's client so every log_batch carrying metrics is counted."""
    calls: list[int] = []
    original: Callable[..., Any] = run.client.log_batch

    def counting(run_id: str, metrics: Any = (), *args: Any, **kw: Any) -> Any:
        if metrics:
            calls.append(len(metrics))
        return original(run_id, metrics, *args, **kw)

    run.client.log_batch = counting
    return calls


def _epoch(step: int) -> dict[str, float]:
    return {"val_acc": 0.5 + 0.1 * step, "lr": 0.1 / (step + 1), "train_loss": 2.0 - step}


def _open_trial(study: Any, name: str, run_id: str | None = None, params: Any = None):
    from trainables.runs import TrialRun

    return TrialRun.open(
        study.tracking_uri,
        study.experiment_id,
        study.run_id,
        name,
        tags=TAGS,
        params=PARAMS if params is None else params,
        run_id=run_id,
        trial_key=f"trainable_{name}",
    )


def test_nested_trials_params_and_epochs(store: Store, study: Any) -> None:
    """Three nested trial runs: parent tag, flattened params, one log_batch per epoch."""
    from trainables.query import runs_dataframe

    ids = []
    for i in range(3):
        run = _open_trial(study, f"trial_{i}")
        calls = _count_metric_batches(run)
        with run:
            for step in range(3):
                run.log_epoch(step, _epoch(step))
        assert calls == [3, 3, 3]
        ids.append(run.run_id)
    client = _client(store.uri)
    for run_id in ids:
        run = client.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == study.run_id
        assert run.data.params["trial.max_lr"] == "0.1"
        assert run.data.params["spec.retrain.schedules"] == '["ft", "clr"]'
        assert run.info.status == "FINISHED"
        assert [m.step for m in client.get_metric_history(run_id, "val_acc")] == [0, 1, 2]
    parent = client.get_run(study.run_id)
    assert parent.data.tags["prunetune.study"] == "s"
    assert parent.data.tags["prunetune.spec_hash"] == "h4sh"
    assert "prunetune.version" in parent.data.tags
    frame = runs_dataframe(store.uri, study.experiment_id, study.run_id)
    assert sorted(frame["run_id"]) == sorted(ids)
    assert set(frame["status"]) == {"FINISHED"}
    assert list(frame["run_name"]) == ["trial_0", "trial_1", "trial_2"]
    assert (frame["params.trial.epochs"] == "5").all()
    assert (frame["tags.schedule"] == "clr").all()
    assert frame["metrics.val_acc"].tolist() == pytest.approx([0.7] * 3)


def test_reattach_to_a_closed_out_run_keeps_its_outcome(store: Store, study: Any) -> None:
    """A trial whose worker died after its close-out (summary + outcome tag) but before the
    run ended: the retry reattaches with its running tags, yet the run keeps "completed" and
    the node it finished on."""
    from trainables.closeout import running_tags
    from trainables.keys import Outcome, Tag

    first = _open_trial(study, "closed")
    first.set_tags({Tag.STATUS: Outcome.COMPLETED, Tag.NODE: "node-a"})  # then the node died
    retry = _open_with_tags(study, "closed", first.run_id, {**TAGS, **running_tags()})
    assert retry.closed_out
    with retry:
        pass
    run = _client(store.uri).get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[Tag.STATUS] == Outcome.COMPLETED and run.data.tags[Tag.NODE] == "node-a"


def _open_with_tags(study: Any, name: str, run_id: str, tags: dict[str, str]) -> Any:
    from trainables.runs import TrialRun

    return TrialRun.open(
        study.tracking_uri, study.experiment_id, study.run_id, name, tags=tags,
        params=PARAMS, run_id=run_id, trial_key=f"trainable_{name}",
    )  # fmt: skip


def test_reattach_to_a_finished_closed_out_run_leaves_it_as_it_is(
    store: Store, study: Any
) -> None:
    """A trial that finished after Tune's last snapshot is restored by `resume`: its run is not
    reopened (status, end time and tags stay), and replayed rows are not logged again."""
    from trainables.closeout import running_tags
    from trainables.keys import Outcome, Tag

    first = _open_trial(study, "done")
    with first:
        first.log_epoch(0, _epoch(0))
        first.set_tags({Tag.STATUS: Outcome.COMPLETED})
    client = _client(store.uri)
    before = client.get_run(first.run_id)
    retry = _open_with_tags(study, "done", first.run_id, {**TAGS, **running_tags()})
    with retry:
        retry.log_epoch(0, _epoch(0))
    after = client.get_run(first.run_id)
    assert retry.closed_out and after.info.status == "FINISHED"
    assert after.info.end_time == before.info.end_time
    assert after.data.tags[Tag.STATUS] == Outcome.COMPLETED
    assert len(client.get_metric_history(first.run_id, "val_acc")) == 1


def test_reattach_after_failure_skips_logged_epochs(store: Store, study: Any) -> None:
    """A retried trial reattaches, logs only new epochs: one history entry per step."""
    first = _open_trial(study, "retried")
    with pytest.raises(RuntimeError), first:
        for step in range(3):
            first.log_epoch(step, _epoch(step))
        raise RuntimeError("worker died")
    client = _client(store.uri)
    assert client.get_run(first.run_id).info.status == "FAILED"

    changed = {**PARAMS, "trial": {"max_lr": 0.2, "epochs": 5}}  # params are immutable: ignored
    retry = _open_trial(study, "retried", run_id=first.run_id, params=changed)
    assert retry.run_id == first.run_id
    assert client.get_run(first.run_id).info.status == "RUNNING"
    assert retry.logged_steps("val_acc") == [0, 1, 2]
    calls = _count_metric_batches(retry)
    with retry:
        for step in range(5):  # the retry replays epochs 0-2 from its checkpoint's view
            retry.log_epoch(step, _epoch(step))
        retry.log_summary({"final_val_acc": 0.9, "val_acc": _epoch(4)["val_acc"]})
        retry.log_summary({"final_val_acc": 0.9})  # idempotent
    assert calls == [3, 3, 1]
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["trial.max_lr"] == "0.1"
    for key in _epoch(0):
        history = client.get_metric_history(first.run_id, key)
        assert [m.step for m in history] == [0, 1, 2, 3, 4], key
        assert [m.value for m in history] == pytest.approx([_epoch(s)[key] for s in range(5)])
    assert run.data.metrics["final_val_acc"] == pytest.approx(0.9)
    assert [m.step for m in client.get_metric_history(first.run_id, "final_val_acc")] == [4]


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (None, "FINISHED"),
        (ValueError, "FAILED"),
        (KeyboardInterrupt, "KILLED"),
        (SystemExit, "KILLED"),
    ],
)
def test_context_manager_end_status(store: Store, study: Any, raised: Any, status: str) -> None:
    """Clean exit → FINISHED, an exception → FAILED, KeyboardInterrupt/SystemExit → KILLED."""
    run = _open_trial(study, f"ends-{status}")
    if raised is None:
        with run:
            run.log_epoch(0, _epoch(0))
    else:
        with pytest.raises(raised), run:
            raise raised()
    assert _client(store.uri).get_run(run.run_id).info.status == status


def test_explicit_end_wins_and_bad_status(store: Store, study: Any) -> None:
    """end() inside the block is kept on exit; an unknown status is a one-line ValueError."""
    run = _open_trial(study, "explicit")
    with run:
        with pytest.raises(ValueError, match=r"status: 'DONE'.*valid: FINISHED, FAILED, KILLED"):
            run.end("DONE")
        run.end("FAILED")
    assert _client(store.uri).get_run(run.run_id).info.status == "FAILED"


def test_artifacts_retrievable(
    store: Store, study: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dict, a PNG figure and a file come back; sqlite artifacts land under artifact_root."""
    from matplotlib.figure import Figure

    monkeypatch.chdir(tmp_path)
    report = {"rounds": [{"round": 1, "sparsity_after": 0.5}]}
    weights = tmp_path / "pruned_model.pt"
    weights.write_bytes(b"\x00weights\x01")
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    with _open_trial(study, "artifacts") as run:
        run.log_dict(report, "pruning_report.json")
        run.log_figure(fig, "lr_curve.png")
        run.log_artifact(weights, "model")
    client = _client(store.uri)
    out = tmp_path / "download"
    out.mkdir()
    got = Path(client.download_artifacts(run.run_id, "", str(out)))
    assert json.loads((got / "pruning_report.json").read_text()) == report
    assert (got / "lr_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (got / "model" / "pruned_model.pt").read_bytes() == weights.read_bytes()
    assert not (tmp_path / "mlruns").exists()
    if not store.served:
        assert run.artifact_uri.startswith(store.artifact_root.resolve().as_uri())
        assert (store.artifact_root / run.run_id / "artifacts" / "lr_curve.png").is_file()


def test_open_study_run_reuses_running_parent(store: Store) -> None:
    """A RUNNING parent of the same study and spec is reused; a finished one is not."""
    from trainables.study_run import open_study_run

    args = (store.uri, f"exp-{uuid.uuid4().hex[:8]}", "again", "abc", str(store.artifact_root))
    first = open_study_run(*args)
    assert open_study_run(*args).run_id == first.run_id
    first.end("FINISHED")
    second = open_study_run(*args)
    assert second.run_id != first.run_id
    second.end("FINISHED")


def test_kill_unfinished_then_reopen(store: Store, study: Any) -> None:
    """Runs left RUNNING become KILLED; an ended study run can be reopened for a resume."""
    from trainables.study_run import (
        end_study_run,
        kill_unfinished_trial_runs,
        reopen_study_run,
    )

    with _open_trial(study, "done"):
        pass
    left = _open_trial(study, "left-running")
    assert kill_unfinished_trial_runs(store.uri, study.experiment_id, study.run_id) == 1
    client = _client(store.uri)
    assert client.get_run(left.run_id).info.status == "KILLED"
    end_study_run(store.uri, study.run_id, "KILLED")
    assert client.get_run(study.run_id).info.status == "KILLED"
    assert reopen_study_run(store.uri, study.run_id).run_id == study.run_id
    assert client.get_run(study.run_id).info.status == "RUNNING"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_unreachable_http_is_one_line() -> None:
    """A closed loopback port: one line naming the URI and how to fix it."""
    from studies.session.preflight import check_tracking_reachable

    uri = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ValueError, match="not reachable") as info:
        check_tracking_reachable(uri)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"tracking.uri: tracking URI {uri}: not reachable (")
    assert message.endswith("start `mlflow server` or pass --tracking-uri")


def test_check_unsupported_scheme_lists_valid() -> None:
    """An unknown scheme: one line listing the supported ones."""
    from studies.session.preflight import check_tracking_reachable

    for uri in ("ftp://example/x", "mlruns", ""):
        with pytest.raises(ValueError, match="unsupported scheme") as info:
            check_tracking_reachable(uri)
        assert "\n" not in str(info.value)
        assert "sqlite:///PATH" in str(info.value) and "postgresql://" in str(info.value)


def test_check_sqlite_and_server(tmp_path: Path, mlflow_server: str) -> None:
    """A creatable sqlite path and a live server pass; a path below a file does not."""
    from studies.session.preflight import check_tracking_reachable

    check_tracking_reachable(f"sqlite:///{tmp_path / 'not' / 'yet' / 'mlflow.db'}")
    check_tracking_reachable(mlflow_server)
    assert not (tmp_path / "not").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="is not a directory"):
        check_tracking_reachable(f"sqlite:///{blocker / 'mlflow.db'}")


def test_flatten() -> None:
    """Nested dicts become dotted keys; lists and empty dicts become JSON strings."""
    from trainables.runs import flatten

    nested = {"a": {"b": 1, "c": {"d": [0.5, "M"]}}, "e": {}, "f": None, "g": True}
    assert flatten(nested) == {
        "a.b": "1",
        "a.c.d": '[0.5, "M"]',
        "e": "{}",
        "f": "None",
        "g": "True",
    }
    assert flatten({"a": {"b": 1}}, sep="/") == {"a/b": "1"}


def test_restarted_trial_without_checkpoint_keeps_its_run(store: Store, study: Any) -> None:
    """A trial restarted from scratch (no checkpoint) reattaches to its KILLED run, found by
    the Tune trial it belongs to (tag tune_trial)."""
    from trainables.study_run import kill_unfinished_trial_runs

    first = _open_trial(study, "restarted-from-scratch")
    first.log_epoch(0, _epoch(0))
    kill_unfinished_trial_runs(store.uri, study.experiment_id, study.run_id)
    again = _open_trial(study, "restarted-from-scratch")
    assert again.run_id == first.run_id
    again.log_epoch(0, _epoch(0))
    again.log_epoch(1, _epoch(1))
    again.end()
    history = _client(store.uri).get_metric_history(first.run_id, "val_acc")
    assert sorted(m.step for m in history) == [0, 1]
    with _open_trial(study, "finished-once") as done:
        pass
    assert _open_trial(study, "finished-once").run_id != done.run_id

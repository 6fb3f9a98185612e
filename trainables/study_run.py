"""The lifecycle of a study's parent run in MLflow: open (or find again), reopen on resume, end;
sweep the trial runs an interrupted study left RUNNING."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from trainables.keys import RunStatus, Tag
from trainables.query import nested_runs
from trainables.runs import StudyRun, clip, terminate
from trainables.schemes import is_mlflow_server


def _version() -> str:
    try:
        return version("prunetune")
    except PackageNotFoundError:
        return "0+unknown"


def _artifact_location(tracking_uri: str, artifact_root: str) -> str | None:
    """A server stores artifacts where its --artifacts-destination says; a database store
    would otherwise put them under ./mlruns of whatever directory the process runs in."""
    if is_mlflow_server(tracking_uri):
        return None
    root = Path(artifact_root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root.as_uri()


def _experiment_id(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException as exc:  # another driver created it in between
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise exc from None
    if experiment.lifecycle_stage == "deleted":
        raise ValueError(
            f"tracking.experiment: experiment {name!r} is deleted in the tracking store; "
            f"restore it (`mlflow experiments restore`) or choose another name"
        )
    return experiment.experiment_id


def open_study_run(
    tracking_uri: str, experiment: str, study_name: str, spec_hash: str, artifact_root: str
) -> StudyRun:
    """Get/create the experiment and the study's parent run; an unfinished parent run of the
    same study and spec is reused (a driver that died before recording its run id)."""
    client = MlflowClient(tracking_uri)
    experiment_id = _experiment_id(
        client, experiment, _artifact_location(tracking_uri, artifact_root)
    )
    found = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{Tag.KIND}` = 'study' and tags.`{Tag.STUDY}` = '{study_name}' "
            f"and tags.`{Tag.SPEC_HASH}` = '{spec_hash}' "
            f"and attributes.status = '{RunStatus.RUNNING}'"
        ),
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if found:
        return StudyRun(client, tracking_uri, found[0])
    tags = {
        Tag.KIND: "study",
        Tag.STUDY: study_name,
        Tag.SPEC_HASH: spec_hash,
        Tag.VERSION: _version(),
    }
    return StudyRun(
        client, tracking_uri, client.create_run(experiment_id, run_name=study_name, tags=tags)
    )


NOTE = "mlflow.note.content"  # the description MLflow shows on a run or an experiment page


def describe_study_run(
    run: StudyRun,
    description: str,
    params: dict[str, str],
    files: dict[str, str],
    experiment_tags: dict[str, str] | None = None,
) -> None:
    """What the study's run says before any trial: the description (also the experiment's,
    unless it has one), a few params that say what the study is, files (the spec as TOML,
    the search space), and experiment tags such as a saved view of the runs table — each set
    only where absent, so what a user changed in the UI survives a resumed study."""
    run.set_tags({NOTE: description})
    experiment = run.client.get_experiment(run.experiment_id)
    for key, value in {NOTE: description, **(experiment_tags or {})}.items():
        if key not in experiment.tags:
            run.client.set_experiment_tag(run.experiment_id, key, value)
    run.client.log_batch(run.run_id, params=[Param(k, clip(v, 500)) for k, v in params.items()])
    for name, text in files.items():
        run.client.log_text(run.run_id, text, name)


def reopen_study_run(tracking_uri: str, parent_run_id: str) -> StudyRun:
    """Mark an interrupted study's parent run RUNNING again (resume)."""
    client = MlflowClient(tracking_uri)
    client.update_run(parent_run_id, status=RunStatus.RUNNING)
    return StudyRun(client, tracking_uri, client.get_run(parent_run_id))


def end_study_run(tracking_uri: str, parent_run_id: str, status: RunStatus) -> None:
    """End the study's parent run (FINISHED, FAILED, or KILLED = interrupted)."""
    terminate(MlflowClient(tracking_uri), parent_run_id, status)


def kill_unfinished_trial_runs(tracking_uri: str, experiment_id: str, parent_run_id: str) -> int:
    """Trial runs still RUNNING after Tune returned (actor killed, study interrupted) → KILLED."""
    client = MlflowClient(tracking_uri)
    running = f" and attributes.status = '{RunStatus.RUNNING}'"
    runs = nested_runs(client, experiment_id, parent_run_id, running)
    for run in runs:
        client.set_terminated(run.info.run_id, RunStatus.KILLED)
    return len(runs)

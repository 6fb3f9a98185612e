"""The study's Tune searcher: links written into Optuna trials, and patience with a storage
that is briefly down (a PostgreSQL restart) instead of ending the study or losing a `tell`."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from studies.plan.searcher import LinkedOptunaSearch, outlast_outage
from trainables.keys import Result


def _searcher(tmp_path: Path) -> tuple[LinkedOptunaSearch, optuna.Study]:
    url = f"sqlite:///{tmp_path}/optuna.db"
    searcher = LinkedOptunaSearch(
        space=lambda trial: trial.suggest_float("max_lr", 0.01, 0.1) and None,
        metric=Result.VAL_ACC, mode="max", study_name="s", storage=optuna.storages.RDBStorage(url),
    )  # fmt: skip
    return searcher, optuna.load_study(study_name="s", storage=url)


def test_outage_is_outlasted_then_given_up() -> None:
    """Storage errors are retried until the call succeeds; past the patience they surface."""
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise optuna.exceptions.StorageInternalError("server closed the connection")
        return "ok"

    assert outlast_outage(flaky, "report", patience_s=30) == "ok" and len(calls) == 3

    def down() -> None:
        raise optuna.exceptions.StorageInternalError("connection refused")

    with pytest.raises(optuna.exceptions.StorageInternalError):
        outlast_outage(down, "report", patience_s=1)


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        outlast_outage(broken, "tell", patience_s=30)
    assert calls == [1]


def test_complete_writes_links_and_value(tmp_path: Path) -> None:
    searcher, study = _searcher(tmp_path)
    searcher.suggest("t1")
    result = {Result.VAL_ACC: 0.8, Result.RUN_ID: "abc", Result.TEST_ACC: 0.7}
    searcher.on_trial_complete("t1", result)
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE and trial.value == 0.8
    assert trial.user_attrs["links"] == {
        "mlflow_run_id": "abc",
        "tune_trial": "t1",
        "test_acc": 0.7,
    }


def test_a_tell_that_landed_is_not_told_again(tmp_path: Path) -> None:
    """A retried `tell` whose first commit landed finds the trial finished and keeps it."""
    searcher, study = _searcher(tmp_path)
    searcher.suggest("t1")
    study.tell(study.trials[0].number, 0.9)  # as if the first attempt's commit had landed
    searcher.on_trial_complete("t1", {Result.VAL_ACC: 0.8})
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE and trial.value == 0.9
    assert "t1" in searcher._completed_trials


def test_errored_trial_without_result_fails(tmp_path: Path) -> None:
    searcher, study = _searcher(tmp_path)
    searcher.suggest("t1")
    searcher.on_trial_complete("t1", None, error=True)
    assert study.trials[0].state == TrialState.FAIL


def test_last_grid_point_is_told_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GridSampler calls Study.stop() after the last point, which Optuna refuses outside
    optimize(): the trial is stored anyway, and that refusal is not a warning to the user."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    searcher = LinkedOptunaSearch(
        space={"max_lr": optuna.distributions.CategoricalDistribution([0.1])},
        metric=Result.VAL_ACC, mode="max", study_name="g", storage=optuna.storages.RDBStorage(url),
        sampler=optuna.samplers.GridSampler({"max_lr": [0.1]}),
    )  # fmt: skip
    searcher.suggest("t1")
    with caplog.at_level("WARNING", logger="prunetune"):
        searcher.on_trial_complete("t1", {Result.VAL_ACC: 0.8})
    assert optuna.load_study(study_name="g", storage=url).trials[0].state == TrialState.COMPLETE
    assert not [r for r in caplog.records if "Study.stop" in r.getMessage()]


def test_report_to_a_trial_told_by_a_dead_driver_is_ignored(tmp_path: Path) -> None:
    """A driver told Optuna a trial's outcome and died before Tune's next snapshot; the resume
    restores the trial and its result reaches the searcher again: no crash, the outcome stands."""
    searcher, study = _searcher(tmp_path)
    searcher.suggest("t1")
    study.tell(study.trials[0].number, 0.9)  # the dead driver's tell
    searcher.on_trial_result("t1", {Result.VAL_ACC: 0.5, "training_iteration": 20})
    searcher.on_trial_complete("t1", {Result.VAL_ACC: 0.5})
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE and trial.value == 0.9

"""The Tune searcher on the study's Optuna storage: Ray's OptunaSearch, plus links between the
tools and patience with the storage.

Links: each Optuna trial gets the MLflow run id, the Tune trial and the test accuracy as one
user attr (optuna-dashboard shows it), so a trial found in one tool is found in the other.

Patience: on a cluster the storage is a PostgreSQL server, which restarts (upgrades, failover).
Ray's OptunaSearch lets the error of a report end the whole study, and swallows the error of
the final `tell`, which leaves a finished trial RUNNING (later marked FAIL as stale). Here every
storage call of the searcher is retried while the outage lasts up to `OUTAGE_S`; reports are
upserts, and a `tell` whose commit landed before the connection broke is found finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from studies.storage import Use, retryable_errors
from trainables.keys import Result

log = logging.getLogger("prunetune")

T = TypeVar("T")
OUTAGE_S = 180.0  # a PostgreSQL restart or failover takes seconds; give up after minutes
# What an Optuna storage that is down raises, declared with each scheme (trainables.schemes).
OUTAGE_ERRORS = retryable_errors(Use.OPTUNA)


def outlast_outage(call: Callable[[], T], what: str, patience_s: float = OUTAGE_S) -> T:
    """`call()`, retried with backoff while the storage is unreachable for up to `patience_s`."""
    deadline, delay = time.monotonic() + patience_s, 0.5
    while True:
        try:
            return call()
        except OUTAGE_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "Optuna storage unreachable (%s); retrying %s in %.1f s",
                type(exc).__name__, what, delay,
            )  # fmt: skip
            time.sleep(delay)
            delay = min(2 * delay, 10.0)


class LinkedOptunaSearch(OptunaSearch):
    """OptunaSearch with links written into each Optuna trial and patience with its storage."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._told_before: set[str] = set()  # Tune trials whose Optuna trial a dead driver told

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        return outlast_outage(lambda: super(LinkedOptunaSearch, self).suggest(trial_id), "ask")

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        try:
            outlast_outage(
                lambda: super(LinkedOptunaSearch, self).on_trial_result(trial_id, result),
                "report",
            )
        except optuna.exceptions.UpdateFinishedTrialError:
            # Told by a driver that died before Tune's next snapshot: a resume restores the
            # trial from that snapshot, but Optuna already holds its outcome, which stands.
            self._completed_trials.add(trial_id)
            self._told_before.add(trial_id)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if trial_id in self._told_before:
            return  # its outcome was told by the driver that died (see on_trial_result)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            super().on_trial_complete(trial_id, result, error)  # Ray's warning, or KeyError
            return
        links = {
            "mlflow_run_id": (result or {}).get(Result.RUN_ID),
            "tune_trial": trial_id,
            "test_acc": (result or {}).get(Result.TEST_ACC),
        }
        plain = {k: v for k, v in links.items() if v not in (None, "")}
        values, state = self._outcome(result, error)
        storage, number = self._ot_study._storage, ot_trial._trial_id

        def tell() -> None:
            if storage.get_trial(number).state.is_finished():
                return  # an earlier attempt's commit landed before its connection broke
            if result:  # one storage write per trial (three set_user_attr calls: ~60 ms)
                ot_trial.set_user_attr("links", plain)
            try:
                self._ot_study.tell(ot_trial, values, state=state)
            except OUTAGE_ERRORS:
                raise
            except RuntimeError as exc:
                # GridSampler calls Study.stop() after the last grid point, which Optuna
                # refuses outside optimize(); the trial is stored by then (tell's `finally`).
                if "Study.stop" not in str(exc):
                    log.warning("Optuna tell of trial %s: %s", trial_id, exc)
            except Exception as exc:  # as Ray does: e.g. a NaN objective
                log.warning("Optuna tell of trial %s: %s", trial_id, exc)

        outlast_outage(tell, "tell")
        self._completed_trials.add(trial_id)

    def _outcome(
        self, result: dict[str, Any] | None, error: bool
    ) -> tuple[float | list[float | None] | None, TrialState]:
        """The values and state Ray's OptunaSearch tells Optuna for a finished Tune trial."""
        if not result:
            values = None
        elif isinstance(self.metric, list):
            values = [result.get(m) for m in self.metric]
        else:
            values = result.get(self.metric)
        if values is not None:
            return values, TrialState.COMPLETE
        return None, TrialState.FAIL if error else TrialState.PRUNED

"""What prunetune uses of Ray beyond its public API, pinned: Ray is pinned (pyproject.toml), and a
Ray upgrade that moves any of these fails here, by name, not deep inside a study.

- studies/plan/searcher.py: LinkedOptunaSearch subclasses OptunaSearch and reads its
  `_ot_trials`, `_ot_study` and `_completed_trials` (to tell Optuna a trial's outcome once, across
  a driver restart), and `optuna.Trial._trial_id`.
- studies/session/ray_session.py: `ray._private.services.canonicalize_bootstrap_address` (what
  `--address auto` means) and `ray._private.gcs_utils.create_gcs_channel` (the GCS probe).
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import optuna
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_ray_is_the_pinned_version() -> None:
    """These internals were read in Ray 2.60.0; another version must re-check them."""
    assert version("ray") == "2.60.0"


def test_optuna_search_keeps_the_state_linked_optuna_search_reads() -> None:
    """After a suggest, OptunaSearch holds the Optuna trial by Tune id, its study, and the set of
    completed trial ids; the Optuna trial exposes its storage id."""
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(
        space={"x": optuna.distributions.FloatDistribution(0.0, 1.0)},
        metric="m",
        mode="max",
        sampler=optuna.samplers.RandomSampler(seed=0),
        study_name="pin",
    )
    assert searcher.suggest("t1") is not None
    assert isinstance(searcher._completed_trials, set)
    assert isinstance(searcher._ot_study, optuna.Study)
    assert isinstance(searcher._ot_trials["t1"]._trial_id, int)
    assert searcher._ot_study._storage is not None


def test_ray_private_functions_ray_session_imports() -> None:
    """The two private functions keep their names and first parameter."""
    from ray._private.gcs_utils import create_gcs_channel
    from ray._private.services import canonicalize_bootstrap_address

    assert next(iter(inspect.signature(canonicalize_bootstrap_address).parameters)) == "addr"
    assert next(iter(inspect.signature(create_gcs_channel).parameters)) == "address"

"""The search space: define-by-run with Optuna's in-memory study (conditional max_lr, constants
for single values), grid arithmetic and exhaustive grid walks, samplers and objectives."""

from __future__ import annotations

import contextlib
import pickle

import optuna
import pytest

from studies.plan.search import define_space, make_sampler, objective_metrics
from studies.spec import SpecError, StudySpec, validate
from studies.spec.derived import is_conditional
from studies.spec.derived import search_grid as grid
from studies.spec.derived import search_grid_size as grid_size

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _spec(**sections: dict) -> StudySpec:
    raw: dict = {
        "name": "space",
        "model": {"name": "resnet20"},
        "dataset": {"name": "mnist1d"},
        "pretrain": {"epochs": 10},
        # Iterative: scyc's peak follows the rounds (refused for one-shot pruning).
        "pruning": {
            "methods": ["l1"],
            "ratio": {"low": 0.3, "high": 0.9},
            "schedule": "iterative",
            "rounds": 2,
        },
        "retrain": {
            "schedules": ["ft", "scyc", "clr"],
            "epochs": [10],  # slr's warm-up is int(0.1 · E) epochs: empty below 10
            "max_lr": {"low": 0.01, "high": 0.3},
        },
        "search": {"sampler": "random", "trials": 30},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return validate(raw)


def _ask_many(spec: StudySpec, n: int, sampler=None) -> list[tuple[dict, dict]]:
    """n trials: (suggested params, returned constants) each."""
    study = optuna.create_study(sampler=sampler or make_sampler(spec), direction="maximize")
    space, out = define_space(spec), []
    for _ in range(n):
        trial = study.ask()
        constants = space(trial) or {}
        out.append((dict(trial.params), constants))
        # Grid and brute-force samplers call study.stop() when exhausted; outside optimize()
        # that raises (OptunaSearch logs it as a warning), after the trial is stored.
        with contextlib.suppress(RuntimeError):
            study.tell(trial, 0.5)
    return out


# scyc computes its peak; ft and lrw take theirs from the original recipe (docs/science.md §2).
NOT_SEARCHED = {"scyc", "ft", "lrw"}


def test_max_lr_is_suggested_only_for_schedules_with_a_free_peak():
    """No max_lr for scyc (computed) or ft (the recipe's last LR); clr gets a log-uniform one."""
    spec = _spec()
    seen = set()
    for params, _ in _ask_many(spec, 30):
        seen.add(params["schedule"])
        assert ("max_lr" in params) == (params["schedule"] not in NOT_SEARCHED), params
        if "max_lr" in params:
            assert 0.01 <= params["max_lr"] <= 0.3
        assert 0.3 <= params["ratio"] <= 0.9
    assert seen == {"ft", "scyc", "clr"}


def test_max_lr_distribution_is_log_uniform():
    """max_lr comes from a log-scaled FloatDistribution, ratio from a linear one."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = define_space(_spec(retrain={"schedules": ["clr"]}))
    trial = study.ask()
    space(trial)
    dists = trial.distributions
    assert dists["max_lr"] == optuna.distributions.FloatDistribution(0.01, 0.3, log=True)
    assert dists["ratio"] == optuna.distributions.FloatDistribution(0.3, 0.9)


def test_pinned_peak_is_not_searched():
    """A peak fixed in retrain.schedule_params (ft.lr) takes ft out of the max_lr search."""
    spec = _spec(retrain={"schedule_params": {"ft": {"lr": 0.001}}})
    for params, _ in _ask_many(spec, 20):
        assert ("max_lr" in params) == (params["schedule"] == "clr"), params


def test_single_values_are_constants_not_suggestions():
    """One method, epochs and seed: returned as constants; lists of several are categorical."""
    spec = _spec(
        retrain={"schedules": ["clr"], "max_lr": [0.05]},
        pruning={"ratio": [0.5, 0.7]},
        search={"seeds": [3]},
    )
    for params, constants in _ask_many(spec, 5):
        assert set(params) == {"ratio"}
        assert constants == {"schedule": "clr", "max_lr": 0.05, "method": "l1", "epochs": 10,
                             "start": "pruned", "seed": 3}  # fmt: skip
        assert params["ratio"] in (0.5, 0.7)


def test_configs_replace_ratio():
    """With paper configs the space samples `config`, never `ratio`."""
    spec = _spec(
        model={"name": "resnet56"},
        pruning={"ratio": None, "configs": ["A", "B"], "methods": ["l1", "random"]},
    )
    for params, _ in _ask_many(spec, 6):
        assert params["config"] in ("A", "B") and params["method"] in ("l1", "random")
        assert "ratio" not in params


def test_no_max_lr_when_not_given():
    """Without retrain.max_lr every schedule keeps its own default peak: nothing suggested."""
    spec = _spec(retrain={"max_lr": None})
    assert all("max_lr" not in p and "max_lr" not in c for p, c in _ask_many(spec, 8))


def test_space_is_picklable():
    """OptunaSearch.save() pickles the searcher, so the space must pickle."""
    space = define_space(_spec())
    again = pickle.loads(pickle.dumps(space))
    assert again.spec == space.spec


def _grid_spec(schedules: list[str], **search) -> StudySpec:
    return _spec(
        pruning={"ratio": [0.5, 0.8]},
        retrain={"schedules": schedules, "max_lr": [0.01, 0.1, 0.3]},
        search={"sampler": "grid", "trials": 0, "seeds": [0, 1], **search},
    )


def test_grid_and_size_without_conditions():
    """All schedules take max_lr: the grid is the product, walked by GridSampler."""
    spec = _grid_spec(["slr", "clr"])
    assert grid(spec) == {
        "schedule": ["slr", "clr"],
        "max_lr": [0.01, 0.1, 0.3],
        "ratio": [0.5, 0.8],
        "seed": [0, 1],
    }
    assert grid_size(spec) == 2 * 3 * 2 * 2
    assert not is_conditional(spec)
    assert isinstance(make_sampler(spec), optuna.samplers.GridSampler)


def test_conditional_grid_counts_schedules_without_max_lr_once():
    """clr × 3 max LRs + ft once + scyc once, × 2 ratios × 2 seeds = 20 distinct trials."""
    spec = _grid_spec(["ft", "scyc", "clr"])
    assert grid_size(spec) == (1 + 1 + 3) * 2 * 2
    assert is_conditional(spec)
    assert isinstance(make_sampler(spec), optuna.samplers.BruteForceSampler)


@pytest.mark.parametrize("schedules", [["slr", "clr"], ["ft", "scyc", "clr"]])
def test_grid_walk_visits_every_point_once(schedules):
    """grid_size trials of the grid sampler are exactly the distinct points, no repeats."""
    spec = _grid_spec(schedules)
    points = [tuple(sorted({**p, **c}.items())) for p, c in _ask_many(spec, grid_size(spec))]
    assert len(set(points)) == len(points) == grid_size(spec)
    scyc = [p for p in points if ("schedule", "scyc") in p]
    assert all(not any(k == "max_lr" for k, _ in p) for p in scyc)


def test_single_point_grid():
    """A grid with every dimension single-valued has one point."""
    spec = _spec(
        pruning={"ratio": [0.5]},
        retrain={"schedules": ["clr"], "max_lr": [0.1]},
        search={"sampler": "grid", "trials": 0},
    )
    assert grid(spec) == {} and grid_size(spec) == 1


def test_samplers():
    """tpe → TPESampler (multivariate, grouped, constant liar); random → RandomSampler."""
    tpe = make_sampler(_spec(search={"sampler": "tpe", "trials": 12}))
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert tpe._multivariate and tpe._group and tpe._constant_liar
    assert isinstance(make_sampler(_spec()), optuna.samplers.RandomSampler)


def test_tpe_runs_the_conditional_space():
    """TPE past its start-up trials still respects the conditional max_lr."""
    spec = _spec(search={"sampler": "tpe", "trials": 12})
    for params, _ in _ask_many(spec, 12):
        assert ("max_lr" in params) == (params["schedule"] not in NOT_SEARCHED)


def test_objective_metrics():
    """val_acc is maximised; [val_acc, macs] is (max, min)."""
    assert objective_metrics(_spec()) == ("val_acc", "max")
    multi = _spec(search={"objective": ["val_acc", "macs"]})
    assert objective_metrics(multi) == (["val_acc", "macs"], ["max", "min"])


def test_cells_cover_every_cell_and_tune_only_the_max_lr() -> None:
    """sampler = "cells": the quickstart's 4 schedules × 2 ratios all run; ft/lrw once per cell
    (nothing to tune), slr/clr trials_per_cell times with TPE sampling max_lr in range; no
    finished config twice; coverage comes first in the queue."""
    from studies.spec import load_spec
    from studies.spec.derived import search_cells, search_trials

    spec = load_spec("quickstart")
    cells = search_cells(spec)
    assert search_trials(spec) == len(cells) == 12
    assert {(c["schedule"], c["ratio"]) for c in cells[:8]} == {
        (s, r) for s in ("ft", "lrw", "slr", "clr") for r in (0.5, 0.8)
    }
    study = optuna.create_study(sampler=make_sampler(spec), direction="maximize")
    for cell in cells:
        study.enqueue_trial(cell)
    space, seen = define_space(spec), []
    for i in range(len(cells)):
        trial = study.ask()
        constants = space(trial) or {}
        config = {**trial.params, **constants}
        seen.append(config)
        study.tell(trial, 0.5 + 0.01 * i)
    per_cell: dict[tuple, list] = {}
    for config in seen:
        per_cell.setdefault((config["schedule"], config["ratio"]), []).append(config.get("max_lr"))
    assert len(per_cell) == 8
    for (schedule, _), lrs in per_cell.items():
        if schedule in ("ft", "lrw"):
            assert lrs == [None]
        else:
            assert len(lrs) == 2 and len(set(lrs)) == 2 and all(0.005 <= v <= 0.5 for v in lrs)


def test_cells_need_a_list_of_ratios_and_no_trial_count() -> None:
    """cells refuses a ratio range (cells must be enumerable) and a trial count it derives."""
    with pytest.raises(SpecError, match=r"pruning.ratio: sampler = 'cells' runs every ratio"):
        _spec(search={"sampler": "cells", "trials": 0})
    with pytest.raises(SpecError, match=r"search.trials: .*follows from the cells"):
        _spec(
            search={"sampler": "cells", "trials": 5}, pruning={"methods": ["l1"], "ratio": [0.5]}
        )

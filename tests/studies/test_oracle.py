"""The oracle's grid and its winner selection, on a toy objective where the best max LR per
round is known (no Ray): selection is on validation accuracy and the winners chain rounds."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest

from studies.results.runs import select_oracle_winners as select_winners
from studies.spec import validate
from studies.spec.derived import grid_points, oracle_grid, oracle_values

BASE = {
    "name": "toy-oracle",
    "kind": "oracle",
    "model": {"name": "smallcnn"},
    "dataset": {"name": "digits"},
    "pretrain": {"epochs": 4},
    "pruning": {"methods": ["magnitude"], "ratio": [0.5], "schedule": "iterative", "rounds": 3},
    "retrain": {"schedules": ["clr"], "epochs": [2]},
    "search": {"sampler": "random", "trials": 1, "seeds": [0, 1]},
}

# The max LR that maximises validation accuracy in round k (1-indexed) of the toy objective.
BEST = {1: 0.01, 2: 0.05, 3: 0.2}


def _toy_round(k: int, grid: list[float], seeds: list[int], start: str) -> pd.DataFrame:
    """One round's finished oracle runs: val acc peaks at BEST[k]; test acc is val + noise that
    would pick a *different* max LR if selection used it (it must not)."""
    rows = []
    for seed in seeds:
        for i, lr in enumerate(grid):
            val = 0.9 - 0.1 * (math.log10(lr) - math.log10(BEST[k])) ** 2
            test = val + (0.2 if i == 0 else 0.0)  # the smallest LR "wins" on test
            rows.append(
                {
                    "run_id": f"r{k}-{seed}-{i}",
                    "status": "FINISHED",
                    "tags.role": "oracle",
                    "tags.round": str(k),
                    "tags.method": "magnitude",
                    "tags.config": "",
                    "tags.ratio": "0.5",
                    "tags.seed": str(seed),
                    "params.trial.epochs": "2",
                    "params.trial.max_lr": str(lr),
                    "metrics.final/val_acc": val,
                    "metrics.final/test_acc": test,
                    "tags.final_checkpoint": f"/ckpt/{k}/{seed}/{lr}.pt",
                    "tags.started_from": start,
                }
            )
    return pd.DataFrame(rows)


def test_default_grid_is_eight_log_spaced_values():
    """oracle_values(): 8 values, log-spaced from 0.005 to 0.5 (docs/science.md §4)."""
    spec = validate(BASE)
    values = oracle_values(spec.oracle)
    assert len(values) == 8 and values[0] == 0.005 and values[-1] == 0.5
    ratios = [b / a for a, b in itertools.pairwise(values)]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-4)


def test_grid_dimensions_and_size():
    """Single-valued group dimensions are constants; several seeds are a grid dimension."""
    spec = validate(BASE)
    grid = oracle_grid(spec)
    assert set(grid) == {"max_lr", "seed"} and grid["seed"] == [0, 1]
    assert grid_points(grid) == 16


def test_greedy_oracle_finds_the_known_max_lr_each_round():
    """Round by round, the winner is the known best max LR, chosen on validation (not test),
    and round k+1 starts from round k's winner of the same seed."""
    spec = validate({**BASE, "oracle": {"grid": [0.005, 0.01, 0.05, 0.2, 0.5]}})
    grid = oracle_values(spec.oracle)
    start = {0: "dense", 1: "dense"}
    for k in (1, 2, 3):
        runs = _toy_round(k, grid, [0, 1], start="")
        winners = select_winners(runs)
        assert len(winners) == 2  # one per seed
        assert set(winners["max_lr"]) == {BEST[k]}
        for _, w in winners.iterrows():
            seed = int(w["seed"])
            assert w["group"] == f"magnitude|0.5|2|{seed}"
            start[seed] = w["final_checkpoint"]
        assert start[0] == f"/ckpt/{k}/0/{BEST[k]}.pt"


def test_ties_go_to_the_smaller_max_lr():
    """Equal validation accuracy: the smaller max LR wins, so the choice is reproducible."""
    runs = _toy_round(1, [0.01, 0.02], [0], start="")
    runs["metrics.final/val_acc"] = 0.8
    assert select_winners(runs)["max_lr"].tolist() == [0.01]

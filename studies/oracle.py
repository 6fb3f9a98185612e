"""The S-Cyc oracle (SCIENCE.md §4): the best max LR by grid search, per round for iterative
pruning.

One-shot pruning: one phase, a grid over max LR × (method, ratio|config, budget, seed).
Iterative pruning: greedy, one phase per round: every grid value retrains round k from the
round-(k−1) winner of its (method, ratio, budget, seed) group; the winner by *validation*
accuracy seeds round k+1. Grids run through Optuna's GridSampler, so they live in the study's
Optuna storage (one Optuna study per round) and its MLflow experiment, tagged role=oracle;
each round's winners are tagged oracle_winner=true and the parent run records the chosen max LR
per round (metric oracle_max_lr.<group>, step = round).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from studies.phases import Phase, pruning_targets, resource_wrapped, run_config, study_context
from studies.records import StudyRecord


def oracle_grid(spec: Any) -> dict[str, list[Any]]:
    """The Optuna grid of one round: max LR × every group dimension with several values."""
    grid: dict[str, list[Any]] = {"max_lr": spec.oracle.values()}
    targets = pruning_targets(spec)
    methods = sorted({t["method"] for t in targets})
    if len(methods) > 1:
        grid["method"] = methods
    key = "config" if spec.pruning.configs else "ratio"
    values = sorted({t[key] for t in targets})
    if len(values) > 1:
        grid[key] = values
    for name, values in (("epochs", spec.retrain.epochs), ("seed", spec.search.seeds)):
        if len(values) > 1:
            grid[name] = list(values)
    return grid


def grid_size(grid: dict[str, list[Any]]) -> int:
    return math.prod(len(v) for v in grid.values())


def constants(spec: Any) -> dict[str, Any]:
    """Group dimensions with a single value: fixed in every oracle trial's config."""
    target = pruning_targets(spec)[0]
    out: dict[str, Any] = {"schedule": spec.oracle.schedule}
    grid = oracle_grid(spec)
    for key in ("method", "ratio", "config"):
        if key in target and key not in grid:
            out[key] = target[key]
    if "epochs" not in grid:
        out["epochs"] = spec.retrain.epochs[0]
    if "seed" not in grid:
        out["seed"] = spec.search.seeds[0]
    return out


def rounds(spec: Any) -> int:
    return spec.pruning.rounds if spec.pruning.schedule == "iterative" else 1


def oracle_phases(spec: Any, record: StudyRecord) -> list[Phase]:
    return [_round_phase(spec, record, k) for k in range(1, rounds(spec) + 1)]


def _round_phase(spec: Any, record: StudyRecord, k: int) -> Phase:
    from trainables.trial import prune_retrain

    trainable = resource_wrapped(spec, prune_retrain)
    grid = oracle_grid(spec)
    study_name = f"{spec.name}.round{k}"

    def build() -> Any:
        import optuna
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch

        from studies.searchers import optuna_storage

        starts = winners_checkpoints(record, k - 1) if k > 1 else {}
        searcher = OptunaSearch(
            space={
                name: optuna.distributions.CategoricalDistribution(v) for name, v in grid.items()
            },
            metric="val_acc",
            mode="max",
            sampler=optuna.samplers.GridSampler(grid, seed=0),
            study_name=study_name,
            storage=optuna_storage(spec.storage.optuna),
        )
        return tune.Tuner(
            trainable(),
            param_space={
                "spec": record.spec,
                "study": study_context(record),
                "role": "oracle",
                "oracle_round": k,
                "oracle_starts": starts,
                **constants(spec),
            },
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=grid_size(grid),  # more samples than points would repeat points
                max_concurrent_trials=spec.search.concurrency,
                reuse_actors=True,
            ),
            run_config=run_config(spec, f"{spec.name}-oracle-r{k}"),
        )

    return Phase(
        f"oracle-r{k}",
        f"{spec.name}-oracle-r{k}",
        trainable,
        build,
        grid_size(grid),
        study_name,
        after=lambda: tag_winners(record, k),
    )


# --- winners ---------------------------------------------------------------------------------


def round_runs(record: StudyRecord, k: int) -> pd.DataFrame:
    from trainables.tracking import runs_dataframe

    frame = runs_dataframe(record.tracking_uri, record.experiment_id, record.parent_run_id)
    if frame.empty or "tags.role" not in frame:
        return frame.iloc[0:0]
    keep = (frame["tags.role"] == "oracle") & (frame.get("tags.round") == str(k))
    keep &= frame["status"] == "FINISHED"
    return frame[keep].reset_index(drop=True)


def select_winners(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (method, ratio|config, budget, seed): the run with the best final *validation*
    accuracy (ties → the smaller max LR, then the run id, so the choice is reproducible)."""
    if runs.empty:
        return runs
    from trainables.config import group_key

    runs = runs.copy()
    runs["group"] = [
        group_key(
            r["tags.method"],
            r.get("tags.config") or float(r["tags.ratio"]),
            int(r["params.trial.epochs"]),
            int(r["tags.seed"]),
        )
        for _, r in runs.iterrows()
    ]
    runs["max_lr"] = pd.to_numeric(runs["params.trial.max_lr"])
    runs["val"] = pd.to_numeric(runs["metrics.final_val_acc"]).fillna(-1.0)
    ordered = runs.sort_values(
        ["group", "val", "max_lr", "run_id"], ascending=[True, False, True, True]
    )
    return ordered.groupby("group", sort=True).head(1).reset_index(drop=True)


def tag_winners(record: StudyRecord, k: int) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(record.tracking_uri)
    winners = select_winners(round_runs(record, k))
    for _, w in winners.iterrows():
        client.set_tag(w["run_id"], "oracle_winner", "true")
        client.log_metric(
            record.parent_run_id, f"oracle_max_lr.{_metric_safe(w['group'])}", w["max_lr"], step=k
        )


def winners_checkpoints(record: StudyRecord, k: int) -> dict[str, str]:
    """group → the final checkpoint of round k's winner (the start of round k+1)."""
    winners = select_winners(round_runs(record, k))
    return {w["group"]: w["tags.final_checkpoint"] for _, w in winners.iterrows()}


def _metric_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-/ " else "_" for c in text)

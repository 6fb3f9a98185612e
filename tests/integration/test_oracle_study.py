"""The greedy iterative oracle through real Ray + MLflow + Optuna: per round a grid of max LRs,
each retraining from the previous round's winner; winners tagged; chosen max LR recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.study_helpers import prunetune

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STUDY = """
name = "oracle-tiny"
kind = "oracle"
[model]
name = "smallcnn"
[dataset]
name = "digits"
[pretrain]
epochs = 3
lr = 0.05
[pruning]
methods = ["magnitude"]
ratio = [0.5]
schedule = "iterative"
rounds = 2
[retrain]
schedules = ["clr"]
epochs = [1]
[search]
sampler = "random"
trials = 1
concurrency = 2
[oracle]
grid = [0.003, 0.03, 0.3]
"""


def test_greedy_oracle_two_rounds(tmp_path: Path) -> None:
    """2 rounds × 3 max LRs: 6 oracle runs, one winner per round, round 2 from round 1's winner."""
    import optuna
    from mlflow.tracking import MlflowClient

    from pruning.checkpoint import load_checkpoint
    from studies.session.records import load_record

    study = tmp_path / "oracle.toml"
    study.write_text(STUDY)
    workdir = tmp_path / "runs"
    res = prunetune("run", str(study), "--workdir", str(workdir), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]

    record = load_record(str(workdir), "oracle-tiny")
    assert record.phases_done == ["oracle-r1", "oracle-r2"]
    client = MlflowClient(record.tracking_uri)
    runs = [
        r
        for r in client.search_runs([record.experiment_id])
        if r.data.tags.get("role") == "oracle"
    ]
    assert len(runs) == 6
    by_round = {k: [r for r in runs if r.data.tags["round"] == str(k)] for k in (1, 2)}
    assert all(len(v) == 3 for v in by_round.values())
    for k, round_runs in by_round.items():
        winners = [r for r in round_runs if r.data.tags.get("oracle_winner") == "true"]
        assert len(winners) == 1
        best_val = max(r.data.metrics["final/val_acc"] for r in round_runs)
        assert winners[0].data.metrics["final/val_acc"] == best_val
        for r in round_runs:
            steps = [m.step for m in client.get_metric_history(r.info.run_id, "round/max_lr")]
            assert steps == [k]
    # Conv weights only are pruned (include_fc off): with conv share c of the counted weights,
    # sparsity is c·(1 − 0.5^k), so round 2 holds 1.5× round 1's sparsity.
    s1 = {r.data.metrics["final/sparsity"] for r in by_round[1]}
    s2 = {r.data.metrics["final/sparsity"] for r in by_round[2]}
    assert len(s1) == len(s2) == 1
    assert abs(s2.pop() - 1.5 * s1.pop()) < 0.005
    chosen = client.get_run(record.parent_run_id).data.metrics
    assert any(key.startswith("oracle/max_lr.") for key in chosen)
    history = client.get_metric_history(
        record.parent_run_id, next(k for k in chosen if k.startswith("oracle/max_lr."))
    )
    assert sorted(m.step for m in history) == [1, 2]
    winner1 = next(r for r in by_round[1] if r.data.tags.get("oracle_winner") == "true")
    start = load_checkpoint(winner1.data.tags["final_checkpoint"])
    assert start.masks is not None
    for k in (1, 2):
        ostudy = optuna.load_study(
            study_name=f"oracle-tiny.round{k}", storage=record.optuna_storage
        )
        assert len(ostudy.trials) == 3
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in ostudy.trials)

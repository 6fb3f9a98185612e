"""Where retraining starts (retrain.start), on a real dense run (digits, small CNN, MLflow in
SQLite): rewinding restores exactly the dense run's epoch-k weights under the pruning (masks or
kept filters) and, with lrw, the LR of epoch k; `init` is epoch 0; `reinit` draws fresh weights
that keep the masks; weight_change ranks by the dense run's last two epochs. Then an iterative
study through Ray re-initialises every round and resets its per-round bests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = [pytest.mark.integration]


class Log:
    """What RoundRun logs to (the RunLog protocol), kept in memory."""

    def __init__(self) -> None:
        self.epochs: list[tuple[int, dict[str, float]]] = []

    def log_epoch(self, step: int, metrics: dict[str, float]) -> None:
        self.epochs.append((step, dict(metrics)))

    def log_dict(self, obj: Any, file_name: str) -> None:
        pass

    def pending_rows(self) -> list[list[Any]]:
        return []


SPEC = {
    "name": "starts",
    "model": {"name": "smallcnn"},
    "dataset": {"name": "digits"},
    "pretrain": {"epochs": 3, "lr": 0.05},
    "pruning": {"methods": ["magnitude", "l1", "weight_change"], "ratio": [0.5]},
    # No lrw in the study's arms: lrw from init at E = 2 of T = 3 would compress the dense
    # schedule's three stages into two epochs, which is refused (docs/science.md §2). The tests
    # below build lrw trials by hand where E = T − K holds.
    "retrain": {
        "schedules": ["clr"],
        "epochs": [2],
        "start": ["pruned", "rewind:1", "init", "reinit"],
    },
    "search": {"sampler": "random", "trials": 1},
}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from studies.plan.phase import study_context
    from studies.session.records import StudyRecord
    from studies.spec import resolve, spec_hash, validate
    from studies.spec.contract import trial_plan
    from trainables.study_run import open_study_run

    workdir = tmp_path_factory.mktemp("starts")
    spec = resolve(validate(SPEC), workdir=str(workdir))
    run = open_study_run(spec.tracking.uri, "starts", "starts", spec_hash(spec), str(workdir))
    record = StudyRecord(
        name="starts",
        spec=spec.model_dump(mode="json"),
        spec_hash=spec_hash(spec),
        workdir=str(workdir),
        tracking_uri=spec.tracking.uri,
        experiment_id=run.experiment_id,
        parent_run_id=run.run_id,
        optuna_storage=spec.storage.optuna,
        ray_storage=spec.storage.ray,
    )
    return {"plan": trial_plan(spec), "study": study_context(record)}


def _round(study: dict[str, Any], method: str, start: str, schedule: str = "lrw"):
    """Prune round 1 of a trial with `method` and restart it from `start` (no Ray needed)."""
    from trainables.config import TrialConfig
    from trainables.data_cache import load_bundle
    from trainables.dense_cache import dense_at, get_dense
    from trainables.round_run import RoundRun
    from trainables.state import TrialState

    config = {**study, "role": "search", "schedule": schedule, "method": method}
    tc = TrialConfig.from_tune({**config, "ratio": 0.5, "epochs": 2, "seed": 0, "start": start})
    bundle = load_bundle(tc.dataset)
    dense, _ = get_dense(tc, bundle, "cpu")
    rr = RoundRun(tc, bundle, "cpu", Log(), TrialState())
    pruned, masks = rr.prune(dense, None)
    restarted = rr.restart(pruned, masks)
    return tc, bundle, rr, restarted, masks, dense_at


def test_rewind_restores_the_dense_epoch_under_the_masks(study: dict[str, Any]) -> None:
    """magnitude + rewind:1: every weight equals the dense run's epoch-1 weight times its mask;
    BN statistics are epoch 1's too; pruned weights stay exactly zero."""
    tc, _, _, model, masks, dense_at = _round(study, "magnitude", "rewind:1")
    epoch1 = dense_at(tc, 1).state_dict()
    assert masks
    for key, value in model.state_dict().items():
        expected = epoch1[key] * masks[key].to(epoch1[key].dtype) if key in masks else epoch1[key]
        assert torch.equal(value.cpu(), expected), key
    assert all((model.state_dict()[k].cpu()[~m.cpu()] == 0).all() for k, m in masks.items())


def test_rewind_cuts_the_dense_epoch_like_the_structured_pruning(study: dict[str, Any]) -> None:
    """l1 + rewind:1: the first conv keeps exactly the filters the pruning kept, with their
    epoch-1 values, and the rewound model has the pruned widths."""
    tc, _, rr, model, masks, dense_at = _round(study, "l1", "rewind:1")
    assert masks is None
    epoch1 = dense_at(tc, 1).state_dict()
    kept = rr.state.reports[0]["kept"]
    name, indices = next(iter(kept.items()))
    weight = model.state_dict()[f"{name}.weight"].cpu()
    assert weight.shape[0] == len(indices) < epoch1[f"{name}.weight"].shape[0]
    assert torch.equal(weight, epoch1[f"{name}.weight"][indices])


def test_init_is_epoch_zero_and_reinit_is_fresh(study: dict[str, Any]) -> None:
    """init = the dense run's initialisation under the masks; reinit = neither the trained nor
    the initial weights, deterministic, masks kept."""
    tc, _, _, init_model, masks, dense_at = _round(study, "magnitude", "init")
    epoch0 = dense_at(tc, 0).state_dict()
    key = next(iter(masks))
    assert torch.equal(init_model.state_dict()[key].cpu(), epoch0[key] * masks[key])
    _, _, _, fresh, masks2, _ = _round(study, "magnitude", "reinit")
    _, _, _, again, _, _ = _round(study, "magnitude", "reinit")
    value = fresh.state_dict()[key].cpu()
    assert not torch.equal(value, epoch0[key] * masks2[key])
    assert torch.equal(value, again.state_dict()[key].cpu())
    assert (value[~masks2[key].cpu()] == 0).all()


def test_weight_rewinding_rewinds_the_lr_too(study: dict[str, Any]) -> None:
    """lrw from rewind:1 replays the pretraining LR from epoch 1 (Renda's WR); from `pruned` it
    replays the last 2 epochs (LRW)."""
    from trainables.dense_cache import pretrain_schedule

    tc, bundle, _, _, _, _ = _round(study, "magnitude", "rewind:1")
    original = pretrain_schedule(tc, 1)
    wr = tc.schedule_for_round(bundle, 1)
    assert [wr.lr_at_epoch(e) for e in range(2)] == [original.lr_at_epoch(e) for e in (1, 2)]
    tc_lrw, bundle, _, _, _, _ = _round(study, "magnitude", "pruned")
    lrw = tc_lrw.schedule_for_round(bundle, 1)
    assert [lrw.lr_at_epoch(e) for e in range(2)] == [original.lr_at_epoch(e) for e in (1, 2)]
    assert wr.params()["start_epoch"] == 1 and lrw.params()["start_epoch"] is None


def test_weight_change_ranks_by_the_dense_runs_last_two_epochs(study: dict[str, Any]) -> None:
    """weight_change in round 1 prunes the weights that moved least between dense epochs 2→3."""
    tc, _, _, _, masks, dense_at = _round(study, "weight_change", "pruned")
    last, before = dense_at(tc, 3).state_dict(), dense_at(tc, 2).state_dict()
    key = next(iter(masks))
    moved = (last[key] - before[key]).abs()
    kept, removed = moved[masks[key].cpu()], moved[~masks[key].cpu()]
    assert removed.numel() and kept.numel() and removed.max() <= kept.min() + 1e-12


ITERATIVE = """
name = "reinit-rounds"
[model]
name = "smallcnn"
[dataset]
name = "digits"
[pretrain]
epochs = 2
lr = 0.05
[pruning]
methods = ["magnitude"]
ratio = [0.4]
schedule = "iterative"
rounds = 2
[retrain]
schedules = ["clr"]
epochs = [2]
max_lr = [0.05]
start = ["reinit"]
reinit_scheme = "xavier"
[search]
sampler = "grid"
trials = 0
"""


def test_iterative_study_reinitialises_every_round(ray_local: str, tmp_path: Path) -> None:
    """Through Ray: a 2-round reinit study finishes; best_val_acc restarts each round (its last
    value is the best validation accuracy of round 2's epochs, not of round 1's)."""
    from mlflow.tracking import MlflowClient

    import studies

    path = tmp_path / "study.toml"
    path.write_text(ITERATIVE)
    frame = studies.run(str(path), workdir=str(tmp_path / "runs"))
    assert len(frame) == 1
    run_id = frame["run_id"].iloc[0]
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    val = {m.step: m.value for m in client.get_metric_history(run_id, "acc/val")}
    best = {m.step: m.value for m in client.get_metric_history(run_id, "acc/best_val")}
    assert sorted(val) == [0, 1, 2, 3]  # 2 rounds × 2 epochs
    assert best[2] == val[2] and best[3] == max(val[2], val[3])
    assert frame["tags.start"].iloc[0] == "reinit"

"""An iterative PFEC study (the paper config `resnet56-I`, pruned a little more each round)
runs through Ray and MLflow: each round removes filters of the structured config again, so
MACs and params fall round after round, and the round metrics are logged once per round."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STUDY = """
name = "pfec-iterative"
[model]
name = "resnet56"
widths = [4, 8, 16]      # a narrow 1-D ResNet-56: the config's layer ids, little compute
[dataset]
name = "mnist1d"
[pretrain]
epochs = 2  # one epoch would drop the LR at epoch round(0.5) = 0: refused
lr = 0.05
[pruning]
methods = ["l1"]
configs = ["resnet56-I"]
schedule = "iterative"
rounds = 2
[retrain]
schedules = ["clr"]
epochs = [1]
max_lr = [0.05]
[search]
sampler = "grid"
trials = 0
"""


def test_iterative_pfec_study_prunes_every_round(ray_local: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    import studies

    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    frame = studies.run(str(path), workdir=str(tmp_path / "runs"))
    assert len(frame) == 1 and frame["status"].iloc[0] == "FINISHED"
    assert frame["tags.config"].iloc[0] == "resnet56-I"
    run_id = frame["run_id"].iloc[0]
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")

    def per_round(key: str) -> dict[int, float]:
        return {m.step: m.value for m in client.get_metric_history(run_id, key)}

    macs, params = per_round("round/macs"), per_round("round/params")
    assert sorted(macs) == sorted(params) == [1, 2], (macs, params)
    assert macs[2] < macs[1] and params[2] < params[1]
    assert sorted(per_round("round/val_acc")) == [1, 2]

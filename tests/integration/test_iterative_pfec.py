"""An iterative PFEC study (the paper config `resnet56-I`, pruned a little more each round)
runs through Ray and MLflow: each round removes filters of the structured config again, so
MACs and params fall round after round, and the round metrics are logged once per round. S-Cyc
beside it takes its peak from the sparsity the rounds reached (a config has no per-round
ratio): round 2's peak is above round 1's offset."""

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
schedules = ["clr", "scyc"]
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
    assert len(frame) == 2 and set(frame["status"]) == {"FINISHED"}
    assert set(frame["tags.config"]) == {"resnet56-I"}
    by_schedule = dict(zip(frame["tags.schedule"], frame["run_id"], strict=True))
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")

    def per_round(key: str, schedule: str = "clr") -> dict[int, float]:
        history = client.get_metric_history(by_schedule[schedule], key)
        return {m.step: m.value for m in history}

    scyc_peaks = per_round("round/max_lr", "scyc")
    assert scyc_peaks[1] == pytest.approx(0.03) and scyc_peaks[2] > scyc_peaks[1]

    macs, params = per_round("round/macs"), per_round("round/params")
    assert sorted(macs) == sorted(params) == [1, 2], (macs, params)
    assert macs[2] < macs[1] and params[2] < params[1]
    assert sorted(per_round("round/val_acc")) == [1, 2]

"""Scratch-E / Scratch-B baselines: the fine-tuned trials' architecture with fresh random weights,
trained with the pretraining recipe (Scratch-B for the dense model's compute), logged to MLflow
like a search trial, and resumable. Called directly: outside a Tune session Ray's
``tune.get_checkpoint()`` is None and ``tune.report`` only warns."""

from __future__ import annotations

import math
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.integration.study_helpers import TINY_STUDY

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:`.*` is meant to only be called inside a function"),
]

PRETRAIN_EPOCHS = 3  # TINY_STUDY's pretrain.epochs
METRICS = ("loss/train", "acc/train", "acc/val", "acc/test", "lr/epoch")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny digits/smallcnn study with its MLflow parent run (sqlite, no server)."""
    from studies.spec import load_spec, resolve, spec_hash
    from studies.spec.contract import trial_plan
    from trainables.config import StudyContext
    from trainables.study_run import open_study_run

    tmp = tmp_path_factory.mktemp("scratch")
    values = {
        "name": "scratch",
        "methods": '["l1"]',
        "ratio": "[0.5]",
        "schedules": '["ft", "clr"]',
    }
    values |= {"epochs": 1, "sampler": "random", "trials": 1}
    path = tmp / "scratch.toml"
    path.write_text(textwrap.dedent(TINY_STUDY.format(**values)))
    spec = resolve(load_spec(str(path)), workdir=str(tmp / "runs"))
    workdir = Path(spec.storage.workdir)
    digest = spec_hash(spec)
    parent = open_study_run(
        spec.tracking.uri, spec.name, spec.name, digest, str(workdir / "mlartifacts")
    )
    context = StudyContext(
        name=spec.name,
        workdir=str(workdir),
        tracking_uri=spec.tracking.uri,
        experiment_id=parent.experiment_id,
        parent_run_id=parent.run_id,
        spec_hash=digest,
    )
    base = {"plan": trial_plan(spec), "study": context, "method": "l1", "seed": 0}
    return {"base": {**base, "ratio": 0.5}, "tmp": tmp, "uri": spec.tracking.uri}


@pytest.fixture(scope="module")
def runs(study: dict[str, Any]) -> dict[str, Any]:
    """One fine-tuned trial, Scratch-B, Scratch-E, and a Scratch-E that crashes and resumes."""
    from mlflow.tracking import MlflowClient

    from trainables import resources
    from trainables.scratch import scratch_train
    from trainables.trial import prune_retrain

    base, client = study["base"], MlflowClient(study["uri"])
    baseline = {**base, "role": "baseline", "schedule": "step", "epochs": PRETRAIN_EPOCHS}
    with pytest.MonkeyPatch.context() as mp:
        # Outside Tune, Ray's get_trial_resources() returns None (with a warning) rather than
        # raising, which trainables.resources does not expect yet.
        mp.setattr(resources, "trial_resources", lambda: {"CPU": 1.0, "GPU": 0.0})
        prune_retrain({**base, "role": "search", "schedule": "ft", "epochs": 1})
        scratch_train({**baseline, "baseline": "scratch-b"})
        scratch_train({**baseline, "baseline": "scratch-e"})
        scratch_train({**baseline, "baseline": "scratch-b", "method": "magnitude"})
        _crash_and_resume(baseline, study["tmp"])
    found = client.search_runs(
        [base["study"].experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{base['study'].parent_run_id}'",
    )
    by_role: dict[str, list] = {}
    for run in sorted(found, key=lambda r: r.info.start_time):
        key = run.data.tags.get("baseline") or run.data.tags["role"]
        key += "/magnitude" if run.data.tags.get("method") == "magnitude" else ""
        by_role.setdefault(key, []).append(run)
    return {"client": client, "runs": by_role, "tmp": study["tmp"]}


def _crash_and_resume(baseline: dict[str, Any], tmp: Path) -> None:
    """Crash after epoch 2's checkpoint, then restart from it as Tune would on a retry."""
    from ray import tune

    from trainables.scratch import scratch_train

    saved = tmp / "last-checkpoint"

    def report(metrics: dict[str, Any], *, checkpoint: Any = None) -> None:
        if checkpoint is not None:
            shutil.rmtree(saved, ignore_errors=True)
            shutil.copytree(checkpoint.path, saved)

    config = {**baseline, "baseline": "scratch-e", "_fail_once": f"{tmp / 'marker'}:2"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tune, "report", report)
        with pytest.raises(RuntimeError, match="injected failure"):
            scratch_train(config)
        mp.setattr(tune, "get_checkpoint", lambda: tune.Checkpoint.from_directory(str(saved)))
        scratch_train(config)


def _model(client: Any, run: Any, tmp: Path) -> Any:
    from pruning.checkpoint import load_checkpoint

    dst = tmp / run.info.run_id
    dst.mkdir(exist_ok=True)
    return load_checkpoint(
        Path(client.download_artifacts(run.info.run_id, "model", str(dst))) / "pruned_model.pt"
    )


def test_baselines_are_tagged_and_logged_per_epoch(runs: dict[str, Any]) -> None:
    """role=baseline, baseline and schedule tags, summary metrics, one metric row per epoch."""
    client = runs["client"]
    for name in ("scratch-e", "scratch-b"):
        run = runs["runs"][name][0]
        tags, params = run.data.tags, run.data.params
        assert run.info.status == "FINISHED"
        assert (tags["role"], tags["baseline"], tags["schedule"]) == ("baseline", name, "step")
        assert (tags["method"], tags["ratio"], tags["seed"], tags["status"]) == (
            "l1",
            "0.5",
            "0",
            "completed",
        )
        epochs = int(params["trial.epochs"])
        assert params["trial.scratch_epochs"] == str(epochs)
        for key in (
            "final/val_acc",
            "final/test_acc",
            "final/test_acc_at_best_val",
            "final/macs_ratio",
        ):
            assert math.isfinite(run.data.metrics[key]), key
        assert run.data.metrics["final/epochs_reached"] == epochs
        history = client.get_metric_history(run.info.run_id, "acc/val")
        assert sorted(m.step for m in history) == list(range(epochs))
    assert runs["runs"]["scratch-e"][0].data.params["trial.epochs"] == str(PRETRAIN_EPOCHS)


def test_resumed_baseline_equals_uninterrupted(runs: dict[str, Any]) -> None:
    """A Scratch-E restarted from epoch 2's checkpoint ends with the clean run's metrics, in the
    same MLflow run, each epoch once."""
    client = runs["client"]
    clean, resumed = runs["runs"]["scratch-e"]
    assert resumed.info.status == "FINISHED" and resumed.data.tags["status"] == "completed"
    for key in METRICS:
        histories = [
            sorted((m.step, m.value) for m in client.get_metric_history(r.info.run_id, key))
            for r in (clean, resumed)
        ]
        assert [s for s, _ in histories[1]] == list(range(PRETRAIN_EPOCHS)), key
        assert histories[0] == histories[1], key


def test_scratch_b_gets_the_dense_compute(runs: dict[str, Any]) -> None:
    """Scratch-B trains int(E · MACs_dense / MACs_pruned) epochs, LR drops at 50 % and 75 %."""
    import json

    client, run = runs["client"], runs["runs"]["scratch-b"][0]
    path = client.download_artifacts(run.info.run_id, "pruning_report.json", str(runs["tmp"]))
    report = json.loads(Path(path).read_text())["rounds"][0]
    expected = int(PRETRAIN_EPOCHS * report["macs_before"] / report["macs_after"])
    assert expected > PRETRAIN_EPOCHS
    assert run.data.params["trial.epochs"] == str(expected)
    lrs = [
        m.value
        for m in sorted(
            client.get_metric_history(run.info.run_id, "lr/epoch"), key=lambda m: m.step
        )
    ]
    drops = [e for e in range(1, expected) if lrs[e] < lrs[e - 1] * 0.5]
    assert drops == [round(0.5 * expected), round(0.75 * expected)]


def test_architecture_is_the_fine_tuned_one_with_fresh_weights(runs: dict[str, Any]) -> None:
    """Per-layer widths equal the fine-tuned trial's; the weights are not the dense model's."""
    from pruning.models.arch import architecture

    client, tmp = runs["client"], runs["tmp"]
    tuned = _model(client, runs["runs"]["search"][0], tmp).model
    for name in ("scratch-e", "scratch-b"):
        scratch = _model(client, runs["runs"][name][0], tmp).model
        assert architecture(scratch)["widths"] == architecture(tuned)["widths"]
        assert architecture(scratch)["widths"] != {}


def test_random_init_redraws_at_the_pruned_shapes(study: dict[str, Any]) -> None:
    """random_init keeps the pruned shapes, is seeded, is neither the trained nor the dense
    model's initial weights, and draws each tensor at the scale of a model built that narrow."""
    from pruning.methods import PruneContext, PruneTarget, prune
    from pruning.models import build
    from pruning.models.arch import architecture
    from pruning.reinit import random_init

    torch.manual_seed(0)
    dense_init = build("smallcnn", num_classes=10, in_channels=1, image_size=8)
    trained = build("smallcnn", num_classes=10, in_channels=1, image_size=8)
    ctx = PruneContext.for_model(trained, shape=(1, 8, 8))
    pruned, _ = prune(trained, "l1", PruneTarget(ratio=0.5), ctx)
    fresh, again = random_init(pruned, 7), random_init(pruned, 7)
    widths = list(architecture(pruned)["widths"].values())
    torch.manual_seed(1)
    narrow = build("smallcnn", num_classes=10, in_channels=1, image_size=8, widths=widths)
    ref, init0 = narrow.state_dict(), dense_init.state_dict()
    for key, value in fresh.state_dict().items():
        assert value.shape == pruned.state_dict()[key].shape == ref[key].shape, key
        assert torch.equal(value, again.state_dict()[key]), key
        if value.is_floating_point() and value.numel() >= 64 and value.std() > 0:
            assert not torch.allclose(value, pruned.state_dict()[key]), key
            corner = init0[key][tuple(slice(0, n) for n in value.shape)]
            assert not torch.allclose(value, corner), key
            assert 0.7 < float(value.std() / ref[key].std()) < 1.4, key


def test_unstructured_scratch_keeps_the_masks(runs: dict[str, Any]) -> None:
    """Magnitude pruning: Scratch-B keeps the sparse masks and counts nonzero-weight MACs."""
    import json

    from pruning.budget import sparsity

    client, tmp = runs["client"], runs["tmp"]
    run = runs["runs"]["scratch-b/magnitude"][0]
    path = client.download_artifacts(run.info.run_id, "pruning_report.json", str(tmp / "mag"))
    report = json.loads(Path(path).read_text())["rounds"][0]
    assert report["kind"] == "unstructured" and report["macs_after"] < report["macs_before"]
    expected = int(PRETRAIN_EPOCHS * report["macs_before"] / report["macs_after"])
    assert run.data.params["trial.epochs"] == str(expected)
    saved = _model(client, run, tmp)
    assert saved.masks, "the sparse architecture (masks) must travel with the baseline"
    assert sparsity(saved.model, saved.masks) == pytest.approx(report["sparsity_after"])
    assert sparsity(saved.model) == pytest.approx(report["sparsity_after"])  # weights zero too

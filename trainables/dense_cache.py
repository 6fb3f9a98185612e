"""The study's dense-model cache: each (model, data set, seed, pretraining recipe) is trained once.

Trials of one study share ``dense_dir`` (on a cluster: shared storage). The first trial that
needs a dense model takes an exclusive file lock and trains it; concurrent trials block on the
lock and then load the finished file, so the same recipe is never trained twice. The file is
written to a temporary name and renamed, so a crash never leaves a half-written model behind.
The pretraining run is an MLflow run of its own (role ``pretrain``) nested under the study.

Rewinding (retrain.start = init, rewind, rewind:K) and criteria that compare the last two
epochs (weight_change) need the dense run's weights at chosen epochs, not only its end: those
are captured while it trains and kept beside it in ``<key>.snapshots.pt``. A dense model cached
by a study that needed fewer epochs is trained again under the same lock to capture them (the
run is deterministic on CPU; the cached final weights are kept).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.data import DataBundle
from pruning.methods import needs_previous_weights
from pruning.models import build
from pruning.schedules import Schedule, build_schedule
from pruning.snapshots import EpochSnapshots, load_snapshots, save_snapshots
from pruning.train import EpochMetrics, train
from trainables.config import TrialConfig
from trainables.keys import Metric, Outcome, Role, Tag
from trainables.recipe import pretrain_schedule_params, recipe_key, snapshot_epochs
from trainables.runs import TrialRun


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # blocks while another trial trains this recipe
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def dense_path(tc: TrialConfig) -> Path:
    return Path(tc.study.dense_dir) / f"{recipe_key(tc.spec, tc.seed)}.pt"


def snapshots_path(tc: TrialConfig) -> Path:
    return dense_path(tc).with_suffix(".snapshots.pt")


def wanted_epochs(tc: TrialConfig) -> list[int]:
    """The dense-run epochs any trial of this study loads (the same for all its trials, so the
    dense model is trained once)."""
    history = any(needs_previous_weights(m) for m in tc.spec["pruning"]["methods"])
    return snapshot_epochs(tc.spec, needs_previous_weights=history)


def _ready(path: Path, snaps: Path, epochs: list[int]) -> bool:
    if not path.exists():
        return False
    return not epochs or (snaps.exists() and set(epochs) <= set(load_snapshots(snaps).states))


def get_dense(
    tc: TrialConfig, bundle: DataBundle, device: str
) -> tuple[torch.nn.Module, dict[str, float]]:
    """The dense model and its accuracies (`dense_val_acc`, `dense_test_acc`)."""
    path, snaps, epochs = dense_path(tc), snapshots_path(tc), wanted_epochs(tc)
    if not _ready(path, snaps, epochs):
        with _exclusive(path.with_suffix(".lock")):
            if not _ready(path, snaps, epochs):  # another trial may have done it meanwhile
                _pretrain(tc, bundle, device, path, epochs)
    saved = load_checkpoint(path)
    accs = {
        k: float(saved.extra.get(k, float("nan"))) for k in ("dense_val_acc", "dense_test_acc")
    }
    return saved.model, accs


def build_model(tc: TrialConfig, bundle: DataBundle) -> torch.nn.Module:
    widths = tc.model["widths"] or None
    return build(
        tc.model["name"],
        num_classes=bundle.num_classes,
        in_channels=bundle.shape[0],
        image_size=bundle.shape[-1],
        dims=bundle.dims,
        widths=widths,
    )


def pretrain_schedule(tc: TrialConfig, steps_per_epoch: int) -> Schedule:
    """The dense recipe's schedule (also Scratch-E/B's, with their own epochs)."""
    recipe = tc.spec["pretrain"]
    return build_schedule(
        recipe["schedule"],
        epochs=int(recipe["epochs"]),
        steps_per_epoch=steps_per_epoch,
        **pretrain_schedule_params(recipe),
    )


def dense_at(tc: TrialConfig, epoch: int) -> torch.nn.Module:
    """The dense run's model after `epoch` epochs (0 = its initialisation, T = the cached
    dense model itself)."""
    if epoch == tc.pretrain_epochs:
        return load_checkpoint(dense_path(tc)).model
    return load_snapshots(snapshots_path(tc)).model_at(epoch)


def _pretrain(
    tc: TrialConfig, bundle: DataBundle, device: str, path: Path, epochs: list[int]
) -> None:
    torch.manual_seed(tc.seed)
    model = build_model(tc, bundle).to(device)
    snaps = EpochSnapshots(model, epochs)
    snaps.start()
    cfg = tc.pretrain_config(device)
    schedule = pretrain_schedule(tc, bundle.steps_per_epoch(cfg.batch_size))
    started = time.time()
    tags = {
        **tc.tags(),
        Tag.ROLE: Role.PRETRAIN,
        Tag.SCHEDULE: schedule.name,
        Tag.METHOD: "",
        Tag.RATIO: "",
    }
    with TrialRun.open(
        tc.study.tracking_uri,
        tc.study.experiment_id,
        tc.study.parent_run_id,
        f"dense-{tc.model['name']}-seed{tc.seed}",
        tags=tags,
        params={"pretrain": tc.spec["pretrain"], "model": tc.model, "seed": tc.seed},
    ) as run:

        def on_epoch(m: EpochMetrics) -> bool:
            run.log_epoch(m.epoch, _epoch_dict(m))
            return False

        result = train(model, bundle, schedule, cfg, callback=snaps.callback(on_epoch))
        final = result.final
        run.log_summary(
            {
                Metric.DENSE_VAL_ACC: final.val_acc if final else float("nan"),
                Metric.DENSE_TEST_ACC: final.test_acc if final else float("nan"),
                Metric.WALL_TIME: time.time() - started,
            }
        )
        run.set_tags({Tag.STATUS: Outcome.DIVERGED if result.diverged else Outcome.COMPLETED})
        if result.diverged:
            raise RuntimeError(
                f"dense pretraining diverged (pretrain.lr={tc.spec['pretrain']['lr']})"
            )
        key = recipe_key(tc.spec, tc.seed)
        if epochs:
            save_snapshots(
                snapshots_path(tc), model=model, states=snaps.states, extra={"recipe": key}
            )
        if path.exists():  # trained again only for the snapshots: the cached model stays
            return
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        extra = {
            "recipe": key,
            "dense_val_acc": final.val_acc if final else float("nan"),
            "dense_test_acc": final.test_acc if final else float("nan"),
        }
        save_checkpoint(tmp, model=model.cpu(), extra=extra)
        os.replace(tmp, path)


def _epoch_dict(m: EpochMetrics) -> dict[str, float]:
    return {
        Metric.TRAIN_LOSS: m.train_loss,
        Metric.TRAIN_ACC: m.train_acc,
        Metric.VAL_ACC: m.val_acc,
        Metric.TEST_ACC: m.test_acc,
        Metric.LR: m.lr,
    }

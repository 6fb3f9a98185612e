"""The study's dense-model cache: each (model, data set, seed, pretraining recipe) is trained once.

Trials of one study share ``dense_dir`` (on a cluster: shared storage). The first trial that
needs a dense model takes an exclusive file lock and trains it; concurrent trials block on the
lock and then load the finished file, so the same recipe is never trained twice. The file is
written to a temporary name and renamed, so a crash never leaves a half-written model behind.
The pretraining run is an MLflow run of its own (role ``pretrain``) nested under the study.
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
from pruning.models import build
from pruning.schedules import Schedule, build_schedule
from pruning.train import EpochMetrics, train
from trainables.config import TrialConfig
from trainables.keys import Metric, Outcome, Role, Tag
from trainables.recipe import pretrain_schedule_params, recipe_key
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


def get_dense(
    tc: TrialConfig, bundle: DataBundle, device: str
) -> tuple[torch.nn.Module, dict[str, float]]:
    """The dense model and its accuracies (`dense_val_acc`, `dense_test_acc`)."""
    path = dense_path(tc)
    if not path.exists():
        with _exclusive(path.with_suffix(".lock")):
            if not path.exists():  # another trial may have finished it while we waited
                _pretrain(tc, bundle, device, path)
    saved = load_checkpoint(path)
    accs = {
        k: float(saved.extra.get(k, float("nan")))
        for k in (Metric.DENSE_VAL_ACC, Metric.DENSE_TEST_ACC)
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


def _pretrain(tc: TrialConfig, bundle: DataBundle, device: str, path: Path) -> None:
    torch.manual_seed(tc.seed)
    model = build_model(tc, bundle).to(device)
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

        result = train(model, bundle, schedule, cfg, callback=on_epoch)
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
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        extra = {
            "recipe": recipe_key(tc.spec, tc.seed),
            Metric.DENSE_VAL_ACC: final.val_acc if final else float("nan"),
            Metric.DENSE_TEST_ACC: final.test_acc if final else float("nan"),
        }
        save_checkpoint(tmp, model=model.cpu(), extra=extra)
        os.replace(tmp, path)


def _epoch_dict(m: EpochMetrics) -> dict[str, float]:
    return {
        "train_loss": m.train_loss,
        "train_acc": m.train_acc,
        Metric.VAL_ACC: m.val_acc,
        Metric.TEST_ACC: m.test_acc,
        Metric.LR: m.lr,
    }

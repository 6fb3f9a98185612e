"""The study's dense-model cache: each (model, data set, seed, pretraining recipe) is trained once.

Trials of one study share it through the study's shared store (trainables.shared_store:
``storage.shared``, by default the workdir; on a cluster without a shared filesystem an
object-store URI), as ``dense/<recipe_key>.pt``. The first trial that needs a dense model takes
the store's exclusive lock (a file lock, or a lease across nodes) and trains it; concurrent trials
wait and then load the finished file, so the same recipe is never trained twice. Every write is
atomic, so a crash never leaves a half-written model behind.
The pretraining run is an MLflow run of its own (role ``pretrain``) nested under the study.

Rewinding (retrain.start = init, rewind, rewind:K) and criteria that compare the last two
epochs (weight_change) need the dense run's weights at chosen epochs, not only its end: those
are captured while it trains and kept beside it in ``<key>.snapshots.pt``. A dense model cached
by a study that needed fewer epochs is trained again under the same lock to capture them (the
run is deterministic on CPU; the cached final weights are kept).
"""

from __future__ import annotations

import io
import time

import torch

from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.data import DataBundle
from pruning.methods import needs_previous_weights
from pruning.models import build
from pruning.schedules import Schedule
from pruning.snapshots import EpochSnapshots, SnapshotFile, load_snapshots, save_snapshots
from pruning.train import EpochMetrics, train
from trainables.config import TrialConfig
from trainables.keys import Metric, Outcome, Role, Tag
from trainables.recipe import snapshot_epochs
from trainables.runs import TrialRun
from trainables.shared_store import SharedStore, open_store, serialise


def shared(tc: TrialConfig) -> SharedStore:
    return open_store(tc.study.shared_root)


def dense_key(tc: TrialConfig) -> str:
    """The dense model's key in the shared store (the lock has it without `.pt`)."""
    return f"dense/{tc.plan.dense_key(tc.seed)}.pt"


def snapshots_key(tc: TrialConfig) -> str:
    return dense_key(tc).removesuffix(".pt") + ".snapshots.pt"


def wanted_epochs(tc: TrialConfig) -> list[int]:
    """The dense-run epochs any trial of this study loads (the same for all its trials, so the
    dense model is trained once)."""
    history = any(needs_previous_weights(m) for m in tc.plan.pruning.methods)
    return snapshot_epochs(tc.plan, needs_previous_weights=history)


def _ready(store: SharedStore, model: str, snaps: str, epochs: list[int]) -> bool:
    if not store.exists(model):
        return False
    if not epochs:
        return True
    return store.exists(snaps) and set(epochs) <= set(_load_snapshots(store, snaps).states)


def _load_snapshots(store: SharedStore, key: str) -> SnapshotFile:
    return load_snapshots(io.BytesIO(store.read(key)))


def get_dense(
    tc: TrialConfig, bundle: DataBundle, device: str
) -> tuple[torch.nn.Module, dict[str, float]]:
    """The dense model and its accuracies (`dense_val_acc`, `dense_test_acc`)."""
    store, model, snaps, epochs = shared(tc), dense_key(tc), snapshots_key(tc), wanted_epochs(tc)
    if not _ready(store, model, snaps, epochs):
        with store.lock(model.removesuffix(".pt")):  # blocks while another trial trains it
            if not _ready(store, model, snaps, epochs):  # another trial may have done it
                _pretrain(tc, bundle, device, store, epochs)
    saved = load_checkpoint(io.BytesIO(store.read(model)))
    accs = {
        k: float(saved.extra.get(k, float("nan"))) for k in ("dense_val_acc", "dense_test_acc")
    }
    return saved.model, accs


def build_model(tc: TrialConfig, bundle: DataBundle) -> torch.nn.Module:
    widths = list(tc.model.widths) or None
    return build(
        tc.model.name,
        num_classes=bundle.num_classes,
        in_channels=bundle.shape[0],
        image_size=bundle.shape[-1],
        dims=bundle.dims,
        widths=widths,
    )


def pretrain_schedule(tc: TrialConfig, steps_per_epoch: int) -> Schedule:
    """The dense recipe's schedule (also Scratch-E/B's, with their own epochs)."""
    return tc.plan.pretrain.run_schedule(steps_per_epoch)


def dense_at(tc: TrialConfig, epoch: int) -> torch.nn.Module:
    """The dense run's model after `epoch` epochs (0 = its initialisation, T = the cached
    dense model itself)."""
    store = shared(tc)
    if epoch == tc.pretrain_epochs:
        return load_checkpoint(io.BytesIO(store.read(dense_key(tc)))).model
    return _load_snapshots(store, snapshots_key(tc)).model_at(epoch)


def _pretrain(
    tc: TrialConfig, bundle: DataBundle, device: str, store: SharedStore, epochs: list[int]
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
        f"dense-{tc.model.name}-seed{tc.seed}",
        tags=tags,
        params={
            "pretrain": tc.plan.pretrain.identity(),
            "model": tc.model.identity(),
            "seed": tc.seed,
        },
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
            raise RuntimeError(f"dense pretraining diverged (pretrain.lr={tc.plan.pretrain.lr})")
        _save_dense(tc, store, model.cpu(), snaps.states if epochs else None, final)


def _save_dense(
    tc: TrialConfig,
    store: SharedStore,
    model: torch.nn.Module,
    states: dict[int, dict[str, torch.Tensor]] | None,
    final: EpochMetrics | None,
) -> None:
    """The snapshots first, then the model: a model without its snapshots is not `_ready`."""
    key = tc.plan.dense_key(tc.seed)
    if states is not None:
        data = serialise(save_snapshots, model=model, states=states, extra={"recipe": key})
        store.write(snapshots_key(tc), data)
    if store.exists(dense_key(tc)):  # trained again only for the snapshots: the cached model stays
        return
    extra = {
        "recipe": key,
        "dense_val_acc": final.val_acc if final else float("nan"),
        "dense_test_acc": final.test_acc if final else float("nan"),
    }
    store.write(dense_key(tc), serialise(save_checkpoint, model=model, extra=extra))


def _epoch_dict(m: EpochMetrics) -> dict[str, float]:
    return {
        Metric.TRAIN_LOSS: m.train_loss,
        Metric.TRAIN_ACC: m.train_acc,
        Metric.VAL_ACC: m.val_acc,
        Metric.TEST_ACC: m.test_acc,
        Metric.LR: m.lr,
    }

"""The (re)training loop shared by original training, every retraining schedule and Scratch-E/B.

SGD with the schedule's LR (and momentum, for 1-cycle) set before every optimizer step, pruning
masks re-applied after every step, per-epoch evaluation on validation and test, and a callback
that may stop the run. Resume-exact: everything random in epoch e is drawn from
`epoch_seed(cfg.seed, e)` (data order and augmentation by the bundle, dropout and any other use
of torch's global RNG inside a forked RNG scope), and the schedule is a pure function of the
global step, so a run restarted at epoch k from the model and optimizer state saved after epoch
k − 1 reproduces the uninterrupted run's metrics exactly (on the CPU; CUDA kernels may not be
bitwise deterministic).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from pruning.schedules import Schedule

SPLITS = ("train", "val", "test")


class Bundle(Protocol):
    """What train() needs of a data set (pruning.data.DataBundle satisfies it)."""

    def train_batches(
        self, batch_size: int, *, epoch_seed: int, device: torch.device | str
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def eval_batches(
        self, split: Any, batch_size: int, *, device: torch.device | str
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def steps_per_epoch(self, batch_size: int) -> int: ...


@dataclass
class TrainConfig:
    """Optimizer and loop settings; the defaults are the CIFAR recipe of docs/science.md §1."""

    batch_size: int = 64
    momentum: float = 0.9  # overridden per step by schedules that cycle momentum (clr, scyc)
    nesterov: bool = False
    weight_decay: float = 1e-4  # on every parameter, BN and biases included, as in the papers
    label_smoothing: float = 0.0
    seed: int = 0  # seeds data order, augmentation and dropout, per epoch
    device: str = "cpu"
    amp: bool = True  # bf16 autocast, CUDA only
    channels_last: bool = True  # CUDA only
    bn_l1: float = 0.0  # network slimming λ: adds λ·sign(γ) to every BN weight's gradient
    eval_batch_size: int = 1024
    eval_splits: tuple[str, ...] = ("val", "test")  # splits evaluated after each epoch

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        for name in ("momentum", "weight_decay", "bn_l1"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(
                f"TrainConfig.label_smoothing must be in [0, 1), got {self.label_smoothing!r}"
            )
        if self.nesterov and self.momentum <= 0:
            raise ValueError("TrainConfig.nesterov needs momentum > 0, got momentum=0")
        bad = [s for s in self.eval_splits if s not in SPLITS]
        if bad:
            raise ValueError(
                f"TrainConfig.eval_splits: unknown split {bad[0]!r}; valid: {', '.join(SPLITS)}"
            )
        self.eval_splits = tuple(self.eval_splits)


@dataclass
class EpochMetrics:
    """Metrics after one epoch. `epoch` is the 0-based index of the epoch just finished (resume
    after it with start_epoch=epoch + 1); `step` counts optimizer steps done so far; `lr` is the
    LR at the epoch's first step; `wall_time` is this epoch's seconds (training + evaluation).
    Accuracies are fractions in [0, 1]; a split not evaluated (or empty) gives NaN."""

    epoch: int
    step: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    test_loss: float
    test_acc: float
    lr: float
    wall_time: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass
class TrainResult:
    """What a call to train() did: the metrics of every epoch it completed, and how it ended."""

    metrics: list[EpochMetrics] = field(default_factory=list)
    diverged: bool = False  # a non-finite training loss was seen
    stopped_early: bool = False  # the callback asked to stop
    epochs_completed: int = 0  # counted from epoch 0, i.e. start_epoch + epochs run here
    optimizer_state: dict[str, Any] | None = None  # at the end, for a later resume

    @property
    def final(self) -> EpochMetrics | None:
        return self.metrics[-1] if self.metrics else None


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for epoch `epoch` of a run seeded `seed`, identical in every process."""
    digest = hashlib.blake2b(f"prunetune:{seed}:{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


def make_optimizer(model: nn.Module, cfg: TrainConfig, lr: float = 0.1) -> torch.optim.SGD:
    """SGD over the trainable parameters; `lr` is a placeholder the schedule overwrites."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(
        params,
        lr=lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )


def prepare_masks(
    model: nn.Module, masks: dict[str, torch.Tensor] | None, device: torch.device | str
) -> dict[torch.nn.Parameter, torch.Tensor]:
    """Masks keyed by parameter name → {parameter: mask in the parameter's dtype and device}."""
    if not masks:
        return {}
    named = dict(model.named_parameters())
    prepared: dict[torch.nn.Parameter, torch.Tensor] = {}
    for name, mask in masks.items():
        if name not in named:
            raise ValueError(f"masks: {name!r} is not a parameter of the model")
        param = named[name]
        if tuple(mask.shape) != tuple(param.shape):
            raise ValueError(
                f"masks: {name!r} has shape {tuple(mask.shape)}, parameter is {tuple(param.shape)}"
            )
        prepared[param] = mask.to(device=device, dtype=param.dtype)
    return prepared


@torch.no_grad()
def apply_masks(masks: dict[torch.nn.Parameter, torch.Tensor]) -> None:
    """Zero the pruned weights (after every optimizer step: momentum and weight decay move them)."""
    for param, mask in masks.items():
        param.mul_(mask)


@torch.no_grad()
def evaluate(
    model: nn.Module, bundle: Bundle, split: Any, cfg: TrainConfig
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on `split` ("train"/"val"/"test" or a Split); NaN if empty.

    The loss has no label smoothing, so it is comparable across configurations.
    """
    device = torch.device(cfg.device)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    try:
        for x, y in bundle.eval_batches(split, cfg.eval_batch_size, device=device):
            with _autocast(cfg, device):
                logits = model(_to_memory_format(x, cfg, device))
            loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
            count += len(y)
    finally:
        model.train(was_training)
    if count == 0:
        return math.nan, math.nan
    return loss_sum.item() / count, correct.item() / count


def train(
    model: nn.Module,
    bundle: Bundle,
    schedule: Schedule,
    cfg: TrainConfig,
    *,
    masks: dict[str, torch.Tensor] | None = None,
    callback: Callable[[EpochMetrics], bool | None] | None = None,
    start_epoch: int = 0,
    optimizer_state: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    stop_on_divergence: bool = True,
) -> TrainResult:
    """Train `model` in place for epochs start_epoch … schedule.epochs − 1.

    `optimizer`: pass one made by make_optimizer to hold a reference to it (e.g. to checkpoint
    its state from the callback); otherwise one is made here. `optimizer_state` is loaded into
    it (resume). `callback(metrics)` runs after every epoch; returning True stops the run.
    A non-finite training loss sets result.diverged and, with stop_on_divergence, ends the run
    with the metrics of the epochs completed before it.

    Weights at epoch k (after k epochs; rewinding, lottery-ticket init): the callback sees the
    model right after epoch metrics.epoch, i.e. k = metrics.epoch + 1. Before the first step
    train() only moves the model to the device and zeroes masked weights, so a snapshot taken
    just before calling it is epoch 0. `pruning.snapshots.EpochSnapshots` does both.
    """
    device = torch.device(cfg.device)
    _check_run(bundle, schedule, cfg, start_epoch)
    model.to(device)
    if _channels_last(cfg, device):
        model.to(memory_format=torch.channels_last)
    mask_map = prepare_masks(model, masks, device)
    apply_masks(mask_map)
    opt = optimizer if optimizer is not None else make_optimizer(model, cfg)
    if optimizer_state is not None:
        opt.load_state_dict(optimizer_state)
    loop = _EpochLoop(model, bundle, schedule, cfg, opt, mask_map, device, stop_on_divergence)
    result = TrainResult(epochs_completed=start_epoch)
    for epoch in range(start_epoch, schedule.epochs):
        started = time.perf_counter()
        train_loss, train_acc = loop.run(epoch)
        if not math.isfinite(train_loss):
            result.diverged = True
            if stop_on_divergence:
                break
        metrics = _epoch_metrics(model, bundle, schedule, cfg, epoch, train_loss, train_acc)
        metrics.wall_time = time.perf_counter() - started
        result.metrics.append(metrics)
        result.epochs_completed = epoch + 1
        if callback is not None and callback(metrics):
            result.stopped_early = True
            break
    result.optimizer_state = opt.state_dict()
    return result


class _EpochLoop:
    """One epoch of SGD: the schedule's LR/momentum before each step, masks after it."""

    def __init__(
        self,
        model: nn.Module,
        bundle: Bundle,
        schedule: Schedule,
        cfg: TrainConfig,
        optimizer: torch.optim.Optimizer,
        masks: dict[torch.nn.Parameter, torch.Tensor],
        device: torch.device,
        stop_on_divergence: bool,
    ) -> None:
        self.model, self.bundle, self.schedule, self.cfg = model, bundle, schedule, cfg
        self.optimizer, self.masks, self.device = optimizer, masks, device
        self.stop_on_divergence = stop_on_divergence
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.bn_weights = [
            m.weight
            for m in model.modules()
            if isinstance(m, _BatchNorm) and m.weight is not None and cfg.bn_l1 > 0
        ]
        # A per-step host sync is free on the CPU; on an accelerator check every few steps.
        self.check_every = 1 if device.type == "cpu" else 25

    def run(self, epoch: int) -> tuple[float, float]:
        """Train one epoch; (mean training loss, training accuracy), loss NaN/inf if diverged."""
        seed = epoch_seed(self.cfg.seed, epoch)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self._steps(epoch, seed)

    def _steps(self, epoch: int, seed: int) -> tuple[float, float]:
        self.model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        count = 0
        first = epoch * self.schedule.steps_per_epoch
        batches = self.bundle.train_batches(
            self.cfg.batch_size, epoch_seed=seed, device=self.device
        )
        for i, (x, y) in enumerate(batches):
            self._set_hyperparameters(first + i)
            logits, loss = self._step(x, y)
            loss_sum += loss.detach().double() * len(y)
            correct += (logits.detach().argmax(dim=1) == y).sum()
            count += len(y)
            if self._diverged(i, loss_sum):
                return math.nan, correct.item() / count
        if count == 0:
            raise ValueError("train: the bundle yielded no training batches")
        return loss_sum.item() / count, correct.item() / count

    def _diverged(self, i: int, loss_sum: torch.Tensor) -> bool:
        if not self.stop_on_divergence or (i + 1) % self.check_every:
            return False
        return not torch.isfinite(loss_sum).item()

    def _set_hyperparameters(self, step: int) -> None:
        lr, momentum = self.schedule.lr(step), self.schedule.momentum(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if momentum is not None:
                group["momentum"] = momentum

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _autocast(self.cfg, self.device):
            logits = self.model(_to_memory_format(x, self.cfg, self.device))
            loss = self.loss_fn(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.bn_weights:
            with torch.no_grad():
                for weight in self.bn_weights:
                    if weight.grad is not None:
                        weight.grad.add_(torch.sign(weight), alpha=self.cfg.bn_l1)
        self.optimizer.step()
        apply_masks(self.masks)
        return logits, loss


def _epoch_metrics(
    model: nn.Module,
    bundle: Bundle,
    schedule: Schedule,
    cfg: TrainConfig,
    epoch: int,
    train_loss: float,
    train_acc: float,
) -> EpochMetrics:
    scores = {
        split: evaluate(model, bundle, split, cfg) if split in cfg.eval_splits else (math.nan,) * 2
        for split in ("val", "test")
    }
    return EpochMetrics(
        epoch=epoch,
        step=(epoch + 1) * schedule.steps_per_epoch,
        train_loss=train_loss,
        train_acc=train_acc,
        val_loss=scores["val"][0],
        val_acc=scores["val"][1],
        test_loss=scores["test"][0],
        test_acc=scores["test"][1],
        lr=schedule.lr_at_epoch(epoch),
        wall_time=0.0,
    )


def _check_run(bundle: Bundle, schedule: Schedule, cfg: TrainConfig, start_epoch: int) -> None:
    steps = bundle.steps_per_epoch(cfg.batch_size)
    if steps != schedule.steps_per_epoch:
        raise ValueError(
            f"schedule.steps_per_epoch is {schedule.steps_per_epoch} but the data gives {steps} "
            f"steps per epoch at batch_size {cfg.batch_size}; build the schedule with {steps}"
        )
    if isinstance(start_epoch, bool) or not isinstance(start_epoch, int):
        raise ValueError(f"start_epoch must be an integer, got {start_epoch!r}")
    if not 0 <= start_epoch <= schedule.epochs:
        raise ValueError(f"start_epoch must be in [0, {schedule.epochs}], got {start_epoch}")


def _channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    return cfg.channels_last and device.type == "cuda"


def _to_memory_format(x: torch.Tensor, cfg: TrainConfig, device: torch.device) -> torch.Tensor:
    if x.dim() == 4 and _channels_last(cfg, device):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if cfg.amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

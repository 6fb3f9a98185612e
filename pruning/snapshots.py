"""The dense run's weights at chosen epochs, for weight rewinding and lottery-ticket `init`.

Epoch k means "after k epochs of training": k = 0 is the initialisation, before any optimizer
step (the lottery-ticket `init`), k = 160 − E is Renda et al.'s weight-rewinding point for a
budget of E epochs. `pruning.train.train` gives both without changing what it computes:

- before its first step it only moves the model to the device (and zeroes masked weights, of
  which a dense run has none), so a snapshot taken just before calling `train` is epoch 0;
- its `callback(metrics)` runs after each epoch with the model trained in place, so a snapshot
  taken there is epoch k = metrics.epoch + 1 (evaluation in between is in eval mode under
  no_grad and changes no weight or BN statistic).

`EpochSnapshots` does both; `save_snapshots` / `load_snapshots` keep several epochs in one
file: the architecture once, then a plain state_dict per epoch (no optimizer state), loadable
with `torch.load(weights_only=True)`. Resuming a run mid-way needs the snapshots saved so far
(`EpochSnapshots(..., states=...)`): epochs before the resume point cannot be re-captured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from pruning.checkpoint import Target, atomic_save, check_loadable, source_name
from pruning.models.arch import architecture, rebuild

if TYPE_CHECKING:
    from pruning.train import EpochMetrics

FORMAT = "prunetune.snapshots"
VERSION = 1
StateDict = dict[str, Tensor]


def state_snapshot(model: nn.Module) -> StateDict:
    """A detached CPU copy of `model.state_dict()` (contiguous: channels_last is a layout)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


class EpochSnapshots:
    """Captures `model`'s state_dict at the wanted epochs of one run (0 = before training).

    snaps = EpochSnapshots(model, epochs=[0, 88])
    snaps.start()                                    # right before train(): epoch 0
    train(model, ..., callback=snaps.callback(on_epoch))
    snaps.states[88]                                 # after 88 epochs
    """

    def __init__(
        self,
        model: nn.Module,
        epochs: Iterable[int],
        states: Mapping[int, StateDict] | None = None,
    ) -> None:
        wanted = list(epochs)
        if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 0 for e in wanted):
            raise ValueError(f"epochs must be integers >= 0 (epochs completed), got {wanted!r}")
        self.model = model
        self.epochs = tuple(sorted(set(wanted)))
        self.states: dict[int, StateDict] = dict(states or {})

    def capture(self, epoch: int) -> bool:
        """Snapshot the model now as epoch `epoch` if that epoch is wanted; True if taken."""
        if epoch not in self.epochs:
            return False
        self.states[epoch] = state_snapshot(self.model)
        return True

    def start(self) -> bool:
        """Call right before `train()` on a fresh run: captures epoch 0 if wanted."""
        return self.capture(0)

    def after_epoch(self, metrics: EpochMetrics) -> None:
        """Capture after the epoch `metrics` reports (k = metrics.epoch + 1 epochs done)."""
        self.capture(metrics.epoch + 1)

    def callback(
        self, then: Callable[[EpochMetrics], bool | None] | None = None
    ) -> Callable[[EpochMetrics], bool | None]:
        """A `train()` callback that captures, then runs `then` (whose answer it returns)."""

        def on_epoch(metrics: EpochMetrics) -> bool | None:
            self.after_epoch(metrics)
            return then(metrics) if then is not None else None

        return on_epoch

    @property
    def missing(self) -> list[int]:
        """Wanted epochs not captured (yet)."""
        return [e for e in self.epochs if e not in self.states]


@dataclass
class SnapshotFile:
    """Loaded snapshots: the architecture, a state_dict per epoch, and the caller's extra."""

    arch: dict[str, Any]
    states: dict[int, StateDict]
    extra: dict[str, Any] = field(default_factory=dict)

    def model_at(self, epoch: int) -> nn.Module:
        """The model (rebuilt from the architecture) with the weights after `epoch` epochs."""
        if epoch not in self.states:
            raise ValueError(
                f"epoch {epoch} was not saved; saved epochs: {', '.join(map(str, self.states))}"
            )
        return rebuild(self.arch, self.states[epoch])


def save_snapshots(
    path: Target,
    *,
    model: nn.Module,
    states: Mapping[int, StateDict],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write `states` (epoch → state_dict of `model`'s architecture) to one file, atomically
    (or to a binary file object)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": architecture(model),
        "states": {int(k): dict(v) for k, v in sorted(states.items())},
        "extra": dict(extra or {}),
    }
    check_loadable(payload["states"], "states")
    check_loadable(payload["extra"], "extra")
    atomic_save(payload, path)


def load_snapshots(path: Target, map_location: str | torch.device = "cpu") -> SnapshotFile:
    """Read a file written by `save_snapshots` (torch.load with weights_only=True); `path` may
    be a binary file object."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    name = source_name(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{name}: not a prunetune snapshot file (no format={FORMAT!r} field)")
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{name}: snapshot file version {payload.get('version')!r}; this code reads {VERSION}"
        )
    return SnapshotFile(arch=payload["arch"], states=payload["states"], extra=payload["extra"])


__all__ = [
    "EpochSnapshots",
    "SnapshotFile",
    "load_snapshots",
    "save_snapshots",
    "state_snapshot",
]

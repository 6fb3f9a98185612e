"""Checkpoints as plain dicts of tensors and primitives, always loaded with `weights_only=True`.

A checkpoint never pickles modules (a pruned model's modules no longer match its class, and
unpickling code is unsafe): it stores the model's `architecture()` (build arguments) and
state_dict, the unstructured masks, the optimizer state and caller data such as the epoch or
schedule position; `load_checkpoint` rebuilds the pruned model from these. Writes go to a
temporary file renamed into place, so a trial killed mid-save leaves the previous checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor, nn

from pruning.models.arch import architecture, rebuild

FORMAT = "prunetune.checkpoint"
VERSION = 1
_PRIMITIVES = (type(None), bool, int, float, str, Tensor, torch.Size, torch.dtype)
# A file path, or a binary file object (io.BytesIO) for checkpoints kept in an object store.
Target = str | os.PathLike[str] | BinaryIO


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model and what was saved with it."""

    model: nn.Module
    masks: dict[str, Tensor] | None = None
    optimizer_state: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    arch: dict[str, Any] = field(default_factory=dict)


def plain_state_dict(model: nn.Module) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(state_dict, masks) with torch.nn.utils.prune's `X_orig`/`X_mask` folded into `X`.

    A model under `torch.nn.utils.prune` has `weight_orig` and `weight_mask` entries instead of
    `weight`; the checkpoint stores the masked weight under its plain name and the mask apart,
    so the rebuilt (hook-free) model loads it strictly.
    """
    state = dict(model.state_dict())
    masks: dict[str, Tensor] = {}
    for key in [k for k in state if k.endswith("_orig")]:
        base = key[: -len("_orig")]
        if base + "_mask" not in state:
            continue
        mask = state.pop(base + "_mask")
        state[base] = state.pop(key) * mask
        masks[base] = mask
    return state, masks


def check_loadable(value: Any, where: str) -> None:
    """Raise unless `value` survives `torch.load(weights_only=True)`."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str | int):
                raise ValueError(f"{where}: key {k!r} must be a str or int")
            check_loadable(v, f"{where}[{k!r}]")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_loadable(v, f"{where}[{i}]")
    elif not isinstance(value, _PRIMITIVES):
        raise ValueError(
            f"{where}: {type(value).__name__} cannot be loaded with weights_only=True; "
            "use tensors, numbers, strings, lists or dicts"
        )


def save_checkpoint(
    path: Target,
    *,
    model: nn.Module,
    masks: Mapping[str, Tensor] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write model (architecture + state_dict), masks, optimizer state and `extra` to `path`."""
    state, prune_masks = plain_state_dict(model)
    if masks is None and prune_masks:
        masks = prune_masks
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "arch": architecture(model),
        "state_dict": state,
        "masks": None if masks is None else dict(masks),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "extra": dict(extra or {}),
    }
    check_loadable(payload["extra"], "extra")
    check_loadable(payload["arch"], "arch")
    atomic_save(payload, path)


def atomic_save(payload: Mapping[str, Any], path: Target) -> None:
    """torch.save to a temporary file renamed into place: a killed writer leaves the old file.
    A file object is written as is: its owner decides how it lands (an object-store put)."""
    if not isinstance(path, str | os.PathLike):
        torch.save(dict(payload), path)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(dict(payload), tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: Target, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` (weights_only=True) and rebuild its model;
    `path` may be a binary file object (io.BytesIO of bytes read from an object store)."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    name = source_name(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{name}: not a prunetune checkpoint (no format={FORMAT!r} field)")
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{name}: checkpoint version {payload.get('version')!r}; this code reads {VERSION}"
        )
    model = rebuild(payload["arch"], payload["state_dict"]).to(map_location)
    return Checkpoint(
        model=model,
        masks=payload["masks"],
        optimizer_state=payload["optimizer"],
        extra=payload["extra"],
        arch=payload["arch"],
    )


def source_name(source: Target) -> str:
    """What an error message calls a path or a file object."""
    if isinstance(source, str | os.PathLike):
        return str(source)
    return str(getattr(source, "name", "") or "checkpoint stream")

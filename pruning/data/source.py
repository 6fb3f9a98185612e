"""What a data-set loader returns before the common splitting and normalisation in `load()`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pruning.data.augment import Augment


@dataclass
class RawData:
    """A data set as read from disk or generated: train and test tensors, optionally a given val.

    `x` tensors are (N, C, H, W) or (N, C, L), uint8 (images, values 0..255) or float32; `y` int64.
    `mean`/`std` left empty are computed from the training split after the validation carve.
    `augment` is the data set's default training augmentation (None: none).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment: Augment | None = None
    sources: dict[str, str] = field(default_factory=dict)
    classes: tuple[str, ...] = ()


def default_root() -> Path:
    """Where on-disk data sets live when no root is given: $PRUNETUNE_DATA, else ./data."""
    return Path(os.environ.get("PRUNETUNE_DATA", "data"))


def check_fixed_size(dataset: str, image_size: int | None, native: int) -> None:
    """Data sets stored at one resolution refuse any other `image_size`."""
    if image_size is not None and image_size != native:
        raise ValueError(
            f"image_size for dataset {dataset} must be {native} (or unset), got {image_size}"
        )

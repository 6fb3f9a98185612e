"""DataBundle: a data set held in memory as tensors, with seeded batching on any device.

Image data is stored as uint8 (CIFAR-10 train: 150 MB instead of 600 MB as float32) and turned
into normalised float32 one batch at a time on the target device. On an accelerator the whole
split is copied there once and batches are gathered in place (the airbench way); on the CPU the
stored tensors are indexed directly.

Determinism: the shuffle and the augmentation draw from two CPU `torch.Generator`s seeded from
`epoch_seed`, so the same epoch_seed gives identical batches in any process and on any device,
and switching augmentation off does not change the order of the samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from pruning.data.augment import (
    Augment,
    affine_normalizer,
    crop_flip,
    draw_augment_params,
    normalize,
)

_AUG_SEED_SALT = 0x9E3779B97F4A7C15  # decorrelates the augmentation stream from the shuffle


@dataclass(frozen=True, eq=False)
class Split:
    """One split: inputs `x` (N, C, H, W) or (N, C, L), uint8 or float32, and int64 labels `y`."""

    name: str
    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"split {self.name!r}: {len(self.x)} inputs but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)


@dataclass(eq=False)
class DataBundle:
    """Train / validation / test splits plus everything needed to turn them into model inputs.

    `mean`/`std` are per-channel in [0, 1] units (uint8 inputs are divided by 255 first; float
    inputs are used as stored). `augment` is None for no training-time augmentation. `sources`
    says where each split came from (e.g. the test split of an ImageFolder without a test/
    directory is its val/ directory); `classes` holds class names where the data set has them.
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    shape: tuple[int, ...]
    dims: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment: Augment | None = None
    sources: dict[str, str] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    _device_cache: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False
    )
    _norm_cache: dict[tuple[bool, int, str], tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False
    )

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimizer steps in one pass over the training split (last partial batch kept)."""
        _check_batch_size(batch_size)
        return math.ceil(len(self.train) / batch_size)

    def train_batches(
        self, batch_size: int, *, epoch_seed: int, device: torch.device | str = "cpu"
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled, augmented, normalised float32 batches on `device`; deterministic in epoch_seed."""
        _check_batch_size(batch_size)
        device = torch.device(device)
        x_all, y_all = self._resident(self.train, device)
        order = self.train_order(epoch_seed)
        aug_gen = _generator((epoch_seed * _AUG_SEED_SALT + 1) % 2**63)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size].to(x_all.device)
            x, y = x_all[idx], y_all[idx]
            if self.augment is not None:
                oy, ox, flip = draw_augment_params(len(idx), self.augment, aug_gen)
                x = crop_flip(x, oy, ox, flip, self.augment.pad)
            yield self.normalize(x), y

    def train_order(self, epoch_seed: int) -> torch.Tensor:
        """The permutation of the training split that `train_batches(epoch_seed=...)` walks."""
        return torch.randperm(len(self.train), generator=_generator(epoch_seed))

    def eval_batches(
        self, split: Split | str, batch_size: int, *, device: torch.device | str = "cpu"
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of `split` (a Split or "train"/"val"/"test") in stored order, never augmented.

        An empty split (val_fraction=0) yields no batches; callers report its accuracy as NaN.
        """
        _check_batch_size(batch_size)
        if isinstance(split, str):
            split = self.split(split)
        x_all, y_all = self._resident(split, torch.device(device))
        for start in range(0, len(split), batch_size):
            yield (
                self.normalize(x_all[start : start + batch_size]),
                y_all[start : start + batch_size],
            )

    def split(self, name: str) -> Split:
        """The split called `name`: train, val or test."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be one of train, val, test; got {name!r}")
        return getattr(self, name)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Stored inputs (uint8 or float) → normalised float32 model inputs on x's device."""
        key = (x.dtype == torch.uint8, x.dim(), str(x.device))
        if key not in self._norm_cache:  # built once per device: no host→device copy per batch
            scale = 1.0 / 255.0 if x.dtype == torch.uint8 else 1.0
            self._norm_cache[key] = affine_normalizer(
                self.mean, self.std, scale, x.dim(), x.device
            )
        return normalize(x, *self._norm_cache[key])

    def _resident(self, split: Split, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        # Copy a split to an accelerator once; per-batch host→device copies would dominate there.
        if device.type == "cpu":
            return split.x, split.y
        key = (split.name, str(device))
        if key not in self._device_cache:
            self._device_cache[key] = (split.x.to(device), split.y.to(device))
        return self._device_cache[key]


def _generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed) % 2**63)
    return gen


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def stratified_split(
    y: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (keep, held_out) with a seeded, class-stratified `fraction` of y held out.

    The total held out is round(fraction · n) (at least 1 when fraction > 0), shared out over
    classes in proportion to their size by largest remainder, so small classes still add up.
    Both index sets come back sorted, so the split does not reorder the data it keeps.
    """
    n = len(y)
    if fraction == 0 or n == 0:
        return torch.arange(n), torch.zeros(0, dtype=torch.long)
    gen = _generator(seed)
    n_held = min(n - 1, max(1, int(fraction * n + 0.5)))
    classes, counts = torch.unique(y, return_counts=True)
    exact = counts.to(torch.float64) * (n_held / n)
    quota = exact.floor().long()
    # Leftover slots go to the classes with the largest remainders, ties broken at random.
    shuffled = torch.randperm(len(classes), generator=gen)
    by_remainder = shuffled[torch.sort(-(exact - quota)[shuffled], stable=True).indices]
    quota[by_remainder[: n_held - int(quota.sum())]] += 1
    order = torch.randperm(n, generator=gen)
    held = torch.zeros(n, dtype=torch.bool)
    for c, q in zip(classes.tolist(), quota.tolist(), strict=True):
        held[order[y[order] == c][:q]] = True
    return torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of `x` in [0, 1] units for uint8, as stored otherwise."""
    scale = 1.0 / 255.0 if x.dtype == torch.uint8 else 1.0
    flat = x.transpose(0, 1).reshape(x.shape[1], -1).to(torch.float64) * scale
    std = flat.std(dim=1).clamp_min(1e-8)
    return tuple(flat.mean(dim=1).tolist()), tuple(std.tolist())

"""Data sets for pruning studies: a registry of loaders and `load()`, which returns a DataBundle.

A loader is a function `(root, *, download, image_size, **options) -> RawData`; `load()` adds
what every data set shares: the seeded, stratified train/validation carve (test untouched),
normalisation statistics, and the augmentation choice. Register a new data set with
`@DATASETS.register("name")` on such a function.

| name       | storage      | shape       | default augmentation      | normalisation          |
|------------|--------------|-------------|---------------------------|------------------------|
| cifar10    | uint8, disk  | 3×32×32     | pad-4 crop + h-flip       | CIFAR-10 mean/std      |
| cifar100   | uint8, disk  | 3×32×32     | pad-4 crop + h-flip       | CIFAR-100 mean/std     |
| imagefolder| uint8, disk  | 3×S×S (64)  | pad-4 crop + h-flip       | ImageNet mean/std      |
| digits     | float32      | 1×8×8       | none                      | train-split statistics |
| mnist1d    | float32      | 1×40 (1-D)  | none                      | train-split statistics |
| mnist1d-hard | float32    | 1×40 (1-D)  | none                      | train-split statistics |
| synthetic  | uint8        | 3×16×16 / C×L | none                    | train-split statistics |

With `val_fraction=0` the validation split is empty: `eval_batches` yields nothing and callers
report validation accuracy as NaN.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path

from pruning.data.augment import Augment
from pruning.data.bundle import DataBundle, Split, channel_stats, stratified_split
from pruning.data.cifar import load_cifar
from pruning.data.embedded import MNIST1D_HARD, load_digits, load_mnist1d
from pruning.data.imagefolder import load_imagefolder
from pruning.data.source import RawData, default_root
from pruning.data.synthetic import load_synthetic
from pruning.registry import Registry

__all__ = ["DATASETS", "Augment", "DataBundle", "RawData", "Split", "load"]

Loader = Callable[..., RawData]
DATASETS: Registry[Loader] = Registry("dataset")
DATASETS.add("cifar10", functools.partial(load_cifar, "cifar10"))
DATASETS.add("cifar100", functools.partial(load_cifar, "cifar100"))
DATASETS.add("imagefolder", load_imagefolder)
DATASETS.add("digits", load_digits)
DATASETS.add("mnist1d", load_mnist1d)
DATASETS.add("mnist1d-hard", functools.partial(load_mnist1d, **MNIST1D_HARD))
DATASETS.add("synthetic", load_synthetic)

_ON_DISK = frozenset({"cifar10", "cifar100"})  # these fall back to default_root() without root
_COMMON = frozenset({"root", "download", "image_size"})


def load(
    name: str,
    root: str | Path | None = None,
    *,
    split_seed: int = 0,
    val_fraction: float = 0.1,
    download: bool = False,
    image_size: int | None = None,
    augment: bool | None = None,
    **options: object,
) -> DataBundle:
    """Load data set `name` and carve a seeded validation split of `val_fraction` from train.

    `augment`: None = the data set's default (see the module table), False = off, True = on
    (data sets without a default get a random shift of side/8 pixels, plus h-flip in 2-D).
    Extra `options` go to the loader (e.g. synthetic's dims=1); unknown ones raise ValueError.
    """
    loader = DATASETS.get(name)
    _check_options(name, loader, options)
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if root is None and name in _ON_DISK:
        root = default_root()
    raw = loader(
        Path(root) if root is not None else None,
        download=download,
        image_size=image_size,
        **options,
    )
    train, val, val_source = _carve_validation(raw, val_fraction, split_seed)
    test = Split("test", raw.test_x, raw.test_y)
    shape = tuple(train.x.shape[1:])
    mean, std = (raw.mean, raw.std) if raw.mean else channel_stats(train.x)
    return DataBundle(
        name=name,
        train=train,
        val=val,
        test=test,
        num_classes=raw.num_classes,
        shape=shape,
        dims=len(shape) - 1,
        mean=tuple(mean),
        std=tuple(std),
        augment=_choose_augment(augment, raw.augment, shape),
        sources={
            "train": raw.sources.get("train", name),
            "val": val_source,
            "test": raw.sources.get("test", name),
        },
        classes=raw.classes,
    )


def _check_options(name: str, loader: Loader, options: dict[str, object]) -> None:
    valid = [p for p in inspect.signature(loader).parameters if p not in _COMMON]
    for key in options:
        if key not in valid:
            choices = ", ".join(valid) if valid else "none"
            raise ValueError(
                f"unknown option {key!r} for dataset {name}; valid options: {choices}"
            )


def _carve_validation(
    raw: RawData, val_fraction: float, split_seed: int
) -> tuple[Split, Split, str]:
    if raw.val_x is not None and raw.val_y is not None:  # the data set ships its own val split
        val_source = raw.sources.get("val", "given")
        return (
            Split("train", raw.train_x, raw.train_y),
            Split("val", raw.val_x, raw.val_y),
            val_source,
        )
    if val_fraction == 0:
        empty = Split("val", raw.train_x[:0], raw.train_y[:0])
        return Split("train", raw.train_x, raw.train_y), empty, "none (val_fraction=0)"
    keep, held = stratified_split(raw.train_y, val_fraction, split_seed)
    train = Split("train", raw.train_x[keep], raw.train_y[keep])
    val = Split("val", raw.train_x[held], raw.train_y[held])
    return train, val, f"{val_fraction:g} of train (stratified, split_seed={split_seed})"


def _choose_augment(
    augment: bool | None, default: Augment | None, shape: tuple[int, ...]
) -> Augment | None:
    if augment is None:
        return default
    if not augment:
        return None
    if default is not None:
        return default
    # A shift of 1/8 of the side mirrors CIFAR's 4 of 32; 1-D signals are not mirrored in time.
    return Augment(pad=max(1, shape[-1] // 8), flip=len(shape) == 3)

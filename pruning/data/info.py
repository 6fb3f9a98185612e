"""What a data set looks like (classes, input shape) and whether it is present, without loading.

The CLI's prune-report needs a shape to count MACs on, and a study's preflight must say "data
missing" before any trial starts; neither should pay for decoding a data set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pruning.data.source import default_root

_CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]),
    "cifar100": ("cifar-100-python", ["train", "test"]),
}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    shape: tuple[int, ...]  # (C, H, W) or (C, L)
    dims: int
    needs_root: bool


_STATIC = {
    "cifar10": DatasetInfo("cifar10", 10, (3, 32, 32), 2, True),
    "cifar100": DatasetInfo("cifar100", 100, (3, 32, 32), 2, True),
    "digits": DatasetInfo("digits", 10, (1, 8, 8), 2, False),
    "mnist1d": DatasetInfo("mnist1d", 10, (1, 40), 1, False),
    "mnist1d-hard": DatasetInfo("mnist1d-hard", 10, (1, 40), 1, False),
    "synthetic": DatasetInfo("synthetic", 10, (3, 16, 16), 2, False),
}


def describe(
    name: str, root: str | Path | None = None, image_size: int | None = None
) -> DatasetInfo:
    """Classes and input shape of a data set; ImageFolder counts its class folders if it can."""
    from pruning.data import DATASETS

    DATASETS.get(name)  # unknown name → one-line error with the valid choices
    if name == "imagefolder":
        size = image_size or 64
        classes = _count_classes(Path(root)) if root else 0
        return DatasetInfo("imagefolder", classes or 1000, (3, size, size), 2, True)
    info = _STATIC[name]
    if image_size and name in ("synthetic",):
        return DatasetInfo(name, info.num_classes, (3, image_size, image_size), 2, False)
    return info


# Training examples before the validation split, as the loaders produce them (checked by
# tests/pruning/test_data_contract.py against the real loaders): what `plan` and the spec checks need to
# know how many optimizer steps an epoch has without reading any data.
NOMINAL_TRAIN_SIZE = {
    "cifar10": 50_000,
    "cifar100": 50_000,
    "digits": 1_438,
    "mnist1d": 4_000,
    "mnist1d-hard": 4_000,
    "synthetic": 512,
}


def nominal_steps_per_epoch(
    name: str, root: str | Path | None, val_fraction: float, batch_size: int
) -> int | None:
    """Optimizer steps per epoch of a training split, from the data set's size less a
    `val_fraction` validation split (stratified per class, so off by a few examples at most);
    None where the size is unknown without reading the data (an ImageFolder not found)."""
    size = NOMINAL_TRAIN_SIZE.get(name)
    if size is not None:
        size -= round(size * val_fraction)
    elif name == "imagefolder" and root and (Path(root) / "train").is_dir():
        size = sum(1 for f in (Path(root) / "train").rglob("*") if f.is_file())
    if not size:
        return None
    return -(-size // batch_size)


def check_available(name: str, root: str | Path | None, *, download: bool = False) -> None:
    """Raise a one-line ValueError if an on-disk data set is not where the spec says."""
    if name in _CIFAR_FILES:
        base_root = Path(root) if root else default_root()
        folder, files = _CIFAR_FILES[name]
        missing = [f for f in files if not (base_root / folder / f).is_file()]
        if missing and not download:
            raise ValueError(
                f"dataset.root: {name} not found under {str(base_root)!r} (expected "
                f"{folder}/{missing[0]}); put the torchvision files there or set dataset.download=true"
            )
    elif name == "imagefolder":
        if not root:
            raise ValueError("dataset.root: imagefolder needs a folder with train/ and val/")
        for sub in ("train", "val"):
            if not (Path(root) / sub).is_dir():
                raise ValueError(f"dataset.root: no {sub}/ folder under {str(root)!r}")
        if not _count_classes(Path(root)):
            raise ValueError(f"dataset.root: no class folders in {str(Path(root) / 'train')!r}")


def _count_classes(root: Path) -> int:
    train = root / "train"
    return sum(1 for d in train.iterdir() if d.is_dir()) if train.is_dir() else 0

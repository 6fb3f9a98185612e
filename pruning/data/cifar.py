"""CIFAR-10 and CIFAR-100 from torchvision's on-disk python-pickle format.

The pickles are read directly instead of through `torchvision.datasets.CIFAR10`, whose
constructor md5-checks every file (slow, and it rejects the small files tests write in the same
format). torchvision is used only to download, and only when `download=True` is passed: data
sets are never fetched behind the user's back.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pruning.data.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    Augment,
)
from pruning.data.source import RawData, check_fixed_size

_LAYOUT = {
    # name: (directory, train files, test files, label key, meta file, class-names key, classes)
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "labels",
        "batches.meta",
        "label_names",
        10,
    ),
    "cifar100": (
        "cifar-100-python",
        ["train"],
        ["test"],
        "fine_labels",
        "meta",
        "fine_label_names",
        100,
    ),
}
_STATS = {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD)}


def load_cifar(name: str, root: Path, *, download: bool, image_size: int | None) -> RawData:
    """Read CIFAR-10/100 under `root` (the directory that holds cifar-10-batches-py/...)."""
    check_fixed_size(name, image_size, 32)
    folder, train_files, test_files, label_key, meta_file, names_key, num_classes = _LAYOUT[name]
    base = root / folder
    missing = [f for f in [*train_files, *test_files] if not (base / f).is_file()]
    if missing and download:
        _download(name, root)
        missing = [f for f in [*train_files, *test_files] if not (base / f).is_file()]
    if missing:
        raise ValueError(
            f"dataset {name}: no data under root {str(root)!r} (expected {base}/ with "
            f"{', '.join(train_files + test_files)}); pass download=True "
            f"(--set dataset.download=true) to fetch it, or set dataset.root"
        )
    train_x, train_y = _read_batches(base, train_files, label_key)
    test_x, test_y = _read_batches(base, test_files, label_key)
    meta = base / meta_file
    classes = tuple(_unpickle(meta)[names_key]) if meta.is_file() else ()
    mean, std = _STATS[name]
    return RawData(
        train_x,
        train_y,
        test_x,
        test_y,
        num_classes,
        mean=mean,
        std=std,
        augment=Augment(pad=4, flip=True),  # the papers' RandomCrop(32, padding=4) + h-flip
        sources={"train": f"{base}/{'+'.join(train_files)}", "test": f"{base}/{test_files[0]}"},
        classes=tuple(c.decode() if isinstance(c, bytes) else str(c) for c in classes),
    )


def _unpickle(path: Path) -> dict[str, Any]:
    # latin1 reads the Python-2 pickles of the official archive (as torchvision does); keys may
    # come back as bytes (b"data") or str depending on who wrote the file, so normalise them.
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _read_batches(
    base: Path, files: list[str], label_key: str
) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for f in files:
        entry = _unpickle(base / f)
        xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(entry[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def _download(name: str, root: Path) -> None:
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    cls(str(root), train=True, download=True)

"""Small fake data sets written in the REAL on-disk formats, for tests and preflight checks.

`write_fake_cifar` writes torchvision's python-pickle layout (dicts with b"data", b"labels" /
b"fine_labels" keys, as `pickle.load(f, encoding="bytes")` shows the official files), and
`write_fake_imagefolder` writes real PNG/JPEG files with PIL. Pixels are random but every image
gets a class-dependent brightness offset, so a model can learn something from them.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def write_fake_cifar(
    root: str | Path, name: str = "cifar10", *, n_train: int = 50, n_test: int = 20, seed: int = 0
) -> Path:
    """Write fake CIFAR-10/100 under root (cifar-10-batches-py/ or cifar-100-python/)."""
    rng = np.random.default_rng(seed)
    classes = 10 if name == "cifar10" else 100

    def batch(n: int, label: str) -> dict[bytes, object]:
        y = rng.integers(0, classes, n)
        x = rng.integers(0, 200, (n, 3072)) + (y[:, None] * 50 // classes)
        entry = {
            b"batch_label": label.encode(),
            b"data": x.astype(np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
        if name == "cifar10":
            entry[b"labels"] = [int(v) for v in y]
        else:
            entry[b"fine_labels"] = [int(v) for v in y]
            entry[b"coarse_labels"] = [int(v) // 5 for v in y]
        return entry

    if name == "cifar10":
        base = Path(root) / "cifar-10-batches-py"
        per = [n_train // 5 + (i < n_train % 5) for i in range(5)]
        files = {
            f"data_batch_{i + 1}": batch(n, f"training batch {i + 1} of 5")
            for i, n in enumerate(per)
        }
        files["test_batch"] = batch(n_test, "testing batch 1 of 1")
        files["batches.meta"] = {
            b"label_names": [f"class{c}".encode() for c in range(classes)],
            b"num_cases_per_batch": per[0],
            b"num_vis": 3072,
        }
    elif name == "cifar100":
        base = Path(root) / "cifar-100-python"
        files = {
            "train": batch(n_train, "training batch 1 of 1"),
            "test": batch(n_test, "testing"),
        }
        files["meta"] = {
            b"fine_label_names": [f"fine{c}".encode() for c in range(classes)],
            b"coarse_label_names": [f"coarse{c}".encode() for c in range(20)],
        }
    else:
        raise ValueError(f"name must be cifar10 or cifar100, got {name!r}")
    base.mkdir(parents=True, exist_ok=True)
    for fname, entry in files.items():
        with open(base / fname, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return base


def write_fake_imagefolder(
    root: str | Path,
    *,
    classes: tuple[str, ...] = ("n01", "n02", "n03"),
    per_class: dict[str, int] | None = None,
    size: tuple[int, int] = (40, 48),
    fmt: str = "PNG",
    tiny_imagenet_val: bool = False,
    seed: int = 0,
) -> Path:
    """Write root/<split>/<class>/img_i.<fmt>; per_class maps split → images per class.

    Default per_class: train 8, val 3 (no test/). `tiny_imagenet_val` writes val/ the way the
    Tiny-ImageNet archive ships it: val/images/*.JPEG plus val_annotations.txt.
    """
    rng = np.random.default_rng(seed)
    per_class = per_class or {"train": 8, "val": 3}
    ext = {"PNG": "png", "JPEG": "JPEG"}[fmt]
    root = Path(root)
    for split, n in per_class.items():
        lines = []
        for c, cls in enumerate(classes):
            folder = root / split / cls
            if split == "val" and tiny_imagenet_val:
                folder = root / "val" / "images"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 150, (size[1], size[0], 3)) + 50 * c % 100
                fname = f"{cls}_{i}.{ext}"
                Image.fromarray(pixels.astype(np.uint8)).save(folder / fname, format=fmt)
                lines.append(f"{fname}\t{cls}\t0\t0\t{size[0]}\t{size[1]}")
        if split == "val" and tiny_imagenet_val:
            (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root

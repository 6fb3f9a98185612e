"""ImageFolder data sets (Tiny-ImageNet layout): root/train/<class>/..., root/val/<class>/...

Every image is decoded once (PIL, a thread pool), converted to RGB, its shorter side resized to
`image_size` and centre-cropped to a square, and the whole split kept as one uint8 tensor
(Tiny-ImageNet at 64 px: 100k train images = 1.2 GB). Files may sit in nested folders under
their class folder (Tiny-ImageNet's train/<wnid>/images/). The original Tiny-ImageNet val/ layout
(val/images/ + val_annotations.txt) is read as well.

Splits: with a labelled root/test/<class>/ the test split is test/ and the validation split is
val/ (val_fraction is then unused); without one, val/ becomes the test split and validation is
carved from train/ — `bundle.sources` records which.

Full ImageNet (1.28 M images, ~190 GB decoded at 224 px) does not fit this decode-once design: it
needs a streaming path (worker-decoded JPEGs, e.g. DALI or a DataLoader) that is NOT built here.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pruning.data.augment import IMAGENET_MEAN, IMAGENET_STD, Augment
from pruning.data.source import RawData

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff"})


def load_imagefolder(
    root: Path | None, *, download: bool, image_size: int | None, pad: int = 4
) -> RawData:
    """Decode root/train, root/val (and root/test if labelled) at image_size (default 64)."""
    if root is None:
        raise ValueError("dataset imagefolder needs dataset.root (a folder with train/ and val/)")
    if download:
        raise ValueError("dataset imagefolder cannot be downloaded; set download=false")
    size = 64 if image_size is None else image_size
    if size < 1:
        raise ValueError(f"image_size must be a positive integer, got {size}")
    for sub in ("train", "val"):
        if not (root / sub).is_dir():
            raise ValueError(
                f"dataset imagefolder: no {sub}/ folder under root {str(root)!r} "
                "(expected root/train/<class>/*, root/val/<class>/*)"
            )
    classes = tuple(sorted(d.name for d in (root / "train").iterdir() if d.is_dir()))
    if not classes:
        raise ValueError(f"dataset imagefolder: no class folders in {root / 'train'}")
    train_x, train_y = _decode_split(str(root), "train", classes, size)
    val_x, val_y = _decode_split(str(root), "val", classes, size)
    raw = RawData(
        train_x,
        train_y,
        val_x,
        val_y,
        len(classes),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        augment=Augment(pad=pad, flip=True),
        sources={"train": f"{root}/train", "test": f"{root}/val (no labelled test/)"},
        classes=classes,
    )
    if _has_class_dirs(root / "test", classes):
        raw.test_x, raw.test_y = _decode_split(str(root), "test", classes, size)
        raw.val_x, raw.val_y = val_x, val_y
        raw.sources.update(val=f"{root}/val", test=f"{root}/test")
    return raw


def _has_class_dirs(folder: Path, classes: tuple[str, ...]) -> bool:
    return folder.is_dir() and any((folder / c).is_dir() for c in classes)


@functools.lru_cache(maxsize=4)
def _decode_split(
    root: str, split: str, classes: tuple[str, ...], size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    # Cached per process: a study's trials in one worker reuse the decoded tensors.
    files, labels = _list_split(Path(root) / split, classes)
    if not files:
        raise ValueError(f"dataset imagefolder: no images found in {Path(root) / split}")
    out = np.empty((len(files), size, size, 3), dtype=np.uint8)

    def decode(i: int) -> None:
        out[i] = _load_image(files[i], size)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(decode, range(len(files))))
    x = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.int64)


def _list_split(folder: Path, classes: tuple[str, ...]) -> tuple[list[Path], list[int]]:
    index = {c: i for i, c in enumerate(classes)}
    annotations = folder / "val_annotations.txt"
    if annotations.is_file() and (folder / "images").is_dir():  # original Tiny-ImageNet val/
        pairs = [line.split("\t")[:2] for line in annotations.read_text().splitlines() if line]
        unknown = sorted({c for _, c in pairs if c not in index})
        if unknown:
            raise ValueError(f"{annotations}: classes not in train/: {', '.join(unknown[:5])}")
        return [folder / "images" / f for f, _ in pairs], [index[c] for _, c in pairs]
    files, labels = [], []
    for c in sorted(d.name for d in folder.iterdir() if d.is_dir()):
        if c not in index:
            raise ValueError(f"dataset imagefolder: class folder {folder / c} is not in train/")
        found = sorted(p for p in (folder / c).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [index[c]] * len(found)
    return files, labels


def _load_image(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        if (w, h) != (size, size):
            scale = size / min(w, h)
            img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))))
            left, top = (img.width - size) // 2, (img.height - size) // 2
            img = img.crop((left, top, left + size, top + size))
        return np.asarray(img, dtype=np.uint8)

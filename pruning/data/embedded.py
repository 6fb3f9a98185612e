"""Data sets that need no download: scikit-learn's digits and generated MNIST-1D.

Both are small real(istic) benchmarks for CPU studies: digits saturates near 99 % and
suits smoke tests; MNIST-1D does not saturate and responds to LR schedules. Neither is augmented
by default (`augment=True` opts in: random shift + flip for digits, random shift for MNIST-1D);
both are standardised with statistics of the training split after the validation carve.

MNIST-1D takes mnist1d's generation arguments as data-set options (noise, shear, scale,
translation, sample counts) plus an `n_train` subset; `mnist1d-hard` is MNIST-1D with the harder
generation MNIST1D_HARD, registered under its own name so a study file selects it by name alone.
Every setting is generated deterministically, offline, once per process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import random
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pruning.data.bundle import stratified_split
from pruning.data.source import RawData, check_fixed_size

DIGITS_TEST_FRACTION = 0.2
DIGITS_TEST_SEED = 0  # fixed: the test split never changes with split_seed
MNIST1D_SEED = 42  # mnist1d's own default, so the data matches the published MNIST-1D
MNIST1D_SUBSET_SEED = 0  # fixed: an n_train subset never changes with split_seed
# "mnist1d-hard", the data set of the CPU mini presets, chosen with bench/choose_benchmark.py
# (bench/results/benchmark_choice.md): with mnist1d's defaults a 1-D ResNet-20 reaches ~98.5 %,
# where the few-point effects of retraining at high sparsity cannot show. Twice mnist1d's i.i.d.
# noise, shear and amplitude-scale range bring a 0.5× ResNet-20-1D to ~88.5 %.
MNIST1D_HARD: dict[str, float | int] = {
    "iid_noise_scale": 0.04,
    "shear_scale": 1.5,
    "scale_coeff": 0.8,
}


def load_digits(root: Path | None, *, download: bool, image_size: int | None) -> RawData:
    """scikit-learn's 1,797 8×8 digits (1 channel, 10 classes); a fixed stratified 20 % test split."""
    check_fixed_size("digits", image_size, 8)
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    x = torch.from_numpy(data.images.astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8), 0..16
    y = torch.from_numpy(data.target.astype(np.int64))
    train, test = stratified_split(y, DIGITS_TEST_FRACTION, DIGITS_TEST_SEED)
    return RawData(
        x[train],
        y[train],
        x[test],
        y[test],
        10,
        sources={
            "train": "sklearn load_digits (80 %)",
            "test": f"sklearn load_digits (stratified 20 %, seed {DIGITS_TEST_SEED})",
        },
        classes=tuple(str(c) for c in range(10)),
    )


def load_mnist1d(
    root: Path | None,
    *,
    download: bool,
    image_size: int | None,
    iid_noise_scale: float = 0.02,
    corr_noise_scale: float = 0.25,
    shear_scale: float = 0.75,
    scale_coeff: float = 0.4,
    max_translation: int = 48,
    num_samples: int = 5000,
    train_split: float = 0.8,
    seed: int = MNIST1D_SEED,
    n_train: int = 0,
) -> RawData:
    """MNIST-1D generated offline (1 channel, length 40, 10 classes); defaults = mnist1d's own.

    The generation options are fields of `mnist1d.data.get_dataset_args()`: i.i.d. and
    correlated noise, shear, amplitude scale, translation, and `num_samples` of which the first
    `train_split` are train and the rest test (defaults: 4000 + 1000). `n_train` > 0 keeps a
    fixed class-stratified subset of that many training samples (test untouched); 0 keeps all.
    """
    check_fixed_size("mnist1d", image_size, 40)
    gen = Mnist1dGeneration(
        float(iid_noise_scale),
        float(corr_noise_scale),
        float(shear_scale),
        float(scale_coeff),
        int(max_translation),
        int(num_samples),
        float(train_split),
        int(seed),
    )
    gen.check()
    if n_train and not 10 <= n_train <= gen.train_size:
        raise ValueError(
            f"n_train for dataset mnist1d must be 0 (all) or in [10, {gen.train_size}], "
            f"got {n_train}"
        )
    x_train, y_train, x_test, y_test = _mnist1d_arrays(gen)
    keep = torch.arange(len(y_train))
    train_source = f"{gen.describe()} first {len(y_train)}"
    if n_train and n_train < len(y_train):
        held = 1 - n_train / len(y_train)
        keep, _ = stratified_split(torch.tensor(y_train), held, MNIST1D_SUBSET_SEED)
        train_source += f", stratified subset of {n_train} (seed {MNIST1D_SUBSET_SEED})"
    return RawData(
        torch.tensor(x_train).unsqueeze(1)[keep],  # copies: the cached arrays stay read-only
        torch.tensor(y_train)[keep],
        torch.tensor(x_test).unsqueeze(1),
        torch.tensor(y_test),
        10,
        sources={"train": train_source, "test": f"{gen.describe()} last {len(y_test)}"},
        classes=tuple(str(c) for c in range(10)),
    )


@dataclass(frozen=True)
class Mnist1dGeneration:
    """The `mnist1d.data.get_dataset_args()` fields a data set may change (hashable: the cache key)."""

    iid_noise_scale: float
    corr_noise_scale: float
    shear_scale: float
    scale_coeff: float
    max_translation: int
    num_samples: int
    train_split: float
    seed: int

    @property
    def train_size(self) -> int:
        # make_dataset() draws num_samples // 10 per class, then cuts at int(n · train_split).
        return int(self.num_samples // 10 * 10 * self.train_split)

    def check(self) -> None:
        """One-line ValueErrors naming the option and its valid range."""
        for name in ("iid_noise_scale", "corr_noise_scale", "shear_scale", "scale_coeff"):
            value = getattr(self, name)
            if not 0 <= value <= 10:
                raise ValueError(f"{name} for dataset mnist1d must be in [0, 10], got {value}")
        if not 1 <= self.max_translation <= 72:
            # mnist1d rolls the padded 72-sample signal by np.random.choice(max_translation).
            raise ValueError(
                f"max_translation for dataset mnist1d must be in [1, 72], got {self.max_translation}"
            )
        if self.num_samples < 20:
            raise ValueError(
                f"num_samples for dataset mnist1d must be >= 20, got {self.num_samples}"
            )
        if not (0 < self.train_split < 1 and 10 <= self.train_size < self.num_samples // 10 * 10):
            raise ValueError(
                "train_split for dataset mnist1d must leave >= 10 training and >= 1 test "
                f"samples of num_samples={self.num_samples}, got {self.train_split}"
            )

    def describe(self) -> str:
        changed = [f"{k}={v}" for k, v in asdict(self).items() if v != asdict(MNIST1D_DEFAULTS)[k]]
        return f"mnist1d.data.make_dataset({', '.join(changed) or f'seed={self.seed}'})"


MNIST1D_DEFAULTS = Mnist1dGeneration(0.02, 0.25, 0.75, 0.4, 48, 5000, 0.8, MNIST1D_SEED)


CACHE_ENV = "PRUNETUNE_CACHE"  # where generated data sets are kept (default ~/.cache/prunetune)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "prunetune")


@functools.cache
def _mnist1d_arrays(
    gen: Mnist1dGeneration,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Generation takes ~4.5 s per 5000 samples and every trial worker process would pay it:
    # the arrays are kept on disk once per setting (generation is deterministic, so the file
    # is exactly what generating again would give) and in memory once per process.
    key = hashlib.sha256(json.dumps(asdict(gen), sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"mnist1d-{_mnist1d_version()}-{key}.npz"
    arrays = _read_cached(path)
    if arrays is None:
        arrays = _generate_mnist1d(gen)
        _write_cached(path, arrays)
    for a in arrays:
        a.flags.writeable = False  # shared by every bundle of this process
    return arrays


def _generate_mnist1d(gen: Mnist1dGeneration) -> tuple[np.ndarray, ...]:
    # make_dataset() reseeds the global `random` and numpy generators; restore them so loading
    # data never changes a caller's RNG.
    from mnist1d.data import get_dataset_args, make_dataset  # generation only, not on a hit

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        args = get_dataset_args()
        for key, value in asdict(gen).items():
            setattr(args, key, value)
        data = make_dataset(args)  # never get_dataset(): it downloads by default
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return (
        data["x"].astype(np.float32),
        data["y"].astype(np.int64),
        data["x_test"].astype(np.float32),
        data["y_test"].astype(np.int64),
    )


_NAMES = ("x", "y", "x_test", "y_test")


def _read_cached(path: Path) -> tuple[np.ndarray, ...] | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            return tuple(stored[name] for name in _NAMES)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # absent or partial: generate
        return None


def _write_cached(path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **dict(zip(_NAMES, arrays, strict=True)))
        os.replace(tmp, path)  # whole or not at all, also with several workers writing it
    except OSError:  # a read-only home: the data is generated in every process instead
        pass


def _mnist1d_version() -> str:
    try:
        return importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"

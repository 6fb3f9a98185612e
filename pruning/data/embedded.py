"""Data sets that need no download: scikit-learn's digits and generated MNIST-1D.

Both are small real(istic) benchmarks for CPU studies (STACK.md): digits saturates near 99 % and
suits smoke tests; MNIST-1D does not saturate and responds to LR schedules. Neither is augmented
by default (`augment=True` opts in: random shift + flip for digits, random shift for MNIST-1D);
both are standardised with statistics of the training split after the validation carve.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import numpy as np
import torch

from pruning.data.bundle import stratified_split
from pruning.data.source import RawData, check_fixed_size

DIGITS_TEST_FRACTION = 0.2
DIGITS_TEST_SEED = 0  # fixed: the test split never changes with split_seed
MNIST1D_SEED = 42  # mnist1d's own default, so the data matches the published MNIST-1D


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


def load_mnist1d(root: Path | None, *, download: bool, image_size: int | None) -> RawData:
    """MNIST-1D generated offline (4000 train + 1000 test, 1 channel, length 40, 10 classes)."""
    check_fixed_size("mnist1d", image_size, 40)
    x_train, y_train, x_test, y_test = _mnist1d_arrays()
    return RawData(
        torch.tensor(x_train).unsqueeze(1),  # copies: the cached arrays stay read-only
        torch.tensor(y_train),
        torch.tensor(x_test).unsqueeze(1),
        torch.tensor(y_test),
        10,
        sources={
            "train": f"mnist1d.data.make_dataset(seed={MNIST1D_SEED}) first 4000",
            "test": f"mnist1d.data.make_dataset(seed={MNIST1D_SEED}) last 1000",
        },
        classes=tuple(str(c) for c in range(10)),
    )


@functools.cache
def _mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Generation takes ~4.5 s, so it runs once per process. make_dataset() reseeds the global
    # `random` and numpy generators; restore them so loading data never changes a caller's RNG.
    from mnist1d.data import get_dataset_args, make_dataset

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        args = get_dataset_args()
        args.seed = MNIST1D_SEED
        data = make_dataset(args)  # never get_dataset(): it downloads by default
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    arrays = (
        data["x"].astype(np.float32),
        data["y"].astype(np.int64),
        data["x_test"].astype(np.float32),
        data["y_test"].astype(np.int64),
    )
    for a in arrays:
        a.flags.writeable = False  # shared by every bundle of this process
    return arrays

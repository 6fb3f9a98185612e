"""One DataBundle per process and data set: Ray reuses trial actors, and loading (MNIST-1D
generation, CIFAR unpickling) costs seconds that a study would otherwise pay per trial."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pruning.data import DataBundle, load
from trainables.trial_plan import Data


def load_bundle(data: Data) -> DataBundle:
    """The study's data set; batches move to the device per step, so the bundle itself stays on
    the host."""
    return _load(data)


@lru_cache(maxsize=4)
def _load(data: Data) -> DataBundle:
    kwargs: dict[str, Any] = {
        "split_seed": data.split_seed,
        "val_fraction": data.val_fraction,
        "download": data.download,
    }
    if data.image_size:  # 0 = the data set's native size
        kwargs["image_size"] = data.image_size
    return load(data.name, data.root or None, **kwargs)

"""One DataBundle per process and data-set description: Ray reuses trial actors, and loading
(MNIST-1D generation, CIFAR unpickling) costs seconds that a study would otherwise pay per trial."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pruning.data import DataBundle, load


def load_bundle(dataset: dict[str, Any]) -> DataBundle:
    """The data set of a spec's dataset section; batches move to the device per step, so the
    bundle itself stays on the host."""
    return _load(json.dumps(dataset, sort_keys=True))


@lru_cache(maxsize=4)
def _load(key: str) -> DataBundle:
    d = json.loads(key)
    kwargs: dict[str, Any] = {
        "split_seed": int(d["split_seed"]),
        "val_fraction": float(d["val_fraction"]),
        "download": bool(d["download"]),
    }
    if d["image_size"]:  # 0 = the data set's native size
        kwargs["image_size"] = int(d["image_size"])
    return load(d["name"], d["root"] or None, **kwargs)

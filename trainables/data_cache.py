"""One DataBundle per process and data-set description: Ray reuses trial actors, and loading
(MNIST-1D generation, CIFAR unpickling) costs seconds that a study would otherwise pay per trial."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pruning.data import DataBundle, load


def load_bundle(dataset: dict[str, Any], *, device: str = "cpu") -> DataBundle:
    del device  # batches move to the device per step; the bundle itself stays on the host
    return _load(json.dumps(dataset, sort_keys=True))


@lru_cache(maxsize=4)
def _load(key: str) -> DataBundle:
    d = json.loads(key)
    kwargs: dict[str, Any] = {
        "split_seed": int(d.get("split_seed", 0)),
        "val_fraction": float(d.get("val_fraction", 0.1)),
        "download": bool(d.get("download", False)),
    }
    if d.get("image_size"):
        kwargs["image_size"] = int(d["image_size"])
    return load(d["name"], d.get("root") or None, **kwargs)

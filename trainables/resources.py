"""Threads and device from the resources Ray Tune gave the trial (not from the machine)."""

from __future__ import annotations

import ray
import torch
from ray import tune


def trial_resources() -> dict[str, float]:
    """{'CPU': n, 'GPU': g} of the running trial; 1 CPU outside Tune."""
    try:
        factory = tune.get_context().get_trial_resources()
    except Exception:  # called outside a Tune trial (direct call in a test)
        factory = None
    if factory is None:  # outside Tune the context answers None (with a warning)
        return {"CPU": 1.0, "GPU": 0.0}
    required = factory.required_resources
    return {"CPU": float(required.get("CPU", 1.0)), "GPU": float(required.get("GPU", 0.0))}


def node_label() -> str:
    """The Ray node the trial runs on, as '<node ip>/<node id prefix>' (MLflow tag ``node``): on
    a cluster it shows where each trial ran, and on one machine the nodes still differ by id."""
    try:
        ctx = ray.get_runtime_context()
        return f"{ray.util.get_node_ip_address()}/{ctx.get_node_id()[:12]}"
    except Exception:  # outside Ray (direct call in a test)
        return "local"


def trial_device_and_threads() -> str:
    """Set torch's thread count to the trial's CPUs; CUDA when the trial holds (part of) a GPU.

    Ray sets CUDA_VISIBLE_DEVICES for a trial with GPU resources, fractional ones included, so
    "cuda" here is the trial's own share of the device.
    """
    res = trial_resources()
    torch.set_num_threads(max(1, int(res["CPU"])))
    if res["GPU"] > 0 and torch.cuda.is_available():
        return "cuda"
    return "cpu"

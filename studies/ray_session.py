"""Starting or joining Ray: embedded (loopback only) by default, a cluster with an address."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from studies.errors import UsageError

# Set before Ray is imported anywhere in the process: a local Ray then binds and advertises
# 127.0.0.1 only instead of the machine's routable address (STACK.md, checked with `ss`).
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    # num_to_keep=1 forces a state snapshot per checkpoint (wanted: resume must find it); the
    # warning about it would otherwise fill the console.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}


def set_loopback_env() -> None:
    for key, value in LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)


def ray_temp_dir(workdir: str) -> str:
    """Ray's session dir; unix socket paths must stay under ~107 bytes, so fall back to /tmp."""
    inside = Path(workdir).resolve() / "ray-tmp"
    if len(str(inside)) <= 60:
        return str(inside)
    return tempfile.mkdtemp(prefix="prunetune-ray-")


def ensure_ray(address: str, workdir: str, *, num_cpus: int | None = None) -> None:
    """ray.init on loopback (embedded) or join ``address``; idempotent within a process."""
    set_loopback_env()
    import ray

    if ray.is_initialized():
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                _temp_dir=ray_temp_dir(workdir),
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(
            f"ray.address {address or '(local)'}: cannot start/join Ray ({first})"
        ) from None

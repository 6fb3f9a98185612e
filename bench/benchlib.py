"""What every performance script of bench/ shares: the machine it ran on, the loopback
environment for Ray/MLflow, medians of paired ratios.

Not a test helper and not part of the package: the scripts import it as a sibling module
(`python bench/<script>.py` puts bench/ first on sys.path).
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

# The same variables studies/ray_session.set_loopback_env() sets; repeated here so that the
# scripts can set them before anything imports Ray or MLflow, and for child processes.
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}


def set_loopback_env() -> dict[str, str]:
    """Set the loopback variables in this process (if unset); returns the environment to
    pass to children."""
    for key, value in LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)
    return dict(os.environ)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def device_name(device: str = "cpu") -> str:
    """GPU name for a CUDA device, else the CPU model with its core count."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()} ({os.cpu_count()} cores)"


def versions(*packages: str) -> str:
    out = []
    for name in ("torch", *packages):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def print_header(title: str, device: str = "cpu", packages: Sequence[str] = ()) -> None:
    """The lines every script starts with: what, where, with which threads and versions."""
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"== {title}")
    print(f"device: {device_name(device)}; CUDA GPU: {cuda}")
    print(f"torch threads: {torch.get_num_threads()} (this process); {load_average()}")
    print(f"versions: {versions(*packages)}; python {platform.python_version()}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    """'median [min–max]' of a few paired measurements."""
    if not values:
        return "n/a"
    return f"{median(values):.3f} [{min(values):.3f}–{max(values):.3f}]"

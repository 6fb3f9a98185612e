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
from typing import Any

# The same variables studies/session/ray_session.set_loopback_env() sets; repeated here so that the
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


# --- timers inside a study's driver and trials (evidence for where the time goes) -------------

# (module, attribute, label) of a trial's steps; nested ones overlap (train() holds the
# per-epoch checkpoint, tune.report and MLflow calls). Missing names are skipped: the code moves.
TRIAL_TIMERS = [
    ("trainables.trial", "load_bundle", "data load (lru-cached per actor)"),
    ("trainables.trial", "get_dense", "dense model load"),
    ("trainables.trial", "TrialRun.open", "MLflow run open (search, create, params)"),
    ("trainables.round_run", "RoundRun.prune", "RoundRun.prune (pruning + its MLflow logs)"),
    ("trainables.round_run", "prune", "  pruning itself (science)"),
    ("trainables.round_run", "train", "train() with its per-epoch callbacks"),
    ("trainables.round_run", "save_checkpoint", "  per-epoch checkpoint write"),
    ("ray.tune", "report", "  tune.report (persist checkpoint, driver round trip)"),
    ("trainables.trial", "save_checkpoint", "final checkpoint write (workdir)"),
    ("trainables.artifacts", "log_trial_artifacts", "artifacts (report, LR figure, model)"),
    ("trainables.artifacts", "lr_curve_figure", "  LR-curve figure (matplotlib)"),
    ("trainables.artifacts", "save_checkpoint", "  model artifact write"),
    ("trainables.trial", "close_trial", "close_trial (summary flush, tags)"),
]
MLFLOW_METHODS = (
    "create_run", "search_runs", "get_run", "update_run", "log_batch", "log_metric",
    "log_dict", "log_figure", "log_artifact", "log_artifacts", "set_terminated",
    "get_metric_history", "set_tag",
)  # fmt: skip
TIMERS_FILE = "bench-trial-timers.jsonl"
_INSTALLED: dict[str, float] = {}  # one set of wrappers per process (actors are reused)


def install_timers(
    timers: list[tuple[str, str, str]], totals: dict[str, float], mlflow: bool = False
) -> None:
    """Wrap each named function with a wall-clock accumulator into `totals` (and, with
    `mlflow`, every MlflowClient method, counting only the outermost of nested client calls)."""
    import importlib
    import time

    def wrap(owner: Any, attr: str, label: str, guard: list[int] | None = None) -> None:
        real = getattr(owner, attr, None)
        if real is None:
            return

        def timed(*a: Any, **k: Any) -> Any:
            outer = guard is None or guard[0] == 0
            if guard is not None:
                guard[0] += 1
            started = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                if guard is not None:
                    guard[0] -= 1
                if outer:
                    totals[label] = totals.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, attr, timed)

    for module, path, label in timers:
        try:
            owner: Any = importlib.import_module(module)
        except ImportError:
            continue
        *parents, attr = path.split(".")
        for name in parents:
            owner = getattr(owner, name, None)
        if owner is not None:
            wrap(owner, attr, label)
    if mlflow:
        from mlflow.tracking import MlflowClient

        depth = [0]
        for method in MLFLOW_METHODS:
            wrap(MlflowClient, method, f"mlflow.{method}", depth)


def instrumented_trial(config: dict[str, Any]) -> None:
    """trainables.trial.prune_retrain with timers around its steps; one JSON line per trial
    (process id, start/end, seconds per step) goes to TIMERS_FILE in the study's workdir."""
    import json
    import time
    from pathlib import Path

    from trainables.trial import prune_retrain

    if not _INSTALLED:
        _INSTALLED["installed"] = time.time()
        install_timers(TRIAL_TIMERS, _INSTALLED, mlflow=True)
    before = dict(_INSTALLED)
    started_at, started = time.time(), time.perf_counter()
    try:
        prune_retrain(config)
    finally:
        steps = {k: v - before.get(k, 0.0) for k, v in _INSTALLED.items() if k != "installed"}
        line = {
            "pid": os.getpid(),
            "started_at": started_at,
            "ended_at": time.time(),
            "trial_s": time.perf_counter() - started,
            "steps": {k: v for k, v in steps.items() if v > 0},
        }
        with open(Path(config["study"].workdir) / TIMERS_FILE, "a") as f:
            f.write(json.dumps(line) + "\n")


def use_instrumented_trial() -> None:
    """Make the studies run in this process use `instrumented_trial` for their search phase.

    Ray pickles this module's functions by value, so the trial workers need no bench/ on their
    path; the search phase looks the trainable up by name when it builds its Tuner."""
    import sys

    import ray.cloudpickle

    import studies.plan.search as search

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    search.prune_retrain = instrumented_trial  # type: ignore[assignment]


def read_trial_timers(workdir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-trial lines `instrumented_trial` wrote, in start order."""
    import json
    from pathlib import Path

    path = Path(workdir) / TIMERS_FILE
    if not path.exists():
        return []
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return sorted(lines, key=lambda x: x["started_at"])


def print_step_table(groups: dict[str, list[dict[str, Any]]]) -> None:
    """Mean seconds per trial of each timed step, one column per group of trials."""
    labels: list[str] = []
    for trials in groups.values():
        for t in trials:
            labels += [k for k in t["steps"] if k not in labels]
    labels.sort(key=lambda k: k.startswith("mlflow."))
    head = "".join(f"{name[:18]:>20}" for name in groups)
    print(f"  {'seconds per trial (indented = inside the line above)':55}{head}")

    def mean(trials: list[dict[str, Any]], key: str | None) -> float:
        if not trials:
            return float("nan")
        if key is None:
            return sum(t["trial_s"] for t in trials) / len(trials)
        if key == "mlflow":
            values = [
                sum(v for k, v in t["steps"].items() if k.startswith("mlflow.")) for t in trials
            ]
            return sum(values) / len(trials)
        return sum(t["steps"].get(key, 0.0) for t in trials) / len(trials)

    for label in [*labels, "mlflow", None]:
        name = {"mlflow": "all MLflow client calls", None: "prune_retrain total"}.get(label, label)
        cells = "".join(f"{mean(trials, label):20.3f}" for trials in groups.values())
        print(f"  {name:55}{cells}")


def child_cpu_seconds(root_pid: int | None = None) -> list[tuple[int, str, float]]:
    """(pid, command, CPU seconds) of every live descendant of `root_pid` (default: this
    process), from /proc: what the helper processes a Ray start spawns have cost so far."""
    root = root_pid or os.getpid()
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    stats: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        stats[int(entry)] = (
            cmd or raw[raw.index("(") + 1 : raw.rindex(")")],
            (int(fields[11]) + int(fields[12])) / tick,
        )
    out = []
    for pid in stats:
        p = parents.get(pid, 0)
        while p and p != root:
            p = parents.get(p, 0)
        if p == root:
            out.append((pid, stats[pid][0], stats[pid][1]))
    return sorted(out, key=lambda x: -x[2])

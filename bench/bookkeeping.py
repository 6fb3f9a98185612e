"""P5: the bookkeeping cost per trial of a study of many near-zero-cost trials, and whether it
stays flat as the study grows.

The study: synthetic data (512 train images of 3×16×16), `smallcnn`, a 1-epoch dense recipe,
L1 0.5, `clr` retrained 1 epoch with its max LR searched by TPE, MLflow and Optuna on SQLite
in a temp workdir, concurrency 2, run in this process through `studies.run(...)` — every
trial does the whole protocol (MLflow run, pruning, checkpoint per epoch, artifacts), only on
tiny data. The baseline, in the same process on the same Ray: Tune + OptunaSearch with the
study's own search space and TPE sampler (`studies.plan.search`), Optuna on SQLite too, the
same concurrency and actor reuse, and a no-op function trainable that reports once. It runs
before and after the study (the machine is shared: the mean of the two brackets the study).

Reported per run: wall per trial of Tune's fit (`Tuner.fit`, i.e. without the once-per-study
costs of P1), the whole `studies.run` per trial, flatness (wall per trial over the first 10 %
vs the last 10 % of trials, from the trials' start/end timestamps: MLflow runs for the study,
the no-op's own reported times for the baseline), and the size of Tune's experiment-state JSON
(plus the searcher state, MLflow and Optuna databases) at the end.

    .venv/bin/python bench/bookkeeping.py [--trials 1000] [--concurrency 2] [--quick]
    .venv/bin/python bench/bookkeeping.py --trials 200 --timers --py-spy /tmp/bk-prof  # evidence
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib

MAX_LR = (0.005, 0.5)


@dataclass
class RunStats:
    """One Tune run of N trials."""

    label: str
    trials: int
    fit_s: float
    total_s: float  # the whole call (for the study: studies.run, start-up and read-back included)
    spans: list[tuple[float, float]] = field(default_factory=list)  # (start, end) per trial
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of the state files

    @property
    def fit_per_trial(self) -> float:
        return self.fit_s / self.trials

    def window(self, first: bool) -> float:
        """Wall per trial over the first (or last) 10 % of trials, ordered by start."""
        spans = sorted(self.spans)
        k = max(1, len(spans) // 10)
        part = spans[:k] if first else spans[-k:]
        return (max(e for _, e in part) - min(s for s, _ in part)) / k if part else math.nan


def study_toml(name: str, args: argparse.Namespace) -> str:
    low, high = MAX_LR
    return f"""
name = "{name}"
description = "bench/bookkeeping.py: many near-zero-cost trials"
[model]
name = "smallcnn"
[dataset]
name = "synthetic"
val_fraction = 0.1
[pretrain]
epochs = 1
lr = 0.05
batch_size = 64
[pruning]
methods = ["l1"]
ratio = [0.5]
[retrain]
schedules = ["clr"]
epochs = [1]
max_lr = {{ low = {low}, high = {high} }}
batch_size = 64
[search]
sampler = "tpe"
trials = {args.trials}
concurrency = {args.concurrency}
seeds = [0]
[resources]
cpu = 1
gpu = 0
"""


def noop_trainable(config: dict[str, Any]) -> None:
    """Reports once: what Tune + OptunaSearch cost with no work and no tracking at all."""
    from ray import tune

    started = time.time()
    score = -abs(math.log10(config["max_lr"]) + 1.5)  # something for TPE to climb
    tune.report({"val_acc": score, "start": started, "end": time.time()})


def run_noop(label: str, spec: Any, workdir: Path, trials: int) -> RunStats:
    """The baseline: the study's space and sampler, a no-op trainable, Optuna on SQLite."""
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from studies.plan.search import define_space, make_sampler

    # no result files to read back (see Spans): Tune's per-trial warning about it is noise
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    storage = optuna.storages.RDBStorage(f"sqlite:///{workdir / f'{label}.optuna.db'}")
    search = OptunaSearch(
        space=define_space(spec),
        metric="val_acc",
        mode="max",
        sampler=make_sampler(spec),
        study_name=label,
        storage=storage,
    )

    class Spans(tune.Callback):
        """The no-op trials' (start, end), kept in memory: Tune's result files are off in
        this process (studies.session.ray_session), as in a study."""

        def __init__(self) -> None:
            self.spans: list[tuple[float, float]] = []

        def on_trial_result(
            self, iteration: int, trials: Any, trial: Any, result: dict, **info: Any
        ) -> None:
            self.spans.append((result["start"], result["end"]))

    collected = Spans()
    tuner = tune.Tuner(
        tune.with_resources(noop_trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(
            search_alg=search,
            num_samples=trials,
            max_concurrent_trials=spec.search.concurrency,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=label, storage_path=str(workdir / "ray-noop"), verbose=0, callbacks=[collected]
        ),
    )
    started = time.perf_counter()
    tuner.fit()
    fit_s = time.perf_counter() - started
    spans = collected.spans
    sizes = state_sizes(workdir / "ray-noop" / label)
    sizes["optuna.db"] = (workdir / f"{label}.optuna.db").stat().st_size
    return RunStats(label, trials, fit_s, fit_s, spans, sizes)


def run_study(name: str, workdir: Path, args: argparse.Namespace) -> RunStats:
    """The study through studies.run, with Tuner.fit and the read-back timed from outside."""
    import studies
    import studies.session.launch as launch

    fits: list[float] = []
    reads: list[float] = []
    real_fit, real_frame = launch._fit, launch.trials_frame

    def timed_fit(tuner: Any) -> bool:
        started = time.perf_counter()
        try:
            return real_fit(tuner)
        finally:
            fits.append(time.perf_counter() - started)

    def timed_frame(record: Any) -> Any:
        started = time.perf_counter()
        try:
            return real_frame(record)
        finally:
            reads.append(time.perf_counter() - started)

    toml = workdir / f"{name}.toml"
    toml.write_text(study_toml(name, args))
    launch._fit, launch.trials_frame = timed_fit, timed_frame  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        studies.run(str(toml), workdir=str(workdir))
        total = time.perf_counter() - started
    finally:
        launch._fit, launch.trials_frame = real_fit, real_frame  # type: ignore[assignment]
    print(f"study read-back (trials_frame): {sum(reads):.1f} s", flush=True)
    spans = trial_spans(workdir, name)
    sizes = state_sizes(workdir / "ray" / name)
    for db in ("mlflow.db", "optuna.db"):
        sizes[db] = (workdir / db).stat().st_size
    return RunStats(name, args.trials, sum(fits), total, spans, sizes)


def trial_spans(workdir: Path, name: str) -> list[tuple[float, float]]:
    """(start, end) in seconds of every search trial's MLflow run, from the SQLite store."""
    import sqlite3

    from studies.session.records import load_record
    from trainables.keys import Role, Tag

    record = load_record(str(workdir), name)  # paths inside the workdir come back absolute
    con = sqlite3.connect(record.tracking_uri.removeprefix("sqlite:///"))
    try:
        rows = con.execute(
            "select r.start_time, r.end_time from runs r "
            "join tags p on p.run_uuid = r.run_uuid and p.key = ? "
            "join tags t on t.run_uuid = r.run_uuid and t.key = ? "
            "where p.value = ? and t.value = ? and r.end_time is not null",
            (Tag.PARENT, Tag.ROLE, record.parent_run_id, str(Role.SEARCH)),
        ).fetchall()
    finally:
        con.close()
    return [(s / 1000, e / 1000) for s, e in rows]


def state_sizes(experiment: Path) -> dict[str, int]:
    """Bytes of Tune's experiment-state JSON and the searcher state at the end."""
    sizes = {}
    for pattern, key in (
        ("experiment_state-*.json", "experiment_state.json"),
        ("searcher-state-*.pkl", "searcher-state.pkl"),
    ):
        files = sorted(experiment.glob(pattern), key=lambda p: p.stat().st_mtime)
        if files:
            sizes[key] = files[-1].stat().st_size
    return sizes


def py_spy_start(out: Path) -> subprocess.Popen[bytes]:
    """py-spy on this process (the driver: Tune's loop, OptunaSearch, experiment-state
    snapshots) while the study runs; --idle keeps the waits, which are wall time too."""
    import os

    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(spy), "record", "--pid", str(os.getpid()), "--idle"]
    cmd += ["--rate", "20", "--format", "raw", "-o", str(out / "bookkeeping.folded")]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def describe(run: RunStats) -> str:
    first, last = run.window(True), run.window(False)
    sizes = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in run.sizes.items())
    return (
        f"{run.label:14} {run.trials:5} trials: fit {run.fit_s:7.1f} s = "
        f"{run.fit_per_trial:.3f} s/trial (whole call {run.total_s / run.trials:.3f} s/trial); "
        f"first 10 % {first:.3f} s/trial, last 10 % {last:.3f} s/trial "
        f"(×{last / first:.2f}); {sizes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="trials per run")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at once (both runs)")
    parser.add_argument(
        "--baseline-runs",
        type=int,
        choices=(1, 2),
        default=2,
        help="no-op runs: 2 = before and after the study, 1 = before only",
    )
    parser.add_argument("--quick", action="store_true", help="40 trials, one baseline run")
    parser.add_argument("--workdir", default=None, help="workdir (default: a temp dir, removed)")
    parser.add_argument("--py-spy", default=None, metavar="DIR", help="profile the study's driver")
    parser.add_argument(
        "--timers",
        action="store_true",
        help="time the steps inside every study trial (first vs last 10 %% of trials)",
    )
    args = parser.parse_args()
    if args.quick:
        args.trials, args.baseline_runs = 40, 1
    benchlib.set_loopback_env()
    import torch

    from studies.session.ray_session import ensure_ray
    from studies.spec import load_spec, resolve

    benchlib.print_header(
        "P5 bookkeeping (bench/bookkeeping.py)", "cpu", ("ray", "optuna", "mlflow")
    )
    print(f"{args.trials} trials per run, concurrency {args.concurrency}, TPE on max_lr {MAX_LR}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="prunetune-bookkeeping-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        toml = workdir / "space.toml"
        toml.write_text(study_toml("bk-space", args))
        spec = resolve(load_spec(str(toml)), workdir=str(workdir))
        ensure_ray(None, str(workdir))  # one Ray for every run of this process
        del torch
        noop = [run_noop("noop-before", spec, workdir, args.trials)]
        print(describe(noop[0]), flush=True)
        if args.timers:
            benchlib.use_instrumented_trial()
        spy = py_spy_start(Path(args.py_spy)) if args.py_spy else None
        try:
            study = run_study("bk-study", workdir, args)
        finally:
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes what it has
                spy.wait(timeout=120)
        print(describe(study), flush=True)
        if args.timers:
            timed = benchlib.read_trial_timers(workdir)[1:]  # the first also pretrains
            k = max(1, len(timed) // 10)
            benchlib.print_step_table({"first 10 %": timed[:k], "last 10 %": timed[-k:]})
        if args.baseline_runs == 2:
            noop.append(run_noop("noop-after", spec, workdir, args.trials))
            print(describe(noop[1]), flush=True)
        base = benchlib.median([r.fit_per_trial for r in noop])  # the mean of one or two
        per = study.fit_per_trial
        print(f"{benchlib.load_average()}")
        print(
            f"bookkeeping: {per:.3f} s/trial vs {base:.3f} s/trial no-op Tune+Optuna "
            f"({per / base:.2f}x)"
        )
    finally:
        import ray

        ray.shutdown()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""P1: what a study costs beyond the science — per trial, and once per study.

One trial through `prunetune run` (a study file this script writes: MNIST-1D, 1-D ResNet-20,
L1 filters at ratio 0.5, one-shot, `clr` at a fixed max LR, E epochs, 1 trial, random sampler,
resources cpu=N) against the same prune + retrain in a bare PyTorch loop (`pruning/` called
directly in a fresh process: same data, the same cached dense model, the same schedule, the
same SGD settings and N torch threads). Both sides must do the same work, so the bare loop
builds its schedule and SGD settings with the trial's own pure helpers
(`trainables.config.round_schedule` / `train_config`, no Ray or MLflow) and the script checks
that both end with the same accuracies.

The dense model is trained once, by an unpaired warm-up study, and cached where every study
of the workdir finds it (`<workdir>/dense/<recipe_key>.pt`, trainables/dense_cache.py); the
bare loop loads the same file. Then pairs run back to back (bare, study, bare, study, ...)
and medians are reported, because the machine is shared:

- per-trial ratio = the trial's `wall_time_s` (MLflow; from just after the dense model is
  loaded to the trial's close-out, so data loading is outside it) / the bare loop's prune +
  retrain wall time (also without data loading);
- fixed study start cost = the `prunetune run` process's wall time − the trial's
  `wall_time_s`, broken down with the MLflow runs' timestamps (driver start, trial start/end,
  study run end, process exit).

    .venv/bin/python bench/overhead.py [--pairs 3] [--epochs 8] [--cpus 1] [--quick]
    .venv/bin/python bench/overhead.py --quick --breakdown   # + one study timed from inside
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import benchlib

SEED = 0


@dataclass
class StudyTiming:
    """One `prunetune run` of a one-trial study, from outside (process) and from MLflow."""

    name: str
    process_s: float  # spawn → exit of `prunetune run`
    to_study_run_s: float  # spawn → the study's MLflow parent run starts (imports, Ray, stores)
    to_trial_run_s: float  # parent run start → trial run start (Tuner, actor, data, dense)
    trial_run_s: float  # trial run start → end in MLflow
    after_trial_s: float  # trial run end → parent run end (Tune teardown, sweeps)
    exit_s: float  # parent run end → process exit (results read back, summary, Ray down)
    wall_time_s: float  # the trial's own metric
    final_val_acc: float
    final_test_acc: float

    @property
    def fixed_s(self) -> float:
        return self.process_s - self.wall_time_s


@dataclass
class BareTiming:
    """The same work in a bare loop, in a fresh process."""

    process_s: float  # spawn → exit
    startup_s: float  # spawn → main() running (interpreter, imports)
    data_s: float
    dense_s: float
    prune_s: float
    train_s: float
    final_val_acc: float
    final_test_acc: float

    @property
    def work_s(self) -> float:
        return self.prune_s + self.train_s


def study_toml(name: str, args: argparse.Namespace, trials: int = 1) -> str:
    # A one-value list for max_lr, ratio, epochs and seeds: nothing is searched, the random
    # sampler only has to produce the one point.
    return f"""
name = "{name}"
description = "bench/overhead.py: one trial"
[model]
name = "resnet20"
[dataset]
name = "mnist1d"
val_fraction = 0.1
split_seed = 0
[pretrain]
epochs = {args.pretrain_epochs}
schedule = "step"
lr = 0.1
milestones = [0.5, 0.75]
batch_size = 64
[pruning]
methods = ["l1"]
ratio = [{args.ratio}]
schedule = "one-shot"
[retrain]
schedules = ["clr"]
epochs = [{args.epochs}]
max_lr = [{args.max_lr}]
batch_size = 64
[search]
sampler = "random"
trials = {trials}
concurrency = 1
seeds = [{SEED}]
[resources]
cpu = {args.cpus}
gpu = 0
"""


def prunetune_cmd() -> list[str]:
    script = Path(sys.executable).with_name("prunetune")
    return [str(script)] if script.exists() else [sys.executable, "-m", "studies.cli"]


def run_study(name: str, args: argparse.Namespace, workdir: Path) -> StudyTiming:
    toml = workdir / f"{name}.toml"
    toml.write_text(study_toml(name, args))
    cmd = [*prunetune_cmd(), "run", str(toml), "--workdir", str(workdir)]
    log = workdir / f"{name}.log"
    env = benchlib.set_loopback_env()
    started = time.time()
    with open(log, "w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    ended = time.time()
    if rc != 0:
        raise RuntimeError(f"prunetune run {name} exited {rc}; see {log}")
    return read_study(name, workdir, started, ended)


def read_study(name: str, workdir: Path, started: float, ended: float) -> StudyTiming:
    """Timestamps and metrics of the study's runs, straight from MLflow's SQLite store (the
    table layout of MLflow's SQLAlchemy store: runs, tags, latest_metrics)."""
    from studies.session.records import load_record
    from trainables.keys import Metric, Role, Tag

    record = load_record(str(workdir), name)  # paths inside the workdir come back absolute
    db = record.tracking_uri.removeprefix("sqlite:///")
    parent = record.parent_run_id
    con = sqlite3.connect(db)
    try:
        p_start, p_end = con.execute(
            "select start_time, end_time from runs where run_uuid = ?", (parent,)
        ).fetchone()
        rows = con.execute(
            "select r.run_uuid, r.start_time, r.end_time from runs r "
            "join tags p on p.run_uuid = r.run_uuid and p.key = ? "
            "join tags t on t.run_uuid = r.run_uuid and t.key = ? "
            "where p.value = ? and t.value = ?",
            (Tag.PARENT, Tag.ROLE, parent, str(Role.SEARCH)),
        ).fetchall()
        if len(rows) != 1:
            raise RuntimeError(f"study {name}: expected 1 trial run, found {len(rows)}")
        run_id, t_start, t_end = rows[0]
        metrics = dict(
            con.execute(
                "select key, value from latest_metrics where run_uuid = ?", (run_id,)
            ).fetchall()
        )
    finally:
        con.close()
    return StudyTiming(
        name=name,
        process_s=ended - started,
        to_study_run_s=p_start / 1000 - started,
        to_trial_run_s=(t_start - p_start) / 1000,
        trial_run_s=(t_end - t_start) / 1000,
        after_trial_s=(p_end - t_end) / 1000,
        exit_s=ended - p_end / 1000,
        wall_time_s=float(metrics[Metric.WALL_TIME]),
        final_val_acc=float(metrics[Metric.FINAL_VAL_ACC]),
        final_test_acc=float(metrics[Metric.FINAL_TEST_ACC]),
    )


def run_bare(spec: dict[str, Any], dense: Path, args: argparse.Namespace, tmp: Path) -> BareTiming:
    job = tmp / "bare.json"
    out = tmp / "bare.out.json"
    job.write_text(
        json.dumps(
            {
                "spec": spec,
                "dense": str(dense),
                "cpus": int(args.cpus),
                "epochs": args.epochs,
                "max_lr": args.max_lr,
                "ratio": args.ratio,
                "nice": args.bare_nice,
                "out": str(out),
            }
        )
    )
    started = time.time()
    subprocess.run(
        [sys.executable, __file__, "--bare-worker", str(job)],
        check=True,
        env=benchlib.set_loopback_env(),
    )
    ended = time.time()
    got = json.loads(out.read_text())
    return BareTiming(
        process_s=ended - started,
        startup_s=got.pop("main_at") - started,
        **got,
    )


def bare_worker(job_path: str) -> None:
    """The bare loop: load data and the dense model, prune, retrain; timings as JSON."""
    main_at = time.time()
    import os

    import torch

    from pruning.checkpoint import load_checkpoint
    from pruning.methods import PruneContext, PruneTarget, prune
    from pruning.train import train
    from studies.spec.contract import plan_of_record
    from trainables.config import round_schedule, train_config
    from trainables.data_cache import load_bundle

    job = json.loads(Path(job_path).read_text())
    plan = plan_of_record(job["spec"])
    os.nice(job["nice"])  # Ray's trial workers run at RAY_worker_niceness (15)
    torch.set_num_threads(job["cpus"])  # what trial_device_and_threads() does with cpu=N
    t0 = time.perf_counter()
    bundle = load_bundle(plan.data)
    t1 = time.perf_counter()
    model = load_checkpoint(job["dense"]).model
    t2 = time.perf_counter()
    batch = plan.retrain.sgd.batch_size
    # The trial's pruning call (trainables/round_run.RoundRun.prune), round 1 of one.
    ctx = PruneContext.for_model(
        model,
        shape=bundle.shape,
        num_classes=bundle.num_classes,
        seed=SEED * 1000 + 1,
        masks=None,
        include_fc=plan.pruning.include_fc,
        previous_weights=None,
        loss_batches=lambda: bundle.train_batches(batch, epoch_seed=SEED, device="cpu"),
    )
    model, report = prune(model.cpu(), "l1", PruneTarget(ratio=job["ratio"]), ctx)
    t3 = time.perf_counter()
    schedule = round_schedule(
        plan,
        "clr",
        job["epochs"],
        job["max_lr"],
        job["ratio"],
        1,
        bundle.steps_per_epoch(batch),
    )
    cfg = train_config(plan.retrain.sgd, seed=SEED, device="cpu")
    result = train(model, bundle, schedule, cfg, masks=report.masks)
    t4 = time.perf_counter()
    final = result.final
    assert final is not None
    Path(job["out"]).write_text(
        json.dumps(
            {
                "main_at": main_at,
                "data_s": t1 - t0,
                "dense_s": t2 - t1,
                "prune_s": t3 - t2,
                "train_s": t4 - t3,
                "final_val_acc": final.val_acc,
                "final_test_acc": final.test_acc,
            }
        )
    )


def dense_file(workdir: Path, name: str) -> tuple[dict[str, Any], Path]:
    """The validated spec a study recorded and the dense model its trials load."""
    from studies.session.records import load_record
    from studies.spec.contract import plan_of_record

    spec = load_record(str(workdir), name).spec
    path = workdir / "dense" / f"{plan_of_record(spec).dense_key(SEED)}.pt"
    if not path.exists():
        raise RuntimeError(f"warm-up study left no dense model at {path}")
    return spec, path


# --- where the time goes: one extra study, timed from inside (--breakdown) -------------------

DRIVER_TIMERS = [
    ("studies.session.launch", "preflight", "preflight checks"),
    ("studies.session.launch", "ensure_ray", "ray.init (embedded, loopback)"),
    ("studies.session.launch", "_open_study", "Optuna claim + MLflow parent run + record"),
    ("studies.session.launch", "_fit", "Tuner.fit (the trial, actor start, result handling)"),
    ("studies.session.launch", "kill_unfinished_trial_runs", "sweep of RUNNING trial runs"),
    ("studies.session.launch", "end_study_run", "end the parent run"),
    ("studies.session.launch", "trials_frame", "results read back from MLflow"),
]


def breakdown(args: argparse.Namespace, workdir: Path) -> None:
    """One study in this process with timers in the driver and in the trial worker: N trials
    one after another in one reused actor, so the first trial (cold actor: imports, data,
    MLflow store) and the later ones (what every further trial costs) are told apart."""
    import ray

    import studies

    import_s = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t = time.perf_counter(); import studies.session.launch; "
            "print(time.perf_counter() - t)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=benchlib.set_loopback_env(),
    ).stdout.strip()
    driver: dict[str, float] = {}
    benchlib.install_timers(DRIVER_TIMERS, driver)
    benchlib.use_instrumented_trial()
    toml = workdir / "ovh-breakdown.toml"
    toml.write_text(study_toml("ovh-breakdown", args, trials=args.breakdown_trials))
    started = time.perf_counter()
    studies.run(str(toml), workdir=str(workdir))
    run_s = time.perf_counter() - started
    helpers = benchlib.child_cpu_seconds()  # Ray's processes, before they go away
    t = time.perf_counter()
    ray.shutdown()
    shutdown_s = time.perf_counter() - t
    trials = benchlib.read_trial_timers(workdir)
    print()
    print(f"driver, one {len(trials)}-trial study in this process (s):")
    print(f"  {'import studies.session.launch (fresh process)':55} {float(import_s):7.2f}")
    for label, value in driver.items():
        print(f"  {label:55} {value:7.2f}")
    print(f"  {'studies.run total':55} {run_s:7.2f}")
    print(f"  {'ray.shutdown':55} {shutdown_s:7.2f}")
    fit = driver.get(DRIVER_TIMERS[3][2], float("nan"))
    inside = sum(t["trial_s"] for t in trials)
    print(f"  {'Tuner.fit − time inside the trial functions':55} {fit - inside:7.2f}")
    print("CPU seconds of the processes Ray started (alive at the end of the study):")
    for pid, cmd, cpu in helpers[:12]:
        print(f"  {cpu:7.1f}  {pid:7}  {cmd[:100]}")
    print("trial worker, inside prune_retrain:")
    benchlib.print_step_table({"first trial": trials[:1], "later trials (mean)": trials[1:]})


def report(bare: list[BareTiming], studies: list[StudyTiming]) -> None:
    print()
    print(
        "pair | bare: process / data / prune+train s | study: process / to study run / "
        "to trial run / trial run / after trial / exit / wall_time_s | ratio"
    )
    for i, (b, s) in enumerate(zip(bare, studies, strict=True), 1):
        print(
            f"{i:4} | {b.process_s:6.1f} / {b.data_s:4.1f} / {b.work_s:6.1f} | "
            f"{s.process_s:6.1f} / {s.to_study_run_s:5.1f} / {s.to_trial_run_s:5.1f} / "
            f"{s.trial_run_s:6.1f} / {s.after_trial_s:4.1f} / {s.exit_s:4.1f} / "
            f"{s.wall_time_s:6.1f} | {s.wall_time_s / b.work_s:.3f}"
        )
    med = benchlib.median
    ratios = [s.wall_time_s / b.work_s for b, s in zip(bare, studies, strict=True)]
    span_ratios = [s.trial_run_s / b.work_s for b, s in zip(bare, studies, strict=True)]
    fixed = [s.fixed_s for s in studies]
    share = [s.fixed_s / s.process_s for s in studies]
    same = all(
        abs(b.final_val_acc - s.final_val_acc) < 1e-9
        and abs(b.final_test_acc - s.final_test_acc) < 1e-9
        for b, s in zip(bare, studies, strict=True)
    )
    print()
    print(f"same final val/test accuracies in the bare loop and the study: {same}")
    print(f"bare prune + retrain s        : {benchlib.spread([b.work_s for b in bare])}")
    print(f"bare data load s              : {benchlib.spread([b.data_s for b in bare])}")
    print(f"bare process s                : {benchlib.spread([b.process_s for b in bare])}")
    print(f"study process s               : {benchlib.spread([s.process_s for s in studies])}")
    print("fixed cost, by phase (median s):")
    print(f"  spawn → study run opened    : {med([s.to_study_run_s for s in studies]):6.1f}")
    print(f"  → trial run opened          : {med([s.to_trial_run_s for s in studies]):6.1f}")
    print(
        f"  trial run − wall_time_s     : {med([s.trial_run_s - s.wall_time_s for s in studies]):6.1f}"
    )
    print(f"  trial run end → study end   : {med([s.after_trial_s for s in studies]):6.1f}")
    print(f"  study run end → exit        : {med([s.exit_s for s in studies]):6.1f}")
    print(f"per-trial ratio, MLflow run span / bare prune+train : {benchlib.spread(span_ratios)}")
    print(f"per-trial ratio, wall_time_s / bare prune+train     : {benchlib.spread(ratios)}")
    print(
        f"fixed study start cost: {med(fixed):.1f} s ({100 * med(share):.0f} % of a one-trial study)"
    )
    print(f"per-trial overhead: {med(ratios):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pairs", type=int, default=3, help="(bare, study) pairs, ≥ 3 for medians"
    )
    parser.add_argument("--epochs", type=int, default=8, help="retraining epochs of the trial")
    parser.add_argument("--pretrain-epochs", type=int, default=10, help="dense recipe epochs")
    parser.add_argument("--max-lr", type=float, default=0.1, help="clr's fixed peak LR")
    parser.add_argument("--ratio", type=float, default=0.5, help="L1 filter pruning ratio")
    parser.add_argument(
        "--cpus", type=int, default=1, help="trial CPUs = torch threads, both sides"
    )
    parser.add_argument(
        "--bare-nice",
        type=int,
        default=15,
        help="niceness of the bare loop: Ray starts trial workers at nice 15 "
        "(RAY_worker_niceness), so on a shared machine both sides then yield alike",
    )
    parser.add_argument("--workdir", default=None, help="study workdir (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp workdir")
    parser.add_argument(
        "--quick", action="store_true", help="2 epochs, 2 pretrain epochs, 2 pairs"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also run one study in this process with timers in the driver and the trials",
    )
    parser.add_argument(
        "--breakdown-trials", type=int, default=3, help="trials of the --breakdown study"
    )
    parser.add_argument("--json", default=None, help="write every timing as JSON here")
    parser.add_argument("--bare-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        bare_worker(args.bare_worker)
        return
    if args.quick:
        args.epochs, args.pretrain_epochs = 2, 2
    if args.pairs is None:
        args.pairs = 2 if args.quick else 3
    benchlib.set_loopback_env()
    import torch

    torch.set_num_threads(args.cpus)
    benchlib.print_header(
        "P1 study overhead (bench/overhead.py)", "cpu", ("ray", "mlflow", "optuna")
    )
    print(
        f"mnist1d / resnet20 (1-D) / l1 {args.ratio} one-shot / clr max_lr {args.max_lr} / "
        f"{args.epochs} epochs / cpu={args.cpus} / {args.pairs} pairs / bare loop at nice "
        f"{args.bare_nice} (Ray's trial workers: 15)"
    )
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="prunetune-overhead-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        warm = run_study("ovh-warmup", args, workdir)  # trains and caches the dense model
        print(f"warm-up study (dense pretraining included): {warm.process_s:.1f} s")
        spec, dense = dense_file(workdir, "ovh-warmup")
        bare: list[BareTiming] = []
        studies: list[StudyTiming] = []
        for i in range(1, args.pairs + 1):
            bare.append(run_bare(spec, dense, args, workdir))
            studies.append(run_study(f"ovh-{i}", args, workdir))
            print(
                f"pair {i}: bare {bare[-1].work_s:.1f} s, trial {studies[-1].wall_time_s:.1f} s,"
                f" study process {studies[-1].process_s:.1f} s; {benchlib.load_average()}",
                flush=True,
            )
        if args.breakdown:
            breakdown(args, workdir)
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "args": vars(args),
                        "bare": [asdict(b) for b in bare],
                        "studies": [asdict(s) for s in studies],
                    },
                    indent=1,
                )
            )
        if studies:  # --pairs 0: the breakdown alone
            report(bare, studies)
    finally:
        if not (args.keep or args.workdir):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

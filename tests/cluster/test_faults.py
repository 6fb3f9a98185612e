"""Faults injected into real studies, checked by what the stores hold afterwards.

- a worker node SIGKILLed mid-trial (cluster): the trial resumes from its last epoch checkpoint
  on another node and ends with exactly the metrics of its uninterrupted twin;
- the driver SIGKILLed (embedded default) right after the first trial started, mid-epoch, or
  after a trial finished: `prunetune resume` finishes the study, nothing runs twice, no Ray
  process of the killed driver is left;
- one study, one driver: a second `run` and a `resume` of a live study are refused, and a
  `resume` is accepted at once after the driver is SIGKILLed;
- the MLflow server down at launch (nothing starts) and for 30 s mid-study (cluster: the trials
  train on, every epoch reaches MLflow once);
- PostgreSQL (Optuna storage and MLflow's backend) restarted mid-study;
- four concurrent trials on different nodes needing the same dense model: it is trained once.

Every trial of these studies has the same config (FAULT_STUDY: one value per dimension, seed
0, CPU), so any trial is the uninterrupted twin of any other. Each test prints its figures
(nodes, trials, the fault, MLflow rows lost/duplicated, Optuna states) and the session ends
with them as one table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import procs
from tests.cluster.helpers import (
    EPOCH_KEYS,
    Driver,
    FaultFigures,
    StorePoller,
    StudyFacts,
    checkpoints_reported,
    describe_pids,
    ensure_workers,
    fault_figures_table,  # noqa: F401 — a fixture, used by name
    poll_until,
    prunetune_cmd,
    ray_sessions,
    reap_workdir_processes,
    report_figures,
    session_processes,
    short_workdir,
    study_facts,
    tune_trials,
    write_fault_study,
)
from tests.cluster.services import MlflowServer, Postgres, RayCluster, free_port, service_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.faults,
    pytest.mark.usefixtures("fault_figures_table"),
]

DRIVER_TIMEOUT_S = 600  # a whole study on a loaded 2-core machine, with a fault inside
POINT_TIMEOUT_S = 300  # until the stores show the point where the fault is injected
PG_DOWN_S = 8.0  # PostgreSQL's outage: several epochs' worth of Optuna reports


def _env() -> dict[str, str]:
    return service_env(PYTHONUNBUFFERED="1")


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A short workdir (an embedded Ray's session dir stays inside it), removed afterwards
    with every process that still refers to it; the drivers' logs and the study records are
    kept in the test's tmp_path."""
    path = short_workdir()
    try:
        yield path
    finally:
        left = reap_workdir_processes(path, [])
        kept_files = [*path.glob("*.log"), *path.glob("studies/*.json")]
        for kept in [*kept_files, *path.glob("ray/*/experiment_state-*.json")]:
            shutil.copy(kept, tmp_path / kept.name)
        shutil.rmtree(path, ignore_errors=True)
        if left:  # the test body asserts on orphans where it matters; here we only clean up
            print(f"\nreaped {len(left)} processes left in {path}")


def _sqlite_urls(workdir: Path) -> tuple[str, str]:
    return f"sqlite:///{workdir / 'mlflow.db'}", f"sqlite:///{workdir / 'optuna.db'}"


def _record(workdir: Path, name: str) -> Any:
    from studies.session.records import load_record

    return load_record(str(workdir), name)


def _assert_finished(facts: StudyFacts, trials: int, output: str, experiment: Path) -> None:
    """The end state every fault must reach: Optuna all COMPLETE, MLflow every trial run once,
    FINISHED, each epoch once, each close-out once, nothing RUNNING; Tune's experiment (its
    state file in `experiment`) holds every trial TERMINATED, none ERROR."""
    runs = "\n".join(
        f"  {r.info.run_name} {r.info.status} status={r.data.tags.get('status')} "
        f"tune_trial={r.data.tags.get('tune_trial')} epochs={len(facts.steps(r.info.run_id))} "
        f"final/wall_time_s={facts.final_rows[r.info.run_id]}"
        for r in facts.trials
    )
    where = f"\nOptuna {dict(facts.optuna)}\ntrial runs:\n{runs}\ndriver:\n{output[-6000:]}"
    assert facts.optuna["RUNNING"] == 0, where
    assert facts.optuna["COMPLETE"] == trials, where
    assert facts.running == [], where
    assert facts.parents == ["FINISHED"], where
    tune_state = tune_trials(experiment)
    # A trial the driver started after Tune's last state snapshot is unknown to the resumed
    # Tune: its run must end KILLED and its Optuna trial FAIL (never RUNNING), and a new trial
    # takes its place. Every trial Tune knows has exactly one run.
    unknown = [
        r for r in facts.trials
        if not any(tid in r.data.tags.get("tune_trial", "") for tid in tune_state)
    ]  # fmt: skip
    assert all(r.info.status == "KILLED" for r in unknown), f"an unknown trial's run{where}"
    assert facts.optuna["FAIL"] >= len(unknown), where
    assert len(facts.trials) - len(unknown) == trials, f"a trial has more than one run{where}"
    assert len(facts.finished_trials) == trials, f"a trial run is not FINISHED+completed{where}"
    assert facts.rows_lost == 0 and facts.rows_duplicated == 0, f"{facts.gaps}{where}"
    for run in facts.finished_trials:
        rows = facts.final_rows[run.info.run_id]
        assert len(rows) == 1, f"{run.info.run_name} closed out {len(rows)} times{where}"
    tune = {tid: (t["status"], t["num_failures"]) for tid, t in tune_state.items()}
    assert len(tune) == trials, f"Tune trials {tune}{where}"
    assert {status for status, _ in tune.values()} == {"TERMINATED"}, f"Tune trials {tune}{where}"


def _report_cluster(
    key: str,
    fault: str,
    cluster: RayCluster,
    trials: int,
    facts: StudyFacts,
    began: float,
    note: str,
) -> None:
    """The figures of a fault injected on the multi-node cluster, counted from the stores."""
    report_figures(
        FaultFigures(
            key, fault, nodes=len(cluster.workers), trials=trials, rows_lost=facts.rows_lost,
            rows_duplicated=facts.rows_duplicated, optuna=facts.optuna,
            seconds=time.monotonic() - began, note=note,
        )
    )  # fmt: skip


def _same_metrics(facts: StudyFacts, run_a: str, run_b: str) -> None:
    """Two trial runs of the same config hold the same per-epoch and final values."""
    for key in EPOCH_KEYS:
        assert facts.values(run_a, key) == facts.values(run_b, key), key
    a = next(r for r in facts.trials if r.info.run_id == run_a).data.metrics
    b = next(r for r in facts.trials if r.info.run_id == run_b).data.metrics
    for key in ("final/val_acc", "final/test_acc", "final/best_val_acc", "final/sparsity"):
        assert a[key] == b[key], key


# --------------------------------------------------------------------------------------------
# 1. a worker node lost mid-trial


def test_worker_node_killed_mid_trial(
    ray_cluster: RayCluster, mlflow_pg: MlflowServer, postgres: Postgres, tmp_path: Path
) -> None:
    """SIGKILL the node of a trial that reported ≥ 3 epochs: the trial resumes from its last
    epoch checkpoint on another node and ends equal to its uninterrupted twin, each epoch
    once in MLflow."""
    began = time.monotonic()
    name, trials, epochs = "fault-node-kill", 2, 20
    ensure_workers(ray_cluster, 2)
    study = write_fault_study(tmp_path, name, trials=trials, epochs=epochs, max_failures=1)
    workdir = tmp_path / "runs"
    driver = Driver.start(
        [
            "run", str(study), "--address", ray_cluster.address,
            "--tracking-uri", mlflow_pg.uri, "--storage", postgres.optuna_url,
            "--workdir", str(workdir),
        ],
        cwd=tmp_path, env=_env(), log_path=tmp_path / "driver.log",
    )  # fmt: skip
    poller = StorePoller(postgres.mlflow_url, postgres.optuna_url, name)
    replacement = None
    try:

        def victim() -> dict[str, Any] | None:
            assert driver.alive(), driver.output()[-3000:]
            running = [
                r for r in poller.trial_runs()
                if r["status"] == "RUNNING" and 3 <= r["epochs"] <= epochs - 5 and r["node"]
            ]  # fmt: skip
            return running[0] if running else None

        # ≥ 3 epochs: MLflow gets an epoch's row just before Tune gets its checkpoint, and the
        # driver registers that checkpoint a moment later; at 1 row there may be none yet.
        run = poll_until(victim, POINT_TIMEOUT_S, "a trial with ≥ 3 epochs in MLflow")
        node_id = run["node"].split("/", 1)[1]
        (index,) = [i for i, w in ray_cluster.workers.items() if w.node_id.startswith(node_id)]
        ray_cluster.kill_worker(index)
        killed_at = time.time()
        # The retry finds room on the twin's node once the twin ends, or on this replacement,
        # which also gives the cluster back its size for the other tests.
        replacement = ray_cluster.launch_worker()
        assert driver.wait(DRIVER_TIMEOUT_S) == 0, driver.output()[-4000:]
    finally:
        poller.dispose()
        if driver.alive():
            driver.sigkill()
        if replacement is not None:
            ray_cluster.wait_worker(replacement)

    facts = study_facts(mlflow_pg.uri, postgres.optuna_url, name, epochs)
    _assert_finished(facts, trials, driver.output(), workdir / "ray" / name)
    retried = next(r for r in facts.trials if r.info.run_id == run["run_id"])
    twin = next(r for r in facts.trials if r.info.run_id != run["run_id"])
    assert retried.data.tags["node"] != run["node"], "the trial did not move to another node"
    stamps = [ts for _, _, ts in facts.histories[run["run_id"]]["acc/val"]]
    before = sum(ts <= killed_at * 1000 for ts in stamps)
    assert 1 <= before < epochs, "the epochs did not straddle the kill"
    _same_metrics(facts, run["run_id"], twin.info.run_id)
    # Tune's view: one failure, then the retry went on from a checkpoint, not from scratch.
    (tune_trial,) = [
        t for tid, t in tune_trials(workdir / "ray" / name).items()
        if tid in retried.data.tags["tune_trial"]
    ]  # fmt: skip
    assert tune_trial["status"] == "TERMINATED" and tune_trial["num_failures"] == 1, tune_trial
    assert tune_trial["epoch"] == tune_trial["training_iteration"] == epochs, tune_trial
    restored_at = epochs - tune_trial["iterations_since_restore"]
    assert 1 <= restored_at <= before, f"not resumed from an epoch checkpoint: {tune_trial}"
    _report_cluster(
        "worker_node_killed",
        "worker node SIGKILLed mid-trial (cluster)",
        ray_cluster,
        trials,
        facts,
        began,
        f"killed after epoch {before}/{epochs}, resumed from epoch {restored_at} on "
        "another node; metrics = twin's",
    )


# --------------------------------------------------------------------------------------------
# 2. the driver SIGKILLed; 3. one study, one driver


def _kill_point(point: str, epochs: int, trials: int) -> Callable[[StorePoller], bool]:
    def started(p: StorePoller) -> bool:
        return any(r["status"] == "RUNNING" and r["epochs"] == 0 for r in p.trial_runs())

    def mid_epoch(p: StorePoller) -> bool:
        return any(r["status"] == "RUNNING" and 1 <= r["epochs"] < epochs for r in p.trial_runs())

    def trials_finished(p: StorePoller) -> bool:
        return 1 <= p.optuna_states()["COMPLETE"] < trials

    return {"trial-started": started, "mid-epoch": mid_epoch, "trials-finished": trials_finished}[
        point
    ]


@dataclass
class KillRun:
    """What one "driver SIGKILLed, then `prunetune resume`" scenario saw, for the tests to
    assert on (the scenario itself asserts nothing but its own progress)."""

    point: str
    name: str
    trials: int
    epochs: int
    workdir: Path
    driver: Driver
    killed_at: float = 0.0  # wall clock
    kill_s: float = 0.0  # since the scenario began
    epochs_at_kill: int = 0  # acc/val rows of the trial runs when the fault hit
    finished_at_kill: dict[str, int] = field(default_factory=dict)  # run id → end_time
    refusals: list[tuple[int | None, str]] = field(default_factory=list)  # (rc, stderr)
    sessions_at_kill: list[str] = field(default_factory=list)
    records: tuple[Any, Any] | None = None  # the record before/after the refused commands
    lease_at_kill: int | None = None
    left_by_kill: set[int] = field(default_factory=set)
    resume: Driver | None = None
    resume_s: float = 0.0
    # Processes of the killed driver's Ray still alive once the resuming driver has started
    # its own Ray (its reaper has run by then), and once the resume has ended.
    missed_by_reaper: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    session: Path | None = None


def _kill_and_resume(point: str, workdir: Path, *, second_driver: bool = False) -> KillRun:
    """Run a study with the embedded Ray, SIGKILL its driver at `point`, `prunetune resume`
    it. With `second_driver`, a second `run` and a `resume` are started as soon as the
    driver holds the lease, and the driver is frozen (SIGSTOP) at `point` until both have
    answered: it stays the live lease holder however long they take."""
    began = time.monotonic()
    name, epochs = f"kill-{point}", 20
    trials = 3 if point == "trials-finished" else 2
    study = write_fault_study(workdir, name, trials=trials, epochs=epochs, concurrency=2)
    driver = Driver.start(
        ["run", str(study), "--workdir", str(workdir)],
        cwd=workdir, env=_env(), log_path=workdir / "driver.log",
    )  # fmt: skip
    run = KillRun(point, name, trials, epochs, workdir, driver)
    lease = workdir / "studies" / f"{name}.lease"
    poller = StorePoller(*_sqlite_urls(workdir), name)
    second: list[subprocess.Popen[str]] = []
    try:
        if second_driver:
            poll_until(lambda: _lease_or_dead(lease, driver), POINT_TIMEOUT_S, "the lease")
            commands = (["run", str(study)], ["resume", name])  # seconds of imports: start now
            second = [_popen(*args, "--workdir", str(workdir), cwd=workdir) for args in commands]
        reached = _kill_point(point, epochs, trials)

        def at_point() -> bool:
            assert driver.alive(), driver.output()[-3000:]
            return reached(poller)

        poll_until(at_point, POINT_TIMEOUT_S, f"kill point {point}", step=0.05)
        run.epochs_at_kill = sum(r["epochs"] for r in poller.trial_runs())
        if second_driver:
            os.kill(driver.pid, signal.SIGSTOP)
            before = _record(workdir, name)
            answers = [p.communicate(timeout=300) for p in second]
            run.refusals = [
                (p.returncode, err) for p, (_, err) in zip(second, answers, strict=True)
            ]
            run.records = (before, _record(workdir, name))
        run.sessions_at_kill = sorted(p.name for p in (workdir / "ray-tmp").glob("session_2*"))
        run.lease_at_kill = _lease_holder(lease)
        run.killed_at = driver.sigkill()
        run.kill_s = time.monotonic() - began
        print(f"\n{point}: driver {driver.pid} SIGKILLed at {run.killed_at * 1000:.0f} ms")
        run.finished_at_kill = {
            r["run_id"]: r["end_time"] for r in poller.trial_runs() if r["status"] == "FINISHED"
        }
    finally:
        poller.dispose()
        for proc in second:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        if driver.alive():
            driver.sigkill()
    (run.session,) = ray_sessions(workdir / "ray-tmp", driver.pid)
    run.left_by_kill = session_processes(run.session, driver.pid)
    resume_began = time.monotonic()
    run.resume = Driver.start(
        ["resume", name, "--workdir", str(workdir)],
        cwd=workdir, env=_env(), log_path=workdir / "resume.log",
    )  # fmt: skip
    resume = run.resume
    poll_until(
        lambda: ray_sessions(workdir / "ray-tmp", resume.pid) or not resume.alive(),
        POINT_TIMEOUT_S, "the resuming driver's Ray",
    )  # fmt: skip
    run.missed_by_reaper = describe_pids(session_processes(run.session, driver.pid))
    resume.wait(DRIVER_TIMEOUT_S)
    run.resume_s = time.monotonic() - resume_began
    run.orphans = describe_pids(session_processes(run.session, driver.pid))
    return run


def _assert_resumed(run: KillRun) -> StudyFacts:
    """`prunetune resume` after the SIGKILL: exit 0, the study FINISHED in every store, runs
    finished before the kill untouched (no re-run, no second close-out), no process of the
    killed driver's Ray left."""
    assert run.resume is not None and run.session is not None
    assert run.resume.proc.returncode == 0, run.resume.output()[-4000:]
    facts = study_facts(*_sqlite_urls(run.workdir), run.name, run.epochs)
    _assert_finished(facts, run.trials, run.resume.output(), run.workdir / "ray" / run.name)
    for trial in facts.finished_trials:
        rid = trial.info.run_id
        if rid in run.finished_at_kill:  # finished before the kill: not re-run, not re-closed
            assert trial.info.end_time == run.finished_at_kill[rid], (
                f"{trial.info.run_name} re-ran"
            )
            stamps = [ts for rows in facts.histories[rid].values() for _, _, ts in rows]
            assert max(stamps) <= run.killed_at * 1000, f"{trial.info.run_name} logged again"
    assert _record(run.workdir, run.name).status == "FINISHED"
    # Ray's agents of a dead raylet exit by themselves about a minute later: only the reaper
    # that runs before the resuming driver's ray.init makes this independent of timing.
    where = f"killed driver pid {run.driver.pid}, session {run.session.name}"
    assert not run.missed_by_reaper, (
        f"alive when the resume's Ray started ({where}): {run.missed_by_reaper}"
    )
    assert not run.orphans, f"outlived the resume ({where}): {run.orphans}"
    return facts


def _report_kill(run: KillRun, facts: StudyFacts, test: str, fault: str, note: str) -> None:
    report_figures(
        FaultFigures(
            test, fault, nodes=1, trials=run.trials, rows_lost=facts.rows_lost,
            rows_duplicated=facts.rows_duplicated, optuna=facts.optuna,
            seconds=run.kill_s + run.resume_s,
            note=f"{note}killed at {run.kill_s:.0f} s ({run.epochs_at_kill} epoch rows, "
            f"{len(run.finished_at_kill)} trials finished); {len(run.left_by_kill)} Ray procs "
            f"left by the kill, {len(run.missed_by_reaper)} when the resume's Ray started, "
            f"{len(run.orphans)} after the resume ({run.resume_s:.0f} s)",
        )
    )  # fmt: skip


@pytest.fixture(scope="module")
def killed_at_trial_start() -> Iterator[KillRun]:
    """Point (a) with a second driver: shared by the one-driver test and the SIGKILL test."""
    path = short_workdir()
    try:
        yield _kill_and_resume("trial-started", path, second_driver=True)
    finally:
        reap_workdir_processes(path, [])
        if not os.environ.get("PRUNETUNE_KEEP_FAULT_WORKDIR"):  # to look into a failure
            shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("point", ["trial-started", "mid-epoch", "trials-finished"])
def test_driver_sigkill_then_resume(point: str, request: pytest.FixtureRequest) -> None:
    """SIGKILL the embedded driver right after the first trial run opened, mid-epoch, or
    after a trial finished; `prunetune resume` finishes the study: nothing re-run or closed
    out twice, Optuna all COMPLETE, no run RUNNING, no orphan Ray process."""
    if point == "trial-started":  # the run test_one_study_one_driver also looks at
        run = request.getfixturevalue("killed_at_trial_start")
    else:
        run = _kill_and_resume(point, request.getfixturevalue("workdir"))
    if point == "trials-finished":
        assert run.finished_at_kill, "no trial run had finished at the kill"
    if point == "trial-started":
        assert run.epochs_at_kill == 0
    facts = _assert_resumed(run)
    _report_kill(run, facts, f"driver_sigkill[{point}]", f"driver SIGKILL ({point}) + resume", "")


def test_one_study_one_driver(killed_at_trial_start: KillRun) -> None:
    """While a driver runs study X, `run` of the same file and `resume X` exit 2 with one line
    naming the live driver and create nothing; once it is SIGKILLed, `resume` is accepted at
    once (exit 0, no refusal) and finishes the study."""
    run = killed_at_trial_start
    assert len(run.refusals) == 2
    for rc, err in run.refusals:
        refusals = [line for line in err.splitlines() if "another driver" in line]
        assert rc == 2, err[-3000:]
        assert len(refusals) == 1 and f"pid {run.driver.pid} " in refusals[0], err[-3000:]
        assert "Traceback" not in err
    # Nothing created by them: no second Ray, the same record; one parent run and one Optuna
    # study holding the study's trials only (checked on the finished study below).
    assert [s.rsplit("_", 1)[1] for s in run.sessions_at_kill] == [str(run.driver.pid)]
    assert run.records is not None
    before, after = run.records
    assert (after.created, after.parent_run_id) == (before.created, before.parent_run_id)
    assert run.lease_at_kill == run.driver.pid
    assert run.resume is not None and "another driver" not in run.resume.output()
    facts = _assert_resumed(run)
    _report_kill(
        run, facts, "one_study_one_driver", "2nd run + resume while live; SIGKILL; resume",
        "2nd run and resume refused (exit 2, one line); ",
    )  # fmt: skip


def _popen(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        prunetune_cmd(*args), cwd=cwd, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _lease_or_dead(lease: Path, driver: Driver) -> bool:
    assert driver.alive(), driver.output()[-3000:]
    return _lease_holder(lease) == driver.pid


def _lease_holder(lease: Path) -> int | None:
    try:
        return int(json.loads(lease.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


# --------------------------------------------------------------------------------------------
# 4. the MLflow server down


def test_mlflow_down_at_launch(workdir: Path) -> None:
    """`prunetune run --tracking-uri <nothing listening>` exits 2 with one line before anything
    starts: no Optuna study, no record, no lease, no Ray."""
    began = time.monotonic()
    name = "mlflow-down"
    study = write_fault_study(workdir, name, trials=1, epochs=1)
    runs = workdir / "runs"
    uri = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        prunetune_cmd("run", str(study), "--workdir", str(runs), "--tracking-uri", uri),
        cwd=workdir, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if "tracking.uri" in line]
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1 and uri in lines[0] and "not reachable" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    created = sorted(str(p.relative_to(runs)) for p in runs.rglob("*")) if runs.exists() else []
    assert created == [], f"created before failing: {created}"
    assert not any(p for p in procs._all_pids() if _mentions(p, str(runs)))
    report_figures(
        FaultFigures(
            "mlflow_down_at_launch", "MLflow server down at launch",
            nodes=0, trials=0, rows_lost=0, rows_duplicated=0, optuna={},  # type: ignore[arg-type]
            seconds=time.monotonic() - began, note="exit 2, one line, nothing created",
        )
    )  # fmt: skip


def _mentions(pid: int, text: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def _cluster_driver(
    name: str, study: Path, workdir: Path, cluster: RayCluster, mlflow: MlflowServer,
    postgres: Postgres, log_path: Path,
) -> Driver:  # fmt: skip
    return Driver.start(
        [
            "run", str(study), "--address", cluster.address, "--tracking-uri", mlflow.uri,
            "--storage", postgres.optuna_url, "--workdir", str(workdir),
        ],
        cwd=log_path.parent, env=_env(), log_path=log_path,
    )  # fmt: skip


def _training(
    poller: StorePoller, driver: Driver, trials: int, epochs: int, patience_s: float = 60.0
) -> Callable[[], bool]:
    """A check for "the trials are training": every trial run has 1..epochs-5 epochs in
    MLflow (room left to train on); if the last trial's actor is slow to start on a loaded
    machine, `patience_s` after the first epoch seen one training trial is enough."""
    first_epoch: list[float] = []

    def check() -> bool:
        assert driver.alive(), driver.output()[-3000:]
        runs = [r for r in poller.trial_runs() if r["status"] == "RUNNING" and r["epochs"]]
        room = [r for r in runs if r["epochs"] <= epochs - 5]
        if len(room) == trials:
            return True
        if runs and not first_epoch:
            first_epoch.append(time.monotonic())
        return bool(room) and bool(first_epoch) and time.monotonic() - first_epoch[0] > patience_s

    return check


def test_mlflow_outage_mid_study(
    ray_cluster: RayCluster, mlflow_pg: MlflowServer, postgres: Postgres, tmp_path: Path
) -> None:
    """MLflow down for 30 s while trials train on the cluster: epochs go on being reported to
    Tune during the outage, and once it is back every epoch is in MLflow exactly once."""
    began = time.monotonic()
    name, trials, epochs, outage_s = "fault-mlflow-outage", 2, 20, 30.0
    ensure_workers(ray_cluster, 2)
    study = write_fault_study(tmp_path, name, trials=trials, epochs=epochs)
    workdir = tmp_path / "runs"
    driver = _cluster_driver(
        name, study, workdir, ray_cluster, mlflow_pg, postgres, tmp_path / "driver.log"
    )
    poller = StorePoller(postgres.mlflow_url, postgres.optuna_url, name)
    experiment = workdir / "ray" / name
    try:
        poll_until(
            _training(poller, driver, trials, epochs), POINT_TIMEOUT_S,
            "trials training with epochs in MLflow",
        )  # fmt: skip
        reported_before = checkpoints_reported(experiment)
        down_at = time.time()
        mlflow_pg.stop()
        time.sleep(outage_s)
        reported_during = checkpoints_reported(experiment) - reported_before
        up_at = time.time()
        mlflow_pg.start()
        assert driver.wait(DRIVER_TIMEOUT_S) == 0, driver.output()[-4000:]
    finally:
        poller.dispose()
        if driver.alive():
            driver.sigkill()
        if mlflow_pg.proc is None:
            mlflow_pg.start()
    facts = study_facts(mlflow_pg.uri, postgres.optuna_url, name, epochs)
    _assert_finished(facts, trials, driver.output(), workdir / "ray" / name)
    trained_down = sum(
        down_at * 1000 <= ts <= up_at * 1000
        for run in facts.finished_trials
        for _, _, ts in facts.histories[run.info.run_id]["acc/val"]
    )
    assert reported_during >= 1, "no epoch reached Tune while MLflow was down"
    assert trained_down >= 1, "no epoch in MLflow was trained while the server was down"
    a, b = (r.info.run_id for r in facts.finished_trials)
    _same_metrics(facts, a, b)
    _report_cluster(
        "mlflow_outage",
        f"MLflow server down {outage_s:.0f} s mid-study (cluster)",
        ray_cluster,
        trials,
        facts,
        began,
        f"{reported_during} epoch checkpoints reported to Tune during the outage, "
        f"{trained_down} MLflow rows stamped in it",
    )


# --------------------------------------------------------------------------------------------
# 5. PostgreSQL restarted


def test_postgres_restart_mid_study(
    ray_cluster: RayCluster, mlflow_pg: MlflowServer, postgres: Postgres, tmp_path: Path
) -> None:
    """Restart PostgreSQL (Optuna's storage and MLflow's backend) while trials train: the
    study finishes, Optuna holds every trial once COMPLETE, MLflow every trial run once."""
    began = time.monotonic()
    name, trials, epochs = "fault-pg-restart", 2, 20
    ensure_workers(ray_cluster, 2)
    study = write_fault_study(tmp_path, name, trials=trials, epochs=epochs)
    workdir = tmp_path / "runs"
    driver = _cluster_driver(
        name, study, workdir, ray_cluster, mlflow_pg, postgres, tmp_path / "driver.log"
    )
    poller = StorePoller(postgres.mlflow_url, postgres.optuna_url, name)
    try:
        poll_until(
            _training(poller, driver, trials, epochs), POINT_TIMEOUT_S,
            "trials training with epochs in MLflow",
        )  # fmt: skip
        # Down long enough that the driver's Optuna calls (a report per epoch) meet the outage.
        down_s = postgres.restart(down_s=PG_DOWN_S)
        assert driver.wait(DRIVER_TIMEOUT_S) == 0, driver.output()[-6000:]
    finally:
        poller.dispose()
        if driver.alive():
            driver.sigkill()
    facts = study_facts(mlflow_pg.uri, postgres.optuna_url, name, epochs)
    _assert_finished(facts, trials, driver.output(), workdir / "ray" / name)
    retries = driver.output().count("Optuna storage unreachable")
    assert retries >= 1, "the driver never met the outage: nothing was tested"
    _report_cluster(
        "postgres_restart",
        "PostgreSQL restarted mid-study (cluster)",
        ray_cluster,
        trials,
        facts,
        began,
        f"down {down_s:.1f} s (fast shutdown); {retries} Optuna calls retried",
    )


# --------------------------------------------------------------------------------------------
# 6. the dense model, needed by four trials at once on four nodes


def test_dense_model_trained_once_for_concurrent_trials(
    ray_cluster: RayCluster, mlflow_pg: MlflowServer, postgres: Postgres, tmp_path: Path
) -> None:
    """Four trials start at once on four nodes in a fresh workdir: one pretrain run, one dense
    file, written once (same inode and mtime from its first appearance to the end)."""
    began = time.monotonic()
    name, trials, epochs = "fault-dense-once", 4, 10
    ensure_workers(ray_cluster, 4)
    study = write_fault_study(tmp_path, name, trials=trials, epochs=epochs, concurrency=4)
    workdir = tmp_path / "runs"
    dense = workdir / "dense"
    driver = _cluster_driver(
        name, study, workdir, ray_cluster, mlflow_pg, postgres, tmp_path / "driver.log"
    )
    first_seen: tuple[Path, int, int] | None = None
    try:
        while driver.alive():  # the dense file as it first appears (renamed into place)
            if first_seen is None:
                files = [p for p in dense.glob("*.pt") if ".snapshots" not in p.name]
                if files:
                    st = files[0].stat()
                    first_seen = (files[0], st.st_ino, st.st_mtime_ns)
            time.sleep(0.2)
        assert driver.wait(DRIVER_TIMEOUT_S) == 0, driver.output()[-4000:]
    finally:
        if driver.alive():
            driver.sigkill()
    facts = study_facts(mlflow_pg.uri, postgres.optuna_url, name, epochs)
    _assert_finished(facts, trials, driver.output(), workdir / "ray" / name)
    assert facts.roles["pretrain"] == 1, facts.roles
    files = sorted(p.name for p in dense.glob("*.pt") if ".snapshots" not in p.name)
    assert len(files) == 1, files
    assert first_seen is not None
    path, ino, mtime = first_seen
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (ino, mtime), "dense file rewritten"
    nodes = {r.data.tags["node"] for r in facts.trials}
    assert len(nodes) >= 2, nodes
    starts = sorted(r.info.start_time for r in facts.trials)
    ends = sorted(r.info.end_time for r in facts.trials)
    overlapping = sum(s < ends[0] for s in starts)
    _report_cluster(
        "dense_once",
        "4 concurrent trials need the same dense model",
        ray_cluster,
        trials,
        facts,
        began,
        f"trials on {len(nodes)} nodes, {overlapping} overlapping; 1 pretrain run, "
        "1 dense file written once",
    )

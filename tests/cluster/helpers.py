"""Plain helpers for the cluster tests (conftest.py holds only fixtures)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import procs


def listening_sockets(pids: set[int] | None = None) -> list[str]:
    """Local addresses of TCP sockets in LISTEN state (ss), only those of ``pids`` if given."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [
        line.split()[3]
        for line in out.splitlines()
        if pids is None or any(f"pid={pid}," in line for pid in pids)
    ]


def is_loopback(local: str) -> bool:
    """127.0.0.0/8, ::1 and their IPv4-mapped form (gRPC servers of Ray listen on
    [::ffff:127.0.0.1]:PORT, which tests.integration's helper counts as outside)."""
    host = local.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
    return host.startswith("127.") or host in ("::1", "localhost")


def owned_outside_loopback(roots: set[int], groups: set[int] = frozenset()) -> set[str]:
    """Non-loopback listening sockets of these process trees only: a machine-wide check would
    also see the Rays that other test runs on this shared machine start meanwhile."""
    return {s for s in listening_sockets(procs.tree(roots, groups)) if not is_loopback(s)}


def run_watching_sockets(
    cmd: list[str], *, timeout: float, watch: Callable[[], set[str]] | None = None, **popen: Any
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``cmd`` to the end while sampling, every second, the non-loopback listening sockets
    of its process tree (and of ``watch()``, e.g. the cluster's); returns both."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        seen |= owned_outside_loopback({proc.pid})
        if watch is not None:
            seen |= watch()
        try:
            out, err = proc.communicate(timeout=1.0)  # retrying loses no output
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                proc.kill()
                out, err = proc.communicate()
                err += f"\n(killed after {timeout:.0f} s)"
                break
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), seen


# --------------------------------------------------------------------------------------------
# Fault injection (tests/cluster/test_faults.py, test_security.py): drivers as processes, the
# stores read back, the processes a killed driver's Ray left behind, the figures of each fault.

# Every dimension has one value, so every trial of a study has the same config (and, on CPU
# with the same seed, the same metrics): any trial is the uninterrupted twin of any other.
FAULT_STUDY = """
name = "{name}"
description = "fault-injection study: digits, smallcnn, identical trials"

[model]
name = "smallcnn"

[dataset]
name = "digits"

[pretrain]
epochs = 2
lr = 0.05
batch_size = 64

[pruning]
methods = ["l1"]
ratio = [0.5]

[retrain]
schedules = ["clr"]
epochs = [{epochs}]
max_lr = [0.05]
batch_size = 64

[search]
sampler = "random"
trials = {trials}
concurrency = {concurrency}
seeds = [0]
max_failures = {max_failures}

[resources]
cpu = 1
"""


def write_fault_study(
    folder: Path,
    name: str,
    *,
    trials: int,
    epochs: int,
    concurrency: int = 2,
    max_failures: int = 1,
) -> Path:
    """A study file of FAULT_STUDY; its name is also its MLflow experiment and Optuna study."""
    path = folder / f"{name}.toml"
    path.write_text(
        FAULT_STUDY.format(
            name=name, trials=trials, epochs=epochs, concurrency=concurrency,
            max_failures=max_failures,
        )
    )  # fmt: skip
    return path


def short_workdir(prefix: str = "ptf-") -> Path:
    """A workdir whose ``ray-tmp`` keeps an embedded Ray's session dir inside it (socket paths
    must stay short: studies.session.ray_session.ray_temp_dir falls back to /tmp otherwise)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    assert len(str(path.resolve() / "ray-tmp")) <= 60, path
    return path


def prunetune_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "studies.cli", *args]


@dataclass
class Driver:
    """A `prunetune run|resume` process in its own session, output in a file (never a pipe: a
    killed reader must not block it). ``sigkill()`` kills this one process only, the way a lost
    terminal or the OOM killer would, not its group."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    began: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, args: list[str], *, cwd: Path, env: dict[str, str], log_path: Path) -> Driver:
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                prunetune_cmd(*args), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return cls(proc, log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sigkill(self) -> float:
        """SIGKILL the driver process alone; returns the wall-clock time of the kill."""
        killed_at = time.time()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        return killed_at

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            raise AssertionError(
                f"driver did not end within {timeout:.0f} s:\n{self.output()[-4000:]}"
            ) from None


def poll_until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Call ``check()`` until it returns something truthy (returned); AssertionError after
    ``timeout`` s naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


# -- a driver's Ray, and what is left of it -----------------------------------------------------


def ray_sessions(ray_temp: Path, driver_pid: int) -> list[Path]:
    """Session dirs of the Ray that driver ``driver_pid`` started (Ray names them
    ``session_<date>_<pid of the process that started it>``)."""
    return sorted(ray_temp.glob(f"session_*_{driver_pid}"))


def _refers_to(pid: int, folder: str) -> bool:
    """The process's command line, working directory or an open file is under ``folder``.
    Ray's agents rename themselves (``ray::DashboardAgent``): their command line no longer names
    the session, their open log files still do."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if folder.encode() in f.read():
                return True
        if os.readlink(f"/proc/{pid}/cwd").startswith(folder):
            return True
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folder):
                    return True
    except OSError:
        return False
    return False


def session_processes(session: Path, driver_pid: int | None = None) -> set[int]:
    """Live processes of the Ray session ``session``: those referring to its dir, and those
    still in the driver's process group (the driver was started as a session leader)."""
    folder = str(session)
    found = set()
    for pid in procs._all_pids():
        if pid == os.getpid() or not procs._alive(pid):
            continue
        st = procs._stat(pid)
        if st is None:
            continue
        if (driver_pid is not None and st[1] == driver_pid) or _refers_to(pid, folder):
            found.add(pid)
    return found


def describe_pids(pids: set[int]) -> list[str]:
    out = []
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            cmd = "?"
        out.append(f"{pid}: {cmd[:160]}")
    return out


def reap_workdir_processes(workdir: Path, driver_pids: list[int]) -> set[int]:
    """Test cleanup: SIGKILL what is left of the Rays that our drivers started in ``workdir``
    (found by their session dirs under our own unique workdir, never by name)."""
    left: set[int] = set()
    for pid in driver_pids:
        for session in ray_sessions(workdir / "ray-tmp", pid):
            left |= session_processes(session, pid)
    left |= {p for p in procs._all_pids() if p != os.getpid() and _refers_to(p, str(workdir))}
    procs.kill(left)
    procs.wait_gone(left, 10)
    return left


# -- the stores, read back ---------------------------------------------------------------------


def _epoch_keys() -> tuple[str, ...]:
    from trainables.keys import EPOCH_METRICS  # plain names, no heavy imports

    return tuple(str(v) for v in EPOCH_METRICS.values())


EPOCH_KEYS = _epoch_keys()  # what a trial logs once per epoch


def _read_only(url: str) -> str:
    """A SQLite URL opened read-only: polling must never create the file the driver is about
    to create (a PostgreSQL URL is returned as is)."""
    if url.startswith("sqlite:///"):
        return f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return url


class StorePoller:
    """Fast, read-only SQL on the MLflow and Optuna databases while a study runs (tens of ms a
    poll, where the REST API would cost a round trip per run): the kill points are found here.
    Unreachable or not-yet-created stores read as empty."""

    def __init__(self, mlflow_db: str, optuna_db: str, name: str) -> None:
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        self.name = name
        self._mlflow = sqlalchemy.create_engine(_read_only(mlflow_db), poolclass=NullPool)
        self._optuna = sqlalchemy.create_engine(_read_only(optuna_db), poolclass=NullPool)

    def _rows(self, engine: Any, sql: str) -> list[Any]:
        import sqlalchemy

        try:
            with engine.connect() as conn:
                return list(conn.execute(sqlalchemy.text(sql), {"name": self.name}))
        except sqlalchemy.exc.SQLAlchemyError:
            return []

    def trial_runs(self) -> list[dict[str, Any]]:
        """Search-role runs of the study: run_id, status, node, tune_trial, epochs (acc/val
        rows), end_time."""
        rows = self._rows(
            self._mlflow,
            """
            SELECT r.run_uuid, r.status, r.end_time,
              (SELECT t.value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = 'node'),
              (SELECT t.value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = 'tune_trial'),
              (SELECT count(*) FROM metrics m WHERE m.run_uuid = r.run_uuid AND m.key = 'acc/val')
            FROM runs r
            JOIN experiments e ON e.experiment_id = r.experiment_id AND e.name = :name
            JOIN tags role ON role.run_uuid = r.run_uuid AND role.key = 'role'
                          AND role.value = 'search'
            """,
        )
        keys = ("run_id", "status", "end_time", "node", "tune_trial", "epochs")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def runs_with_role(self, role: str) -> int:
        rows = self._rows(
            self._mlflow,
            f"""
            SELECT count(*) FROM runs r
            JOIN experiments e ON e.experiment_id = r.experiment_id AND e.name = :name
            JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'role' AND t.value = '{role}'
            """,
        )
        return int(rows[0][0]) if rows else 0

    def optuna_states(self) -> Counter[str]:
        rows = self._rows(
            self._optuna,
            """
            SELECT t.state FROM trials t JOIN studies s ON s.study_id = t.study_id
            WHERE s.study_name = :name
            """,
        )
        return Counter(str(getattr(r[0], "name", r[0])) for r in rows)

    def dispose(self) -> None:
        self._mlflow.dispose()
        self._optuna.dispose()


@dataclass
class StudyFacts:
    """What the stores hold about a study once it ended (MLflow through its client, Optuna
    through its storage): the figures a fault test asserts on and reports."""

    optuna: Counter[str]
    parents: list[str]  # statuses of the study's parent run(s)
    running: list[str]  # names of runs still RUNNING (any role)
    trials: list[Any]  # search-role runs (mlflow Run)
    finished_trials: list[Any]  # ... FINISHED with tag status=completed
    roles: Counter[str]
    histories: dict[str, dict[str, list[tuple[int, float, int]]]]  # run → key → (step, v, ts)
    final_rows: dict[str, list[tuple[int, float, int]]]  # run → final/wall_time_s rows
    rows_lost: int
    rows_duplicated: int
    gaps: list[str] = field(default_factory=list)  # "run key: missing [...] twice [...]"

    def steps(self, run_id: str, key: str = "acc/val") -> list[int]:
        return [s for s, _, _ in self.histories[run_id][key]]

    def values(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(s, v) for s, v, _ in sorted(self.histories[run_id][key])]


def study_facts(tracking_uri: str, optuna_url: str, name: str, epochs: int) -> StudyFacts:
    """Read a study back from both stores; epoch rows of every FINISHED trial run are checked
    against steps 0..epochs-1 (lost: a step missing; duplicated: a step more than once)."""
    import optuna
    from mlflow.tracking import MlflowClient

    study = optuna.load_study(study_name=name, storage=optuna.storages.RDBStorage(optuna_url))
    states = Counter(t.state.name for t in study.trials)
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    assert exp is not None, f"no MLflow experiment {name!r}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if r.data.tags.get("role") == "search"]
    finished = [
        r for r in trials
        if r.info.status == "FINISHED" and r.data.tags.get("status") == "completed"
    ]  # fmt: skip
    histories: dict[str, dict[str, list[tuple[int, float, int]]]] = {}
    final_rows: dict[str, list[tuple[int, float, int]]] = {}
    lost = duplicated = 0
    gaps: list[str] = []
    for run in trials:
        rid = run.info.run_id
        histories[rid] = {
            key: [(m.step, m.value, m.timestamp) for m in client.get_metric_history(rid, key)]
            for key in EPOCH_KEYS
        }
        final_rows[rid] = [
            (m.step, m.value, m.timestamp)
            for m in client.get_metric_history(rid, "final/wall_time_s")
        ]
        if run in finished:
            for key, rows in histories[rid].items():
                steps = [s for s, _, _ in rows]
                missing = sorted(set(range(epochs)) - set(steps))
                twice = sorted({s for s in steps if steps.count(s) > 1})
                lost += len(missing)
                duplicated += len(steps) - len(set(steps))
                if missing or twice:
                    gaps.append(f"{run.info.run_name} {key}: missing {missing} twice {twice}")
    return StudyFacts(
        optuna=states,
        parents=[p.info.status for p in parents],
        running=[r.info.run_name for r in runs if r.info.status == "RUNNING"],
        trials=trials,
        finished_trials=finished,
        roles=Counter(r.data.tags.get("role", "study") for r in runs),
        histories=histories,
        final_rows=final_rows,
        rows_lost=lost,
        rows_duplicated=duplicated,
        gaps=gaps,
    )


# -- the figures each fault test reports (pytest -s, and a table in the terminal summary) -------


@dataclass
class FaultFigures:
    test: str
    fault: str
    nodes: int
    trials: int
    rows_lost: int
    rows_duplicated: int
    optuna: Counter[str]
    seconds: float
    note: str = ""

    HEADER = (
        f"{'fault':<44} {'nodes':>5} {'trials':>6} {'lost':>5} {'dup':>4} "
        f"{'COMPLETE/RUNNING/FAIL':>22} {'s':>6}  note"
    )

    def line(self) -> str:
        states = "/".join(str(self.optuna.get(s, 0)) for s in ("COMPLETE", "RUNNING", "FAIL"))
        return (
            f"{self.fault[:44]:<44} {self.nodes:>5} {self.trials:>6} {self.rows_lost:>5} "
            f"{self.rows_duplicated:>4} {states:>22} {self.seconds:>6.0f}  {self.note}"
        )


FIGURES: list[FaultFigures] = []


def report_figures(figures: FaultFigures) -> None:
    FIGURES.append(figures)
    print(f"\n{FaultFigures.HEADER}\n{figures.line()}")


class FiguresSummary:
    """A pytest plugin: the fault figures as one table at the end of the run."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not FIGURES:
            return
        write = terminalreporter.write_line
        write("")
        write("fault injection: MLflow epoch rows lost/duplicated, Optuna trial states")
        write(f"  {FaultFigures.HEADER}")
        for figures in FIGURES:
            write(f"  {figures.line()}")


@pytest.fixture(scope="session")
def fault_figures_table(pytestconfig: pytest.Config) -> None:
    """Registers FiguresSummary once per session (import this fixture into a test module)."""
    if not pytestconfig.pluginmanager.has_plugin("prunetune-fault-figures"):
        pytestconfig.pluginmanager.register(FiguresSummary(), "prunetune-fault-figures")


def tune_trials(experiment: Path) -> dict[str, dict[str, Any]]:
    """Tune's own record of an experiment's trials (its latest experiment-state file), by
    trial id: status, num_failures, and from the last result epoch, training_iteration and
    iterations_since_restore (fewer than training_iteration: restored from a checkpoint)."""
    # The latest by the start time in its name: Tune's final sync rewrites a resumed run's
    # older state files too, so the oldest can have the newest mtime.
    states = sorted(experiment.glob("experiment_state-*.json"), key=lambda p: p.name)
    if not states:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for trial_json, runtime_json in json.loads(states[-1].read_text())["trial_data"]:
        trial, runtime = json.loads(trial_json), json.loads(runtime_json)
        last = runtime.get("last_result") or {}
        out[trial["trial_id"]] = {
            "status": trial.get("status"),
            "num_failures": runtime.get("num_failures", 0),
            **{
                k: last.get(k) for k in ("epoch", "training_iteration", "iterations_since_restore")
            },
        }
    return out


def checkpoints_reported(experiment: Path) -> int:
    """Epoch checkpoints the trials of a Tune experiment have reported so far (each trial's
    highest ``checkpoint_NNNNNN`` index + 1, summed): live, unlike Tune's state snapshots."""
    total = 0
    for trial in experiment.glob("*/"):
        indices = [int(p.name.rsplit("_", 1)[1]) for p in trial.glob("checkpoint_[0-9]*")]
        total += max(indices) + 1 if indices else 0
    return total


def ensure_workers(cluster: Any, count: int) -> list[Any]:
    """At least ``count`` live 1-CPU worker nodes in ``cluster`` (a tests.cluster.services
    RayCluster); missing ones are started in parallel. Returns the nodes started."""
    alive = cluster.alive_node_ids()
    live = [w for w in cluster.workers.values() if w.node_id in alive]
    started = [cluster.launch_worker() for _ in range(count - len(live))]
    for node in started:
        cluster.wait_worker(node)
    return started

"""Session fixtures for tests on a real deployment stack, all on 127.0.0.1:

- ``postgres``: a throw-away PostgreSQL 15 with databases ``mlflow`` and ``optuna``;
- ``mlflow_pg``: ``mlflow server`` on that PostgreSQL, proxying artifacts;
- ``ray_cluster``: a Ray head (dashboard + job server, 0 CPUs) and two 1-CPU worker nodes.

They are slow to start (Ray ~13 s, MLflow ~10–20 s), so the first of them a session asks for
starts every one that the selected tests need, in parallel, and each fixture then waits for
its own. Only what some selected test uses is started.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.procs import PeakMemory
from tests.cluster.services import MlflowServer, Postgres, RayCluster

SERVICES = ("postgres", "mlflow_pg", "ray_cluster")
_timings: dict[str, float] = {}
_test_times: list[tuple[str, float]] = []
_peak: list[PeakMemory] = []


class Launcher:
    """Starts the needed services concurrently and tears all of them down."""

    def __init__(self, root: Path, needed: set[str]) -> None:
        self.root = root
        self.needed = needed
        self.pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="cluster-start")
        self.postgres: Postgres | None = None
        self.mlflow: MlflowServer | None = None
        self.ray: RayCluster | None = None
        self.futures: dict[str, Future[Any]] = {}
        self.began = time.monotonic()
        if {"postgres", "mlflow_pg"} & needed:
            self.postgres = Postgres(root / "pg")
            self.futures["postgres"] = self.pool.submit(self._start_postgres)
        if "mlflow_pg" in needed:
            self.futures["mlflow_pg"] = self.pool.submit(self._start_mlflow)
        if "ray_cluster" in needed:
            self.ray = RayCluster(root / "ray")
            self.futures["ray_cluster"] = self.pool.submit(self._start_ray)
        self.memory = PeakMemory(self._pids)
        # Everything this test process started, drivers (`prunetune run`) and itself included.
        self.memory_all = PeakMemory(self._all_pids)
        self.memory.start()
        self.memory_all.start()

    def _start_postgres(self) -> Postgres:
        assert self.postgres is not None
        self.postgres.start()
        _timings["postgres"] = self.postgres.start_s
        return self.postgres

    def _start_mlflow(self) -> MlflowServer:
        postgres = self.futures["postgres"].result()
        self.mlflow = MlflowServer(postgres.mlflow_url, self.root / "mlflow")
        self.mlflow.start()
        _timings["mlflow_pg (after postgres)"] = self.mlflow.start_s
        return self.mlflow

    def _start_ray(self) -> RayCluster:
        assert self.ray is not None
        began = time.monotonic()
        self.ray.launch_head()
        _timings["ray head"] = self.ray.wait_head()
        nodes = [self.ray.launch_worker() for _ in range(2)]
        for node in nodes:
            _timings[f"ray worker {node.index}"] = self.ray.wait_worker(node)
        _timings["ray_cluster (head + 2 workers)"] = time.monotonic() - began
        return self.ray

    def get(self, name: str) -> Any:
        value = self.futures[name].result()
        _timings.setdefault("all needed services", time.monotonic() - self.began)
        return value

    def _pids(self) -> tuple[set[int], set[int]]:
        roots: set[int] = set()
        groups: set[int] = set()
        if self.postgres is not None:
            roots |= self.postgres.pids()
        if self.mlflow is not None:
            groups |= self.mlflow.pgids()
        if self.ray is not None:
            groups |= self.ray.pgids()
        return roots | groups, groups

    def _all_pids(self) -> tuple[set[int], set[int]]:
        roots, groups = self._pids()
        return roots | {os.getpid()}, groups

    def close(self) -> None:
        for memory in (self.memory, self.memory_all):
            memory.sample()
            memory.stop()
        _peak.extend([self.memory, self.memory_all])
        for future in self.futures.values():
            future.exception()  # wait for starts still running before stopping them
        self.pool.shutdown(wait=True)
        for stop in (
            self.ray and self.ray.stop,
            self.mlflow and self.mlflow.stop,
            self.postgres and self.postgres.stop,
        ):
            if stop:
                try:
                    stop()
                except Exception as err:  # stop the others anyway
                    print(f"cluster teardown: {err}")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_launcher(request: pytest.FixtureRequest) -> Iterator[Launcher]:
    """Starts, in parallel, every service that a selected test of this session needs."""
    needed = {
        name
        for item in request.session.items
        for name in getattr(item, "fixturenames", ())
        if name in SERVICES
    }
    # Short root: Ray's unix sockets live below it (paths must stay < 107 bytes).
    root = Path(tempfile.mkdtemp(prefix="ptc-", dir="/tmp"))
    root.chmod(0o711)  # the postgres user must reach its data dir below it (no listing)
    launcher = Launcher(root, needed)
    try:
        yield launcher
    finally:
        launcher.close()


@pytest.fixture(scope="session")
def postgres(cluster_launcher: Launcher) -> Postgres:
    """A throw-away PostgreSQL on 127.0.0.1: ``.optuna_url``, ``.mlflow_url``, ``.url(db)``,
    ``.restart()``, ``.stop()``, ``.start()``, ``.psql(db, sql)``."""
    return cluster_launcher.get("postgres")


@pytest.fixture(scope="session")
def mlflow_pg(cluster_launcher: Launcher) -> MlflowServer:
    """``mlflow server`` on the ``postgres`` fixture, proxying artifacts: ``.uri``,
    ``.artifacts_dir``, ``.stop()``/``.start()`` on the same port."""
    return cluster_launcher.get("mlflow_pg")


@pytest.fixture(scope="session")
def ray_cluster(cluster_launcher: Launcher) -> RayCluster:
    """Head (0 CPUs, dashboard + job server) and worker nodes 1, 2 (1 CPU, resource
    ``node_w<i>``): ``.address``, ``.dashboard_url``, ``.kill_worker(i)``, ``.add_worker()``."""
    return cluster_launcher.get("ray_cluster")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Time each test's body (fixture start-up excluded) for the summary."""
    began = time.monotonic()
    try:
        return (yield)
    finally:
        if item.nodeid.startswith("tests/cluster/"):
            _test_times.append((item.nodeid, time.monotonic() - began))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not (_timings or _test_times):
        return
    write = terminalreporter.write_line
    write("")
    write("cluster fixtures: start-up seconds")
    for name, seconds in _timings.items():
        write(f"  {name:<34} {seconds:6.1f}")
    for label, memory in zip(("services", "services + pytest + drivers"), _peak, strict=False):
        write(
            f"  peak memory, {label}: PSS {memory.peak_pss_kb / 1024:.0f} MiB, "
            f"RSS {memory.peak_rss_kb / 1024:.0f} MiB ({memory.peak_procs} processes)"
        )
    write("cluster tests: seconds in the test body")
    for nodeid, seconds in _test_times:
        write(f"  {seconds:6.1f}  {nodeid}")

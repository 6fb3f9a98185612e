"""The services of a real deployment, on loopback, for the cluster tests: a throw-away
PostgreSQL, an MLflow server on it with proxied artifacts, and a multi-node Ray (a head from
``ray start --head`` plus worker nodes that are separate process groups).

Plain classes (conftest.py only wires them into fixtures), so a script or a benchmark can start
the same stack. Every process is started in its own session and stopped by its own process
tree, never by name: other people's Rays, Postgres and MLflow servers share this machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster import procs

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "OMP_NUM_THREADS": "1",
}
OBJECT_STORE_BYTES = 100 * 1024 * 1024  # Ray's minimum is 75 MiB; tiny studies need little


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(**extra: str) -> dict[str, str]:
    """The test process's environment, loopback-only, minus anything pointing Ray elsewhere."""
    env = {**os.environ, **LOOPBACK_ENV}
    env.pop("RAY_ADDRESS", None)
    return {**env, **extra}


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"(no log at {path})"


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def wait_until(check, timeout: float, what: str, log: Path | None = None, proc=None) -> float:
    """Poll ``check()`` until true; seconds waited. Fails with the log tail on timeout/exit."""
    start = time.monotonic()
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{what}: exited with {proc.returncode}\n{tail(log) if log else ''}"
            )
        if time.monotonic() - start > timeout:
            raise RuntimeError(
                f"{what}: not ready after {timeout:.0f} s\n{tail(log) if log else ''}"
            )
        time.sleep(0.2)
    return time.monotonic() - start


def _stop_group(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM the process group the service runs in, SIGKILL what is left after ``grace``."""
    if proc is None:
        return
    members = procs.tree([proc.pid], [proc.pid])
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    left = procs.wait_gone(members, grace)
    procs.kill(left)
    procs.wait_gone(left, 5)
    if proc.poll() is None:
        proc.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass
class Postgres:
    """A throw-away PostgreSQL 15 cluster on 127.0.0.1 (trust auth, user postgres).

    ``initdb`` refuses root: every server command runs as the ``postgres`` system user on a
    data directory it owns."""

    root: Path
    port: int = field(default_factory=free_port)
    databases: tuple[str, ...] = ("mlflow", "optuna")
    start_s: float = 0.0

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def optuna_url(self) -> str:
        return self.url("optuna")

    @property
    def mlflow_url(self) -> str:
        return self.url("mlflow")

    def _as_postgres(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # runuser keeps root's environment; a HOME postgres can read avoids psql warnings.
        env = {**os.environ, "HOME": str(self.root), "LC_ALL": "C"}
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *cmd],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
                f"\n{tail(self.log_path) if self.log_path.exists() else ''}"
            )
        return done

    def _options(self) -> str:
        # Unix socket in our own dir (not /var/run/postgresql); TCP on loopback only; small.
        return (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
            "-c shared_buffers=32MB -c max_connections=60 -c fsync=off"
        )

    def start(self) -> Postgres:
        began = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # postgres must traverse it
        if not self.data_dir.exists():
            self.data_dir.mkdir()
            shutil.chown(self.data_dir, "postgres", "postgres")
            self._as_postgres(
                "initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres",
                "--no-sync", "-E", "UTF8",
            )  # fmt: skip
            self._pg_ctl_start()
            for name in self.databases:
                self._as_postgres(
                    "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
                )
        else:
            self._pg_ctl_start()
        self.start_s = time.monotonic() - began
        return self

    def _pg_ctl_start(self) -> None:
        if not self.log_path.exists():
            self.log_path.touch()
            shutil.chown(self.log_path, "postgres", "postgres")
        self._as_postgres(
            "pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "-l", str(self.log_path),
            "-o", self._options(), "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: like a crash; ``fast``: clean)."""
        if self.running():
            self._as_postgres("pg_ctl", "-D", str(self.data_dir), "-w", "-m", mode, "stop")

    def restart(self, mode: str = "fast", down_s: float = 0.0) -> float:
        """Stop, stay down `down_s` seconds, start again on the same port; seconds it was down."""
        began = time.monotonic()
        self.stop(mode)
        time.sleep(down_s)
        self._pg_ctl_start()
        return time.monotonic() - began

    def running(self) -> bool:
        done = self._as_postgres("pg_ctl", "-D", str(self.data_dir), "status", check=False)
        return done.returncode == 0

    def pids(self) -> set[int]:
        """The postmaster and its backends (for the memory sampler)."""
        try:
            postmaster = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return set()
        return procs.tree([postmaster])

    def psql(self, database: str, sql: str) -> str:
        done = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
             "-AtX", "-c", sql],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return done.stdout.strip()


# --------------------------------------------------------------------------------------------
# MLflow server on PostgreSQL


@dataclass
class MlflowServer:
    """``mlflow server`` on a PostgreSQL backend store, proxying artifacts (--serve-artifacts):
    clients get ``mlflow-artifacts:`` URIs and never touch ``artifacts_dir`` themselves."""

    backend_uri: str
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    start_s: float = 0.0
    starts: int = 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def log_path(self) -> Path:
        return self.root / "mlflow-server.log"

    def launch(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir.mkdir(mode=0o700, exist_ok=True)  # only the server reads it
        cmd = [
            str(VENV_BIN / "mlflow"), "server",
            "--backend-store-uri", self.backend_uri,
            "--serve-artifacts", "--artifacts-destination", str(self.artifacts_dir),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        # Job execution (a Huey consumer for GenAI jobs) costs ~2 GB RSS and is not needed.
        env = service_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1

    def wait_healthy(self, timeout: float = 90.0) -> float:
        return wait_until(
            lambda: http_ok(f"{self.uri}/health"), timeout, "mlflow server", self.log_path,
            self.proc,
        )  # fmt: skip

    def start(self) -> MlflowServer:
        """Launch on the same port as before and wait for /health."""
        began = time.monotonic()
        self.launch()
        self.wait_healthy()
        self.start_s = time.monotonic() - began
        return self

    def stop(self) -> None:
        _stop_group(self.proc)
        self.proc = None

    def pgids(self) -> set[int]:
        return {self.proc.pid} if self.proc is not None and self.proc.poll() is None else set()


# --------------------------------------------------------------------------------------------
# Ray: head via `ray start --head`, worker nodes via tests.cluster.ray_node


@dataclass
class WorkerNode:
    index: int
    resource: str  # custom resource naming the node: {"node_w1": 1}
    proc: subprocess.Popen[bytes]
    temp_dir: Path
    log_path: Path
    node_id: str = ""
    raylet_pid: int = 0
    launched: float = field(default_factory=time.monotonic)
    start_s: float = 0.0


@dataclass
class RayCluster:
    """A head (GCS, dashboard, job server; ``head_cpus`` CPUs) and worker nodes with 1 CPU and a
    custom resource each, all on 127.0.0.1, each node its own process group."""

    root: Path
    head_cpus: int = 0
    worker_cpus: int = 1
    port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    head: subprocess.Popen[bytes] | None = None
    workers: dict[int, WorkerNode] = field(default_factory=dict)
    head_start_s: float = 0.0
    launched: float = 0.0
    _next: int = 1

    @property
    def address(self) -> str:
        """GCS host:port: ``ray.init(address=…)``, ``prunetune run --address``."""
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """Dashboard and job server: ``ray job submit --address …``."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def temp_dir(self) -> Path:
        return self.root / "head"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a driver or `ray job` CLI run against this cluster."""
        return service_env(**extra)

    # -- head ---------------------------------------------------------------------------------

    def launch_head(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        ports = [free_port() for _ in range(7)]
        cmd = [
            str(VENV_BIN / "ray"), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={self.port}",
            f"--num-cpus={self.head_cpus}", "--num-gpus=0",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}",
            f"--dashboard-agent-listen-port={ports[0]}", f"--dashboard-agent-grpc-port={ports[1]}",
            f"--runtime-env-agent-port={ports[2]}", f"--metrics-export-port={ports[3]}",
            f"--node-manager-port={ports[4]}", f"--object-manager-port={ports[5]}",
            f"--ray-client-server-port={ports[6]}",
            "--min-worker-port=0", "--max-worker-port=0",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
        ]  # fmt: skip
        self.launched = time.monotonic()
        with (self.root / "head.log").open("ab") as log:
            self.head = subprocess.Popen(
                cmd, cwd=self.root, env=service_env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def wait_head(self, timeout: float = 120.0) -> float:
        """GCS answers and the job server lists jobs."""
        from studies.session.ray_session import check_reachable

        def ready() -> bool:
            try:
                check_reachable(self.address, timeout=2)
            except ValueError:
                return False
            return http_ok(f"{self.dashboard_url}/api/jobs/")

        wait_until(ready, timeout, "ray head", self.root / "head.log", self.head)
        self.head_start_s = time.monotonic() - self.launched
        return self.head_start_s

    # -- worker nodes -------------------------------------------------------------------------

    def launch_worker(self) -> WorkerNode:
        index = self._next
        self._next += 1
        temp = self.root / f"w{index}"
        temp.mkdir(parents=True, exist_ok=True)
        resource = f"node_w{index}"
        log_path = self.root / f"w{index}.log"
        cmd = [
            sys.executable, "-m", "tests.cluster.ray_node",
            "--address", self.address, "--num-cpus", str(self.worker_cpus),
            "--resources", json.dumps({resource: 1}),
            "--object-store-memory", str(OBJECT_STORE_BYTES),
            "--temp-dir", str(temp), "--ready-file", str(temp / "ready.json"),
            "--ports", ",".join(str(free_port()) for _ in range(5)),
        ]  # fmt: skip
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                # cwd=REPO lets `-m tests.cluster.ray_node` import; no PYTHONPATH, so trial
                # workers import prunetune the way a real node does (the installed package).
                cmd, cwd=REPO, env=service_env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        node = WorkerNode(index, resource, proc, temp, log_path)
        self.workers[index] = node
        return node

    def wait_worker(self, node: WorkerNode, timeout: float = 90.0) -> float:
        ready = node.temp_dir / "ready.json"
        wait_until(ready.exists, timeout, f"ray worker node {node.index}", node.log_path,
                   node.proc)  # fmt: skip
        info = json.loads(ready.read_text())
        node.node_id, node.raylet_pid = info["node_id"], info["raylet_pid"]
        wait_until(lambda: node.node_id in self.alive_node_ids(), 30,
                   f"ray worker node {node.index} in GCS", node.log_path)  # fmt: skip
        node.start_s = time.monotonic() - node.launched
        return node.start_s

    def add_worker(self) -> WorkerNode:
        """Start a (replacement) worker node with the next index; returns once it is alive."""
        node = self.launch_worker()
        self.wait_worker(node)
        return node

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker node ``index`` whole (raylet, agents, its trial workers): a lost node."""
        node = self.workers.pop(index)
        pids = procs.tree([node.proc.pid, node.raylet_pid], [node.proc.pid])
        procs.kill(pids)
        procs.wait_gone(pids, 10)
        node.proc.wait(timeout=10)

    # -- state --------------------------------------------------------------------------------

    def nodes(self) -> list[dict]:
        """Nodes as the state API lists them (node_id, state, resources_total, is_head_node)."""
        url = f"{self.dashboard_url}/api/v0/nodes?limit=100&detail=true"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        return body["data"]["result"]["result"]

    def alive_node_ids(self) -> set[str]:
        try:
            return {n["node_id"] for n in self.nodes() if n["state"] == "ALIVE"}
        except (OSError, KeyError, ValueError):
            return set()

    def pgids(self) -> set[int]:
        groups = {w.proc.pid for w in self.workers.values()}
        if self.head is not None:
            groups.add(self.head.pid)
        return groups

    def stop(self) -> None:
        """SIGKILL every process of this cluster (ours only: found by process group/tree)."""
        pids = procs.tree(self.pgids(), self.pgids())
        procs.kill(pids)
        procs.wait_gone(pids, 15)
        for proc in [self.head, *(w.proc for w in self.workers.values())]:
            if proc is not None and proc.poll() is None:
                proc.wait(timeout=5)
        self.workers.clear()
        self.head = None


@dataclass
class AuthMlflowServer(MlflowServer):
    """``mlflow server --app-name basic-auth`` (docker/mlflow-auth.ini's settings, users in a
    SQLite file here): the admin user is created on first start with ``admin_password``
    (MLflow 3.17 wants ≥ 12 characters); it and the Flask secret key go only into the server's
    environment, as docker/compose.yaml passes them."""

    admin_password: str = ""
    admin_username: str = "admin"
    secret_key: str = ""  # MLFLOW_FLASK_SERVER_SECRET_KEY: CSRF key, required by 3.17's auth app

    @property
    def auth_db(self) -> Path:
        return self.root / "auth.db"

    @property
    def backend_db(self) -> Path | None:
        prefix = "sqlite:///"
        return (
            Path(self.backend_uri.removeprefix(prefix))
            if self.backend_uri.startswith(prefix)
            else None
        )

    def launch(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir.mkdir(mode=0o700, exist_ok=True)
        ini = self.root / "auth.ini"
        ini.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{self.auth_db}\n"
            f"admin_username = {self.admin_username}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        cmd = [
            str(VENV_BIN / "mlflow"), "server", "--app-name", "basic-auth",
            "--backend-store-uri", self.backend_uri,
            "--serve-artifacts", "--artifacts-destination", str(self.artifacts_dir),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        env = service_env(
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
            MLFLOW_AUTH_CONFIG_PATH=str(ini),
            MLFLOW_AUTH_ADMIN_PASSWORD=self.admin_password,
            MLFLOW_FLASK_SERVER_SECRET_KEY=self.secret_key,
        )
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env.pop(key, None)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1

"""Static checks of docker/: the compose files, the Kubernetes manifests (RayCluster, RayJob and
the services they use), the Dockerfile, and every command they and docker/README.md run, against
the real CLI parsers (prunetune, `ray start`, `ray job`, `mlflow server`), KubeRay's field names
and each other.

The machines have the docker client but no engine and no Kubernetes, so nothing is built or
started here. External linters (docker compose config, hadolint, shellcheck) run when installed
and are skipped otherwise.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
NODES = ("ray-head", "ray-worker", "driver")  # Ray nodes: they run trials, jobs or the driver
IMAGE_SERVICES = ("mlflow", *NODES)
SECRET_VARS = (
    "POSTGRES_PASSWORD",
    "RAY_AUTH_TOKEN",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
)


class _ComposeLoader(yaml.SafeLoader):
    """SafeLoader that also reads Compose's merge tags (`!reset`, `!override`)."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> tuple[str, Any]:
    if isinstance(node, yaml.MappingNode):
        return suffix, loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return suffix, loader.construct_sequence(node, deep=True)
    return suffix, loader.construct_scalar(node)


_ComposeLoader.add_multi_constructor("!", _tagged)


def _load(name: str) -> dict[str, Any]:
    return yaml.load((DOCKER / name).read_text(), Loader=_ComposeLoader)


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DOCKER / name).read_text()) if d]


COMPOSE = _load("compose.yaml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
COMPOSE_FILES = sorted(p.name for p in DOCKER.glob("compose*.yaml"))
KUBE_FILES = ("kube-services.yaml", "kuberay.yaml", "rayjob.yaml")
KUBE = {name: _docs(name) for name in KUBE_FILES}
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
README = (DOCKER / "README.md").read_text()
CONSTRAINTS = (ROOT / "constraints.txt").read_text()
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def _kube(kind: str, name: str) -> dict[str, Any]:
    found = [
        d
        for docs in KUBE.values()
        for d in docs
        if (d["kind"], d["metadata"]["name"]) == (kind, name)
    ]
    assert len(found) == 1, f"expected one {kind}/{name} in {KUBE_FILES}"
    return found[0]


RAYCLUSTER = _kube("RayCluster", "prunetune")
RAYJOB = _kube("RayJob", "prunetune-study")
STUDY_CONFIGMAP = _kube("ConfigMap", "prunetune-study")
CLUSTER_SPECS = {
    "kuberay.yaml": RAYCLUSTER["spec"],
    "rayjob.yaml": RAYJOB["spec"]["rayClusterSpec"],
}
MLFLOW_POD = _kube("Deployment", "mlflow")["spec"]["template"]["spec"]


def _ray_pods() -> list[tuple[str, dict[str, Any]]]:
    """(where, pod spec) of every Ray head and worker template, RayCluster and RayJob."""
    pods = []
    for where, spec in CLUSTER_SPECS.items():
        pods.append((f"{where}:head", spec["headGroupSpec"]["template"]["spec"]))
        for group in spec["workerGroupSpecs"]:
            pods.append((f"{where}:{group['groupName']}", group["template"]["spec"]))
    return pods


RAY_PODS = _ray_pods()


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(e.split("=", 1) for e in env) if isinstance(env, list) else env


def _kube_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _options(argv: list[str]) -> dict[str, str]:
    """`--flag value` / `--flag=value` pairs of a command line (flags without a value: "")."""
    out: dict[str, str] = {}
    for i, token in enumerate(argv):
        if token.startswith("--"):
            key, eq, value = token.partition("=")
            nxt = argv[i + 1] if i + 1 < len(argv) else "--"
            out[key] = value if eq else ("" if nxt.startswith("--") else nxt)
    return out


def _mlflow_commands() -> dict[str, list[str]]:
    return {
        "compose": SERVICES["mlflow"]["command"],
        "kube": MLFLOW_POD["containers"][0]["command"],
    }


# --- command lines: compose services, comments in the YAML files, README code blocks -----------


def _shell_text() -> list[tuple[str, str]]:
    """(where, text) of every place a user copies commands from: the README's code blocks and
    the commands in the docker files' header comments (indented: "#   cmd")."""
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", README, flags=re.S)
    out = [("README.md", "\n".join(blocks))]
    for name in (*COMPOSE_FILES, *KUBE_FILES):
        lines = (DOCKER / name).read_text().splitlines()
        out.append(
            (f"{name} comments", "\n".join(ln[1:] for ln in lines if ln.startswith("#   ")))
        )
    return out


def _lines_with(word: str, text: str) -> list[list[str]]:
    """Token lists of the shell lines (continuations joined) in which `word` is a command word."""
    joined = re.sub(r"\\\n", " ", text).splitlines()
    out = []
    for line in joined:
        if re.search(rf"(^|\s){word}\s+\S", line):
            tokens = shlex.split(line, comments=True)
            if word in tokens:
                out.append(tokens)
    return out


def _prunetune_argvs() -> list[tuple[str, list[str]]]:
    found = [
        (f"compose.yaml:{name}", svc["command"][1:])
        for name, svc in SERVICES.items()
        if isinstance(svc.get("command"), list) and svc["command"][0] == "prunetune"
    ]
    found.append(("rayjob.yaml:entrypoint", shlex.split(RAYJOB["spec"]["entrypoint"])[1:]))
    for where, text in _shell_text():
        for tokens in _lines_with("prunetune", text):
            rest = tokens[tokens.index("prunetune") + 1 :]
            if rest:
                found.append((where, rest))
    return found


def _ray_job_argvs() -> list[tuple[str, list[str]]]:
    """`ray job SUB ...` lines (the `--` entrypoint included) of the README and the comments."""
    found = []
    for where, text in _shell_text():
        for tokens in _lines_with("ray", text):
            i = tokens.index("ray")
            if tokens[i + 1 : i + 2] == ["job"]:
                found.append((where, tokens[i + 2 :]))
    return found


def _ids(cases: list[tuple[str, list[str]]]) -> list[str]:
    return [f"{where}:{' '.join(argv[:2])}" for where, argv in cases]


PRUNETUNE_ARGVS = _prunetune_argvs()
RUN_ARGVS = [(w, a) for w, a in PRUNETUNE_ARGVS if a[0] == "run"]
RAY_JOB_ARGVS = _ray_job_argvs()


@pytest.fixture(scope="module")
def parser() -> Any:
    from studies.cli import build_parser

    built = build_parser()
    commands = built._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    if not {"run", "resume", "ls", "show", "compare"} <= set(commands):
        pytest.skip("the study commands (run/resume/ls/show/compare) are not importable yet")
    return built


def test_the_commands_were_found() -> None:
    """The README and the manifests' comments hold run, resume, ls, show and compare commands,
    `ray job submit` lines, and the RayJob's entrypoint is a prunetune run."""
    subcommands = {argv[0] for _, argv in PRUNETUNE_ARGVS}
    assert {"run", "resume", "ls", "show", "compare"} <= subcommands
    assert {w for w, _ in RUN_ARGVS} >= {
        "README.md",
        "rayjob.yaml:entrypoint",
        "compose.yaml comments",
    }
    assert {argv[0] for _, argv in RAY_JOB_ARGVS} >= {"submit", "logs", "stop"}


@pytest.mark.parametrize(("where", "argv"), PRUNETUNE_ARGVS, ids=_ids(PRUNETUNE_ARGVS))
def test_prunetune_command_parses(parser: Any, where: str, argv: list[str]) -> None:
    """Every prunetune command line uses only subcommands and flags the real CLI has."""
    try:
        parser.parse_args(argv)
    except (Exception, SystemExit) as err:
        pytest.fail(f"{where}: prunetune {' '.join(argv)}: {err}")


@pytest.mark.parametrize(("where", "argv"), RAY_JOB_ARGVS, ids=_ids(RAY_JOB_ARGVS))
def test_ray_job_command_parses(where: str, argv: list[str]) -> None:
    """Every `ray job` line parses with the pinned Ray's job CLI and talks to the job server on
    8265 (published on 127.0.0.1 by compose, inside the head pod on Kubernetes)."""
    from ray.scripts.scripts import cli

    command = cli.commands["job"].commands[argv[0]]  # type: ignore[attr-defined]
    params = command.make_context(argv[0], argv[1:]).params
    assert params["address"] == "http://127.0.0.1:8265", where
    if argv[0] == "submit":
        entry = list(params["entrypoint"])
        assert entry[0] == "prunetune" and entry[1] in {"run", "resume"}, (where, entry)
        if entry[1] == "run":
            assert _options(entry)["--address"] == "auto", f"{where}: a job joins its own cluster"


def test_set_keys_are_study_fields() -> None:
    """Every `--set` key names a field of the study file."""
    from pydantic import BaseModel

    from studies.spec import StudySpec

    for where, argv in RUN_ARGVS:
        for pair in argv[argv.index("--set") + 1 :] if "--set" in argv else []:
            if pair.startswith("--"):
                break
            model: Any = StudySpec
            for part in pair.partition("=")[0].split("."):
                assert isinstance(model, type) and issubclass(model, BaseModel), (where, pair)
                assert part in model.model_fields, f"{where}: --set {pair}: no field {part!r}"
                model = model.model_fields[part].annotation


def test_named_presets_are_shipped() -> None:
    """The presets the docs run exist (skipped while a paper preset is still being written)."""
    from studies.spec import list_presets

    shipped = {name for name, _ in list_presets()}
    missing = {a[1] for _, a in RUN_ARGVS if not a[1].endswith(".toml")} - shipped
    if missing:
        pytest.skip(f"presets not shipped yet: {sorted(missing)}")


@pytest.mark.parametrize(("where", "argv"), RUN_ARGVS, ids=_ids(RUN_ARGVS))
def test_run_commands_point_at_the_cluster(where: str, argv: list[str]) -> None:
    """A cluster run names the head (or `auto`), the MLflow server, Postgres, and a workdir on
    the shared volume."""
    opts = _options(argv)
    head_port = _options(SERVICES["ray-head"]["command"])["--port"]
    mlflow_port = _options(SERVICES["mlflow"]["command"])["--port"]
    pg = _env(SERVICES["postgres"])
    assert opts["--address"] in {f"ray-head:{head_port}", "auto"}, where
    assert opts["--tracking-uri"] == f"http://mlflow:{mlflow_port}", where
    assert opts["--storage"] == f"postgresql://{pg['POSTGRES_USER']}@postgres:5432/optuna", where
    assert opts["--workdir"].startswith("/shared/"), where


# --- compose -------------------------------------------------------------------------------


def _published(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host_ip, published, target) of a service's ports, short or long syntax."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), str(port["published"]), str(port["target"])))
            continue
        parts = str(port).split(":")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        else:  # "8265" or "8265:8265": published on every interface
            out.append(("", parts[0], parts[-1]))
    return out


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_published_ports_are_loopback_only(name: str) -> None:
    """Every port any compose file publishes is bound to 127.0.0.1; nothing uses the host's
    network; compose.yaml publishes exactly the MLflow UI (5000) and the Ray job server (8265)."""
    services = _load(name).get("services", {})
    for service_name, service in services.items():
        assert service.get("network_mode") != "host", (name, service_name)
        for host_ip, published, target in _published(service):
            assert host_ip == "127.0.0.1", (
                f"{name}:{service_name} publishes {published} on {host_ip or '0.0.0.0'}"
            )
            assert published == target
    if name == "compose.yaml":
        published = {(s, p[1]) for s, svc in SERVICES.items() for p in _published(svc)}
        assert published == {("mlflow", "5000"), ("ray-head", "8265")}


def test_compose_has_the_cluster_services() -> None:
    """postgres, mlflow, ray-head, ray-worker and driver exist; volumes are declared."""
    assert set(SERVICES) >= {"postgres", "mlflow", *NODES}
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert {"shared", "mlartifacts", "pgdata"} <= set(COMPOSE["volumes"])
    assert SERVICES["driver"]["profiles"] == ["driver"]  # `up` leaves it; `run` starts it


def test_one_image_built_from_the_dockerfile() -> None:
    """mlflow, the Ray nodes and the driver share one image built from docker/Dockerfile."""
    images = {SERVICES[s]["image"] for s in IMAGE_SERVICES}
    assert len(images) == 1
    for name in IMAGE_SERVICES:
        build = SERVICES[name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_shared_workdir_on_every_node_artifacts_only_on_mlflow() -> None:
    """Every Ray node and the driver mount /shared and /data (read-only); MLflow's artifacts
    volume is mounted by the server alone (clients upload through --serve-artifacts)."""
    for name in NODES:
        volumes = SERVICES[name]["volumes"]
        assert "shared:/shared" in volumes, name
        assert any(v.endswith(":/data:ro") for v in volumes), name
        assert not any(v.startswith("mlartifacts:") for v in volumes), name
    destination = _options(SERVICES["mlflow"]["command"])["--artifacts-destination"]
    assert SERVICES["mlflow"]["volumes"] == [f"mlartifacts:{destination}"]


def test_ray_start_commands_exist_in_pinned_ray() -> None:
    """ray-head/ray-worker/entrypoint `ray start` lines and the KubeRay rayStartParams parse
    with the pinned Ray; the head serves the dashboard and job server on 8265."""
    from ray.scripts.scripts import start

    head = SERVICES["ray-head"]["command"]
    worker = SERVICES["ray-worker"]["command"]
    script = (DOCKER / "entrypoint.sh").read_text().splitlines()
    join = next(ln for ln in script if "ray start" in ln and not ln.lstrip().startswith("#"))
    join_argv = shlex.split(join.rstrip("\\"))
    join_argv = join_argv[join_argv.index("ray") :]
    for argv in (head, worker, join_argv):
        assert argv[:2] == ["ray", "start"]
        start.make_context("start", argv[2:])
    params = start.make_context("start", head[2:]).params
    assert params["head"] and params["block"] and params["include_dashboard"] is True
    assert params["dashboard_host"] == "0.0.0.0" and params["dashboard_port"] == 8265
    assert _options(worker)["--address"] == f"ray-head:{params['port']}" and "--block" in worker
    assert _env(SERVICES["driver"])["PRUNETUNE_RAY_JOIN"] == f"ray-head:{params['port']}"
    for where, spec in CLUSTER_SPECS.items():  # KubeRay passes them to `ray start --KEY=VALUE`
        groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
        for group in groups:
            argv = [f"--{k}={v}" for k, v in group["rayStartParams"].items()]
            start.make_context("start", argv)
        head_params = spec["headGroupSpec"]["rayStartParams"]
        assert head_params["include-dashboard"] == "true", where


def test_ray_healthchecks_are_kuberays_probes() -> None:
    """The head's healthcheck asks the dashboard agent (raylet) and the dashboard (GCS), the
    workers' the agent: the endpoints KubeRay's default probes call, on Ray's default ports, and
    they exist, unauthenticated, in the pinned Ray's dashboard (which needs ray[default])."""
    from ray._private import ray_constants

    ray_dir = Path(importlib.util.find_spec("ray").origin).parent  # type: ignore[union-attr]
    dashboard = "\n".join(p.read_text() for p in (ray_dir / "dashboard").rglob("*.py"))
    head_server = (ray_dir / "dashboard" / "http_server_head.py").read_text()
    agent_server = (ray_dir / "dashboard" / "http_server_agent.py").read_text()
    public = set(
        re.findall(
            r'"(/api/\w+)"',
            re.search(r"public_exact_paths = \{(.*?)\}", head_server, re.S).group(1),
        )
    )  # type: ignore[union-attr]
    public |= set(
        re.findall(
            r'"(/api/\w+)"',
            re.search(r"PUBLIC_EXACT_PATHS = \[(.*?)\]", agent_server, re.S).group(1),
        )
    )  # type: ignore[union-attr]
    agent_port = ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT
    head_port = ray_constants.DEFAULT_DASHBOARD_PORT
    expected = {
        "ray-head": {(agent_port, "/api/local_raylet_healthz"), (head_port, "/api/gcs_healthz")},
        "ray-worker": {(agent_port, "/api/local_raylet_healthz")},
    }
    for name, endpoints in expected.items():
        test = SERVICES[name]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL" and "wget" in test[1] and "grep success" in test[1]
        found = {(int(p), path) for p, path in re.findall(r"localhost:(\d+)(/\S+)", test[1])}
        assert found == endpoints, name
        for _, path in endpoints:
            assert f'routes.get("{path}")' in dashboard, f"no {path} route in the pinned Ray"
            assert path in public, f"{path} needs the Ray token in the pinned Ray"
    assert "wget" in re.search(r"apt-get install[^\n]*", DOCKERFILE).group(0)  # type: ignore[union-attr]


@pytest.mark.parametrize("where", ["compose", "kube"])
def test_mlflow_server_command(where: str) -> None:
    """Each `mlflow server` line parses with the pinned MLflow: basic auth, artifacts served by
    the server from its own volume, Postgres store, reachable by the service name."""
    from mlflow.cli import server

    argv = _mlflow_commands()[where]
    assert argv[:2] == ["mlflow", "server"]
    params = server.make_context("server", argv[2:]).params
    port = int(params["port"])
    assert params["app_name"] == "basic-auth"
    assert params["serve_artifacts"] is True and "--serve-artifacts" in argv
    assert params["host"] == "0.0.0.0" and str(params["workers"]) == "1"
    assert params["backend_store_uri"] == "postgresql://prunetune@postgres:5432/mlflow"
    assert {"mlflow", f"mlflow:{port}", f"localhost:{port}"} <= set(
        params["allowed_hosts"].split(",")
    )
    assert port == int(_options(SERVICES["mlflow"]["command"])["--port"])
    if where == "kube":
        assert argv == _mlflow_commands()["compose"]  # one server line, two deployments
        mounts = {m["mountPath"]: m["name"] for m in MLFLOW_POD["containers"][0]["volumeMounts"]}
        volume = next(
            v
            for v in MLFLOW_POD["volumes"]
            if v["name"] == mounts[params["artifacts_destination"]]
        )
        claim = _kube("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]  # one server, no sharing needed


def _auth_ini() -> configparser.ConfigParser:
    ini = configparser.ConfigParser()
    ini.read_string((DOCKER / "mlflow-auth.ini").read_text())
    return ini


def test_mlflow_auth_config_is_what_mlflow_reads() -> None:
    """mlflow-auth.ini has every key MLflow 3.17's read_auth_config requires, a valid default
    permission and no password; the image installs it where MLFLOW_AUTH_CONFIG_PATH points."""
    mlflow_dir = Path(importlib.util.find_spec("mlflow").origin).parent  # type: ignore[union-attr]
    reader = (
        mlflow_dir / "server" / "auth" / "config.py"
    ).read_text()  # importing it needs Flask-WTF
    required = set(re.findall(r'config\["mlflow"\]\["(\w+)"\]', reader))
    assert {"default_permission", "database_uri"} <= required
    section = _auth_ini()["mlflow"]
    assert required <= set(section), sorted(required - set(section))
    permissions = (mlflow_dir / "server" / "auth" / "permissions.py").read_text()
    assert re.search(rf'name="{section["default_permission"]}"', permissions)
    assert "admin_password" not in section and "password" not in section["database_uri"]
    assert section["database_uri"].startswith("postgresql://")
    path = re.search(r"MLFLOW_AUTH_CONFIG_PATH=(\S+)", DOCKERFILE).group(1)  # type: ignore[union-attr]
    assert re.search(rf"^COPY docker/mlflow-auth\.ini {re.escape(path)}$", DOCKERFILE, flags=re.M)


def test_mlflow_clients_log_in_as_the_admin() -> None:
    """The server gets the admin password and CSRF key; every client (driver, Ray head and
    workers; compose and Kubernetes) logs in as the ini's admin with that same password."""
    admin = _auth_ini()["mlflow"]["admin_username"]
    server = _env(SERVICES["mlflow"])
    for var in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY", "PGPASSWORD"):
        assert server[var].startswith("${"), var
    password_var = re.match(r"\$\{(\w+)", server["MLFLOW_AUTH_ADMIN_PASSWORD"]).group(1)  # type: ignore[union-attr]
    for name in NODES:
        env = _env(SERVICES[name])
        assert env["MLFLOW_TRACKING_USERNAME"] == admin, name
        assert env["MLFLOW_TRACKING_PASSWORD"].startswith(f"${{{password_var}:?"), name
    kube_server = _kube_env(MLFLOW_POD["containers"][0])
    secret_key = kube_server["MLFLOW_AUTH_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"]
    assert "MLFLOW_FLASK_SERVER_SECRET_KEY" in kube_server
    for where, pod in RAY_PODS:
        env = _kube_env(pod["containers"][0])
        assert env["MLFLOW_TRACKING_USERNAME"]["value"] == admin, where
        assert env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == secret_key


def test_mlflow_server_environment() -> None:
    """The server runs without job execution and gets the database password from the env."""
    for env in (_env(SERVICES["mlflow"]), _kube_env(MLFLOW_POD["containers"][0])):
        assert "PGPASSWORD" in env
        value = env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]
        assert (value if isinstance(value, str) else value["value"]) == "false"


def test_postgres_creates_every_database_used() -> None:
    """The init SQL (compose and the Kubernetes ConfigMap) creates every database a URI names."""
    created = set(
        re.findall(r"CREATE DATABASE (\w+);", (DOCKER / "postgres-init.sql").read_text())
    )
    created.add(_env(SERVICES["postgres"])["POSTGRES_DB"])
    text = "\n".join(
        (DOCKER / n).read_text()
        for n in ("compose.yaml", *KUBE_FILES, "README.md", "mlflow-auth.ini")
    )
    used = set(re.findall(r"postgresql://\w+@postgres:5432/(\w+)", text))
    assert used >= {"mlflow", "optuna", "mlflow_auth"} and used <= created
    init = _kube("ConfigMap", "prunetune-postgres-init")["data"]["10-optuna.sql"]
    assert set(re.findall(r"CREATE DATABASE (\w+);", init)) == created - {"mlflow"}
    assert any("docker-entrypoint-initdb.d" in v for v in SERVICES["postgres"]["volumes"])


def test_gpus_reserved_and_cpu_override_drops_them() -> None:
    """ray-head and ray-worker reserve NVIDIA GPUs; compose.cpu.yaml resets both reservations."""
    for name in ("ray-head", "ray-worker"):
        (device,) = SERVICES[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        cpu = _load("compose.cpu.yaml")["services"][name]["deploy"]["resources"]
        assert cpu[0] == "reset"


def test_ray_worker_is_scalable() -> None:
    """ray-worker has no fixed container name or host port, so --scale can replicate it."""
    worker = SERVICES["ray-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["deploy"]["replicas"] == 0  # on one host the head owns the GPUs (README)


def test_healthchecks_gate_startup() -> None:
    """postgres, mlflow and ray-head have healthchecks; dependants wait for them."""
    for name in ("postgres", "mlflow", "ray-head"):
        assert SERVICES[name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
    assert SERVICES["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["ray-worker"]["depends_on"]["ray-head"]["condition"] == "service_healthy"
    driver_deps = SERVICES["driver"]["depends_on"]
    assert {d["condition"] for d in driver_deps.values()} == {"service_healthy"}
    assert set(driver_deps) == {"postgres", "mlflow", "ray-head"}


def test_job_drivers_have_what_a_driver_needs() -> None:
    """`ray job submit` runs the driver on the head: the compose head and the KubeRay heads get
    Optuna's database password; the workers (trials only) do not."""
    assert _env(SERVICES["ray-head"])["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "PGPASSWORD" not in _env(SERVICES["ray-worker"])
    for where, pod in RAY_PODS:
        has = "PGPASSWORD" in _kube_env(pod["containers"][0])
        assert has == where.endswith(":head"), where


# --- secrets ---------------------------------------------------------------------------------


def test_secrets_required_and_never_literal() -> None:
    """Passwords and the Ray token come from required variables (compose refuses to start
    without them); no file in docker/ carries a password in a URI or a literal secret value."""
    for name in NODES:
        env = _env(SERVICES[name])
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"].startswith(
            "${RAY_AUTH_TOKEN:?"
        )
    for name, service in SERVICES.items():
        for key, value in _env(service).items():
            if re.search("PASSWORD|TOKEN|SECRET", key) and key != "RAY_AUTH_MODE":
                assert str(value).startswith("${") and ":?" in str(value), (name, key)
    for path in DOCKER.iterdir():
        if path.is_file() and path.name != ".env":
            text = path.read_text()
            assert not re.search(r"\w+://[^/\s@:]+:[^/\s@]+@", text), path.name
            assert not re.search(r"(?im)^\s*(admin_)?password\s*=\s*\S", text), path.name


def test_env_example_has_no_values_and_env_is_ignored() -> None:
    """.env.example names every required variable, with an empty value (an example password
    would be one a user keeps); docker/.env is git-ignored, untracked and outside the image's
    build context."""
    text = "\n".join((DOCKER / n).read_text() for n in COMPOSE_FILES)
    example = (DOCKER / ".env.example").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == set(SECRET_VARS)
    for var in required:
        assert re.search(rf"^{var}=$", example, flags=re.M), f"{var} must be present and empty"
    assert ".env" in (DOCKER / ".gitignore").read_text().split()
    ignore = [
        ln
        for ln in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert ignore[0] == "*" and not [ln for ln in ignore if ln.startswith("!") and ".env" in ln]
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = _run(["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT)
        assert ignored.returncode == 0, "docker/.env is not git-ignored"
        tracked = _run(["git", "ls-files", "docker"], cwd=ROOT).stdout.split()
        assert "docker/.env" not in tracked and "docker/.env.example" in tracked


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_installs_the_pinned_set() -> None:
    """Python 3.11 base; pyproject's requirements and the project installed with `-c
    constraints.txt` (mlflow[auth] pins Flask-WTF there); no psycopg2, nothing installed
    outside the pinned set; the build fails if the dashboard's dependencies, psycopg or
    Flask-WTF do not import."""
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11", DOCKERFILE, flags=re.M)
    assert "pip install -c constraints.txt -r /tmp/requirements.txt" in DOCKERFILE
    assert "pip install -c constraints.txt ." in DOCKERFILE and "pip check" in DOCKERFILE
    assert "psycopg2" not in DOCKERFILE and not re.search(r"(?im)^psycopg2", CONSTRAINTS)
    assert not re.findall(r'"[A-Za-z0-9_.-]+==', DOCKERFILE)  # no pin outside constraints.txt
    assert re.search(r"(?m)^Flask-WTF==", CONSTRAINTS) and '"mlflow[auth]==' in PYPROJECT
    check = re.search(r'python -c "import ([\w., ]+)"', DOCKERFILE)
    assert check and {m.strip() for m in check.group(1).split(",")} == {
        "ray.dashboard.optional_deps",
        "psycopg",
        "flask_wtf",
    }


def test_pinned_set_has_ray_default_and_psycopg3() -> None:
    """What the Dockerfile installs: pyproject asks for ray[default] and psycopg 3, every
    dependency of Ray's `default` extra is pinned in constraints.txt, the dashboard's optional
    deps import here (the Dockerfile's own check), and SQLAlchemy maps postgresql:// to psycopg."""
    import sqlalchemy

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = " ".join(project["dependencies"])
    assert re.search(r"ray\[[^\]]*\bdefault\b[^\]]*\]==", deps)
    assert re.search(r"psycopg\[binary\]==", deps)
    pinned = {
        re.split(r"[=<>!;\[ ]", line)[0].lower().replace("_", "-")
        for line in CONSTRAINTS.splitlines()
        if line and not line.startswith("#")
    }
    default_extra = [
        r for r in importlib.metadata.requires("ray") or [] if 'extra == "default"' in r
    ]
    names = {re.split(r"[=<>!;\[ ]", r)[0].lower().replace("_", "-") for r in default_extra}
    assert names and names <= pinned, sorted(names - pinned)
    assert {"psycopg", "psycopg-binary"} <= pinned
    importlib.import_module("ray.dashboard.optional_deps")
    assert (
        sqlalchemy.create_engine("postgresql://prunetune@postgres/optuna").dialect.driver
        == "psycopg"
    )


def test_dockerfile_runtime_user_and_environment() -> None:
    """The final stage runs as a non-root uid with the cluster environment and entrypoint."""
    final = DOCKERFILE.split("\nFROM ")[-1]
    user = re.findall(r"^USER (\S+)", final, flags=re.M)[-1]
    uid = re.search(r"^ARG UID=(\d+)", final, flags=re.M)
    assert user == "${UID}:${GID}" and uid and int(uid.group(1)) > 0
    for _, pod in [*RAY_PODS, ("mlflow", MLFLOW_POD)]:
        assert pod["securityContext"]["runAsUser"] == int(uid.group(1))
        assert pod["securityContext"]["runAsNonRoot"] is True
    for setting in (
        "MLFLOW_DISABLE_TELEMETRY=true",
        "RAY_USAGE_STATS_ENABLED=0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1",
        "PRUNETUNE_WORKDIR=/shared/prunetune-runs",
        "PRUNETUNE_DATA=/data",
        "PATH=/opt/prunetune/bin:$PATH",
    ):
        assert setting in final, setting
    assert 'ENTRYPOINT ["prunetune-entrypoint"]' in final
    # KubeRay starts Ray and the autoscaler through `bash -lc`; Debian's /etc/profile resets PATH.
    assert "export PATH=/opt/prunetune/bin:$PATH' > /etc/profile.d/" in final


def test_build_context_allows_every_copy() -> None:
    """Every COPY source exists and Dockerfile.dockerignore (an allowlist) lets it through."""
    allowed = {
        line[1:].rstrip("/")
        for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert "*" in (DOCKER / "Dockerfile.dockerignore").read_text().split()
    for line in re.findall(r"^COPY (?!--from)(.*)$", DOCKERFILE, flags=re.M):
        sources = [t for t in line.split()[:-1] if not t.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source in allowed, f"{source} is excluded by Dockerfile.dockerignore"


def test_no_unsafe_loads_or_downloads() -> None:
    """Nothing in docker/ unpickles whole objects or fetches a data set or a URL at build."""
    for path in DOCKER.iterdir():
        text = path.read_text() if path.is_file() else ""
        assert "weights_only=False" not in text, path.name
        assert not re.search(r"download\s*=\s*true|dataset\.download", text, flags=re.I), path.name
    run_lines = "\n".join(re.findall(r"^RUN .*(?:\\\n.*)*", DOCKERFILE, flags=re.M))
    assert not re.search(r"https?://|\bcurl\b|wget\s+\S*http", run_lines)


# --- KubeRay: field names from KubeRay's CRD types -------------------------------------------
#
# The json tags of ray-operator/apis/ray/v1/{rayjob,raycluster}_types.go in ray-project/kuberay
# (controller-gen turns them into config/crd/bases/ray.io_rayjobs.yaml / ray.io_rayclusters.yaml):
# RayJobSpec as of the release that added SidecarMode and deletionStrategy.deletionRules (v1.5),
# RayClusterSpec/HeadGroupSpec/WorkerGroupSpec/AutoscalerOptions/AuthOptions as of a later master
# (it adds upgradeStrategy, tlsOptions, networkPolicy, ...). Cross-checked with the generated
# "KubeRay CRD API reference" (docs.ray.io, fields of v1.6.2). The manifests themselves use only
# fields that KubeRay v1.5.1 has (authOptions appeared there), see KUBERAY_V151 below.

RAYJOB_SPEC = {
    "activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate", "metadata",
    "clusterSelector", "submitterConfig", "managedBy", "deletionStrategy", "entrypoint",
    "runtimeEnvYAML", "jobId", "submissionMode", "entrypointResources", "entrypointNumCpus",
    "entrypointNumGpus", "ttlSecondsAfterFinished", "shutdownAfterJobFinishes", "suspend",
}  # fmt: skip
RAYCLUSTER_SPEC = {
    "upgradeStrategy", "authOptions", "suspend", "managedBy", "autoscalerOptions",
    "headServiceAnnotations", "enableInTreeAutoscaling", "gcsFaultToleranceOptions",
    "historyServerOptions", "networkPolicy", "tlsOptions", "headGroupSpec", "rayVersion",
    "workerGroupSpecs",
}  # fmt: skip
HEAD_GROUP = {
    "template", "headService", "enableIngress", "ingressOptions", "resources", "labels",
    "rayStartParams", "serviceType",
}  # fmt: skip
WORKER_GROUP = {
    "suspend", "groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds",
    "priority", "resources", "labels", "rayStartParams", "template", "scaleStrategy", "numOfHosts",
}  # fmt: skip
AUTOSCALER_OPTIONS = {
    "resources", "image", "imagePullPolicy", "securityContext", "idleTimeoutSeconds",
    "upscalingMode", "version", "env", "envFrom", "volumeMounts", "command", "args",
}  # fmt: skip
AUTH_OPTIONS = {"enableK8sTokenAuth", "secretName", "mode"}
# Fields the manifests may use: present in KubeRay v1.5.1 (the README's minimum) as well.
KUBERAY_V151 = {
    "rayVersion", "authOptions", "enableInTreeAutoscaling", "autoscalerOptions", "headGroupSpec",
    "workerGroupSpecs", "rayStartParams", "template", "groupName", "replicas", "minReplicas",
    "maxReplicas", "upscalingMode", "idleTimeoutSeconds", "resources", "mode", "entrypoint",
    "shutdownAfterJobFinishes", "ttlSecondsAfterFinished", "backoffLimit", "submissionMode",
    "rayClusterSpec",
}  # fmt: skip
# The core/v1 Container fields a Ray container here may set (Kubernetes API reference).
CONTAINER = {
    "name", "image", "imagePullPolicy", "command", "args", "env", "envFrom", "ports",
    "resources", "volumeMounts", "securityContext", "readinessProbe", "livenessProbe",
    "startupProbe", "lifecycle", "workingDir",
}  # fmt: skip


def _unknown_keys(spec: dict[str, Any], allowed: set[str], where: str) -> list[str]:
    out = [f"{where}.{k}" for k in spec if k not in allowed]
    return out + [
        f"{where}.{k} (not in KubeRay v1.5.1)"
        for k in spec
        if k in allowed and k not in KUBERAY_V151
    ]


def _cluster_spec_errors(spec: dict[str, Any], where: str) -> list[str]:
    errors = _unknown_keys(spec, RAYCLUSTER_SPEC, where)
    errors += _unknown_keys(
        spec.get("autoscalerOptions", {}), AUTOSCALER_OPTIONS, f"{where}.autoscalerOptions"
    )
    errors += _unknown_keys(spec.get("authOptions", {}), AUTH_OPTIONS, f"{where}.authOptions")
    groups = [("headGroupSpec", spec["headGroupSpec"], HEAD_GROUP)]
    groups += [
        (f"workerGroupSpecs[{i}]", g, WORKER_GROUP) for i, g in enumerate(spec["workerGroupSpecs"])
    ]
    for name, group, allowed in groups:
        errors += _unknown_keys(group, allowed, f"{where}.{name}")
        for container in group["template"]["spec"]["containers"]:
            errors += [f"{where}.{name}.containers.{k}" for k in container if k not in CONTAINER]
    return errors


def test_kuberay_field_names() -> None:
    """The RayJob and the RayClusters (its own and kuberay.yaml's) use only KubeRay's field
    names at every level (spec, rayClusterSpec, headGroupSpec, workerGroupSpecs,
    autoscalerOptions, authOptions, the Ray containers)."""
    errors = _unknown_keys(RAYJOB["spec"], RAYJOB_SPEC, "RayJob.spec")
    for where, spec in CLUSTER_SPECS.items():
        errors += _cluster_spec_errors(spec, where)
    assert not errors, errors
    for doc in (RAYJOB, RAYCLUSTER):
        assert doc["apiVersion"] == "ray.io/v1"


def test_the_field_check_catches_a_typo() -> None:
    """The walk above fails on a misspelt or invented field (the check checks)."""
    spec = {**RAYCLUSTER["spec"], "enableInTreeAutoScaling": True}
    spec["workerGroupSpecs"] = [{**RAYCLUSTER["spec"]["workerGroupSpecs"][0], "maxReplica": 8}]
    errors = _cluster_spec_errors(spec, "x")
    assert "x.enableInTreeAutoScaling" in errors and "x.workerGroupSpecs[0].maxReplica" in errors
    assert _unknown_keys({"shutdownAfterJobFinish": True}, RAYJOB_SPEC, "j") == [
        "j.shutdownAfterJobFinish"
    ]


@pytest.mark.parametrize("where", sorted(CLUSTER_SPECS))
def test_kuberay_autoscaling_0_to_8_gpu_workers(where: str) -> None:
    """As the README promises: in-tree autoscaling, a GPU worker group from 0 to 8 pods, a head
    that runs no trials, the pinned Ray version, token auth, sized containers."""
    spec = CLUSTER_SPECS[where]
    assert (
        spec["enableInTreeAutoscaling"] is True
        and spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    )
    (group,) = spec["workerGroupSpecs"]
    assert (group["minReplicas"], group["maxReplicas"]) == (0, 8) and group["replicas"] == 0
    assert "0 to 8" in README and "`minReplicas: 0`, `maxReplicas: 8`" in README
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    pinned = re.search(r"^ray==(\S+)$", CONSTRAINTS, flags=re.M)
    assert pinned and spec["rayVersion"] == pinned.group(1)
    assert spec["authOptions"]["mode"] == "token"
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["resources"]["limits"]["cpu"] and head["resources"]["requests"]["memory"]
    limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] >= 1 and limits["cpu"]


def test_kuberay_probes_are_kuberays_defaults() -> None:
    """No Ray container sets its own probes, so KubeRay injects its defaults (the dashboard
    agent's and dashboard's health endpoints, served with ray[default]); the README says so."""
    for where, pod in RAY_PODS:
        for container in pod["containers"]:
            assert not {"readinessProbe", "livenessProbe"} & set(container), where
    assert "KubeRay injects its default" in README


def test_rayjob_runs_the_study_and_cleans_up() -> None:
    """The RayJob runs `prunetune run` on the ConfigMap's study file (which loads as a study)
    against the cluster's services, deletes its cluster after a TTL and does not retry."""
    spec = RAYJOB["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0
    assert spec["backoffLimit"] == 0 and spec["submissionMode"] == "K8sJobMode"
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["prunetune", "run"]
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in head["containers"][0]["volumeMounts"]}
    study_dir, key = argv[2].rsplit("/", 1)
    volume = next(v for v in head["volumes"] if v["name"] == mounts[study_dir]["name"])
    assert volume["configMap"]["name"] == STUDY_CONFIGMAP["metadata"]["name"]
    assert key in STUDY_CONFIGMAP["data"]


def test_rayjob_study_file_loads(tmp_path: Path) -> None:
    """The ConfigMap's study file is a valid study for the real loader, with its data on /data."""
    from studies.spec import load_spec

    path = tmp_path / "study.toml"
    path.write_text(STUDY_CONFIGMAP["data"]["study.toml"])
    spec = load_spec(str(path))
    assert spec.dataset.root.startswith("/data/")
    assert spec.resources.gpu > 0


def test_readme_resume_of_the_rayjob() -> None:
    """The README's `sed` turns the RayJob into `prunetune resume <the ConfigMap's study>`, and
    the result still parses (same manifest, only the entrypoint changed)."""
    (expr,) = re.findall(r"sed '(s\|[^']+)' docker/rayjob\.yaml", README)
    _, pattern, replacement, _ = expr.split("|")
    text, count = re.subn(
        pattern.replace("^", "(?m)^"), replacement, (DOCKER / "rayjob.yaml").read_text()
    )
    assert count == 1
    resumed = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "RayJob")
    argv = shlex.split(resumed["spec"]["entrypoint"])
    name = tomllib.loads(STUDY_CONFIGMAP["data"]["study.toml"])["name"]
    assert argv[:3] == ["prunetune", "resume", name]
    assert (
        _options(argv)["--workdir"]
        == _options(shlex.split(RAYJOB["spec"]["entrypoint"]))["--workdir"]
    )
    assert {k: v for k, v in resumed["spec"].items() if k != "entrypoint"} == {
        k: v for k, v in RAYJOB["spec"].items() if k != "entrypoint"
    }


def test_rayjob_cluster_is_the_raycluster() -> None:
    """The RayJob's cluster is kuberay.yaml's, plus the study file mounted on the head."""
    job = yaml.safe_load(yaml.safe_dump(RAYJOB["spec"]["rayClusterSpec"]))
    head = job["headGroupSpec"]["template"]["spec"]
    head["containers"][0]["volumeMounts"] = [
        m for m in head["containers"][0]["volumeMounts"] if m["name"] != "study"
    ]
    head["volumes"] = [v for v in head["volumes"] if v["name"] != "study"]
    assert job == RAYCLUSTER["spec"]


def test_kube_pods_share_image_and_volume() -> None:
    """Ray pods and MLflow use one image; Ray pods mount the shared RWX claim at /shared and its
    data/ read-only at /data; MLflow mounts only its own artifacts claim."""
    pods = [*RAY_PODS, ("mlflow", MLFLOW_POD)]
    assert len({p["containers"][0]["image"] for _, p in pods}) == 1
    shared = _kube("PersistentVolumeClaim", "prunetune-shared")
    assert shared["spec"]["accessModes"] == ["ReadWriteMany"]
    for where, pod in RAY_PODS:
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert claims[mounts["/shared"]["name"]] == "prunetune-shared", where
        assert mounts["/data"]["readOnly"] is True and mounts["/data"]["subPath"] == "data", where
    claims = {v["persistentVolumeClaim"]["claimName"] for v in MLFLOW_POD["volumes"]}
    assert claims == {"prunetune-mlartifacts"}


def _env_entries(node: Any) -> list[dict[str, Any]]:
    """Every container env entry ({name, value|valueFrom}) anywhere in a manifest."""
    if isinstance(node, list):
        return [e for item in node for e in _env_entries(item)]
    if not isinstance(node, dict):
        return []
    own = [e for e in node.get("env", []) if isinstance(e, dict)]
    return own + [e for k, v in node.items() if k != "env" for e in _env_entries(v)]


def test_kube_secrets_only_from_the_secret() -> None:
    """No manifest holds a Secret; every password/token/key env var comes from a secretKeyRef
    of prunetune-secrets, with a key the README's `kubectl create secret` creates; service
    ports match the containers."""
    docs = [d for docs in KUBE.values() for d in docs]
    assert not [d for d in docs if d["kind"] == "Secret"]
    created = set(re.findall(r"--from-literal=([\w-]+)=", README))
    secrets = [e for e in _env_entries(docs) if re.search("PASSWORD|TOKEN|SECRET", e["name"])]
    assert secrets
    for entry in secrets:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        assert ref and ref["name"] == "prunetune-secrets" and ref["key"] in created, entry
    port = int(_options(_mlflow_commands()["kube"])["--port"])
    assert _kube("Service", "mlflow")["spec"]["ports"][0]["targetPort"] == port
    assert MLFLOW_POD["containers"][0]["ports"][0]["containerPort"] == port
    assert _kube("Service", "postgres")["spec"]["ports"][0]["port"] == 5432


# --- external linters, when installed ---------------------------------------------------------


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, **kw)


def test_docker_compose_config() -> None:
    """`docker compose config` accepts compose.yaml alone and with the CPU override."""
    if not shutil.which("docker") or _run(["docker", "compose", "version"]).returncode != 0:
        pytest.skip("docker compose (v2) is not installed")
    env = {**os.environ, **dict.fromkeys(SECRET_VARS, "x" * 16)}
    for extra in ([], ["-f", "compose.cpu.yaml"]):
        argv = ["docker", "compose", "-f", "compose.yaml", *extra, "config", "--quiet"]
        done = _run(argv, cwd=DOCKER, env=env)
        assert done.returncode == 0, done.stderr


def test_hadolint() -> None:
    """hadolint finds nothing in the Dockerfile."""
    if not shutil.which("hadolint"):
        pytest.skip("hadolint is not installed")
    done = _run(["hadolint", str(DOCKER / "Dockerfile")])
    assert done.returncode == 0, done.stdout + done.stderr


def test_entrypoint_script() -> None:
    """entrypoint.sh is an executable POSIX script that ends by exec'ing its arguments."""
    path = DOCKER / "entrypoint.sh"
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n") and "set -eu" in text
    assert text.rstrip().endswith('exec "$@"') and os.access(path, os.X_OK)
    if shutil.which("shellcheck"):
        done = _run(["shellcheck", str(path)])
        assert done.returncode == 0, done.stdout

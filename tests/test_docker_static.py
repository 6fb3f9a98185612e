"""Static checks of docker/: the compose files, the KubeRay manifest, the Dockerfile, and every
command they (and docker/README.md) run, against the real CLI parsers and each other.

The machines have the docker client but no engine, so nothing is built or started here. External
linters (docker compose config, hadolint, shellcheck) run when installed and are skipped otherwise.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
NODES = ("ray-head", "ray-worker", "driver")  # Ray nodes: they run trials or the driver
IMAGE_SERVICES = ("mlflow", *NODES)


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


COMPOSE = _load("compose.yaml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
KUBE = [d for d in yaml.safe_load_all((DOCKER / "kuberay.yaml").read_text()) if d]
DOCKERFILE = (DOCKER / "Dockerfile").read_text()


def _kube(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in KUBE if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"kuberay.yaml: expected one {kind}/{name}"
    return found[0]


RAYCLUSTER = _kube("RayCluster", "prunetune")
HEAD_POD = RAYCLUSTER["spec"]["headGroupSpec"]["template"]["spec"]
WORKER_PODS = [g["template"]["spec"] for g in RAYCLUSTER["spec"]["workerGroupSpecs"]]
MLFLOW_POD = _kube("Deployment", "mlflow")["spec"]["template"]["spec"]
HEAD_START_PARAMS = RAYCLUSTER["spec"]["headGroupSpec"]["rayStartParams"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(e.split("=", 1) for e in env) if isinstance(env, list) else env


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
    auth = _load("compose.auth.yaml")["services"]["mlflow"]["command"]
    kube = MLFLOW_POD["containers"][0]["command"]
    return {"compose": SERVICES["mlflow"]["command"], "compose.auth": auth, "kuberay": kube}


# --- prunetune commands: compose services, comments in the YAML files, README code blocks ------


def _command_lines(text: str) -> list[str]:
    """Shell lines (continuations joined) in which `prunetune` is a word followed by another."""
    lines = re.sub(r"\\\n", " ", text).splitlines()
    return [line for line in lines if re.search(r"(^|\s)prunetune\s+\S", line)]


def _prunetune_argvs() -> list[tuple[str, list[str]]]:
    found = [
        (f"compose.yaml:{name}", svc["command"][1:])
        for name, svc in SERVICES.items()
        if isinstance(svc.get("command"), list) and svc["command"][0] == "prunetune"
    ]
    readme = (DOCKER / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    comments = "\n".join(  # commands in the files' header comments are indented: "#   cmd"
        line[1:]
        for name in ("compose.yaml", "kuberay.yaml")
        for line in (DOCKER / name).read_text().splitlines()
        if line.startswith("#   ")
    )
    for where, text in [("README.md", "\n".join(blocks)), ("yaml comments", comments)]:
        for line in _command_lines(text):
            tokens = shlex.split(line, comments=True)
            if "prunetune" in tokens and tokens.index("prunetune") + 1 < len(tokens):
                found.append((where, tokens[tokens.index("prunetune") + 1 :]))
    return found


def _ids(cases: list[tuple[str, list[str]]]) -> list[str]:
    return [f"{where}:{' '.join(argv[:2])}" for where, argv in cases]


PRUNETUNE_ARGVS = _prunetune_argvs()
RUN_ARGVS = [(w, a) for w, a in PRUNETUNE_ARGVS if a[0] == "run"]


@pytest.fixture(scope="module")
def parser() -> Any:
    from studies.cli import build_parser

    built = build_parser()
    commands = built._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    if not {"run", "resume", "ls", "show", "presets"} <= set(commands):
        pytest.skip("studies.commands (run/resume/ls/show/presets) is not importable yet")
    return built


def test_the_commands_were_found() -> None:
    """The README, compose and manifest comments hold run, resume, ls and show commands."""
    subcommands = {argv[0] for _, argv in PRUNETUNE_ARGVS}
    assert {"run", "resume", "ls", "show", "presets"} <= subcommands
    assert {w for w, _ in RUN_ARGVS} >= {"README.md", "yaml comments"}


@pytest.mark.parametrize(("where", "argv"), PRUNETUNE_ARGVS, ids=_ids(PRUNETUNE_ARGVS))
def test_prunetune_command_parses(parser: Any, where: str, argv: list[str]) -> None:
    """Every prunetune command line uses only subcommands and flags the real CLI has."""
    from studies.errors import UsageError

    try:
        parser.parse_args(argv)
    except UsageError as err:
        pytest.fail(f"{where}: prunetune {' '.join(argv)}: {err}")


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
    """A cluster run names the head, the MLflow server, Postgres and a workdir on /shared."""
    opts = _options(argv)
    head_port = _options(SERVICES["ray-head"]["command"])["--port"]
    mlflow_port = _options(SERVICES["mlflow"]["command"])["--port"]
    pg = _env(SERVICES["postgres"])
    assert opts["--address"] in {f"ray-head:{head_port}", "auto"}, where
    assert opts["--tracking-uri"] == f"http://mlflow:{mlflow_port}", where
    assert opts["--storage"] == f"postgresql://{pg['POSTGRES_USER']}@postgres:5432/optuna", where
    assert opts["--workdir"].startswith("/shared/"), where


# --- compose -------------------------------------------------------------------------------


def test_compose_has_the_cluster_services() -> None:
    """postgres, mlflow, ray-head, ray-worker and driver exist; volumes are declared."""
    assert set(SERVICES) >= {"postgres", "mlflow", *NODES}
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert {"shared", "pgdata"} <= set(COMPOSE["volumes"])
    assert SERVICES["driver"]["profiles"] == ["driver"]  # `up` leaves it; `run` starts it


def test_one_image_built_from_the_dockerfile() -> None:
    """mlflow, the Ray nodes and the driver share one image built from docker/Dockerfile."""
    images = {SERVICES[s]["image"] for s in IMAGE_SERVICES}
    assert len(images) == 1
    for name in IMAGE_SERVICES:
        build = SERVICES[name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_shared_volume_and_read_only_data_on_every_node() -> None:
    """Every Ray node and the driver mount /shared and /data (read-only); MLflow /shared."""
    for name in IMAGE_SERVICES:
        assert "shared:/shared" in SERVICES[name]["volumes"], name
    for name in NODES:
        assert any(v.endswith(":/data:ro") for v in SERVICES[name]["volumes"]), name


def test_ray_commands_exist_in_pinned_ray() -> None:
    """ray-head/ray-worker/entrypoint `ray start` lines and the healthcheck parse with Ray."""
    from ray.scripts.scripts import cli, start

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
    assert params["head"] and params["block"] and params["dashboard_host"] == "0.0.0.0"
    assert _options(worker)["--address"] == f"ray-head:{params['port']}" and "--block" in worker
    assert _env(SERVICES["driver"])["PRUNETUNE_RAY_JOIN"] == f"ray-head:{params['port']}"
    assert SERVICES["ray-head"]["healthcheck"]["test"][1:3] == ["ray", "health-check"]
    assert "health-check" in cli.commands
    for key, value in HEAD_START_PARAMS.items():  # KubeRay passes them to `ray start`
        start.make_context("start", [f"--{key}={value}"])


@pytest.mark.parametrize("where", ["compose", "compose.auth", "kuberay"])
def test_mlflow_server_command(where: str) -> None:
    """Each `mlflow server` line parses with the pinned MLflow and serves workers on any node."""
    from mlflow.cli import server

    argv = _mlflow_commands()[where]
    assert argv[:2] == ["mlflow", "server"]
    params = server.make_context("server", argv[2:]).params
    port = int(params["port"])
    assert params["host"] == "0.0.0.0" and str(params["workers"]) == "1"
    assert params["artifacts_destination"].startswith("/shared/")
    assert params["backend_store_uri"] == "postgresql://prunetune@postgres:5432/mlflow"
    assert {"mlflow", f"mlflow:{port}", f"localhost:{port}"} <= set(
        params["allowed_hosts"].split(",")
    )
    assert port == int(_options(SERVICES["mlflow"]["command"])["--port"])


def test_auth_override_only_adds_basic_auth() -> None:
    """compose.auth.yaml repeats compose.yaml's server line plus `--app-name basic-auth`."""
    cmds = _mlflow_commands()
    assert cmds["compose.auth"] == [
        *cmds["compose"][:2],
        "--app-name",
        "basic-auth",
        *cmds["compose"][2:],
    ]
    assert cmds["kuberay"] == cmds["compose"]
    ini = (DOCKER / "mlflow-auth.ini").read_text()
    assert "postgresql://prunetune@postgres:5432/mlflow_auth" in ini


def test_mlflow_service_environment() -> None:
    """The server runs without job execution and gets the database password from the env."""
    for env in (
        _env(SERVICES["mlflow"]),
        {e["name"]: e for e in MLFLOW_POD["containers"][0]["env"]},
    ):
        assert "PGPASSWORD" in env
        value = env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]
        assert (value if isinstance(value, str) else value["value"]) == "false"


def test_postgres_creates_every_database_used() -> None:
    """The init SQL (compose and manifest) creates every database a URI names."""
    created = set(
        re.findall(r"CREATE DATABASE (\w+);", (DOCKER / "postgres-init.sql").read_text())
    )
    created.add(_env(SERVICES["postgres"])["POSTGRES_DB"])
    text = "\n".join(
        (DOCKER / n).read_text() for n in ("compose.yaml", "kuberay.yaml", "README.md")
    )
    used = set(re.findall(r"postgresql://\w+@postgres:5432/(\w+)", text))
    assert used and used <= created
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


def test_ports_published_on_loopback_only() -> None:
    """Only the MLflow UI and the Ray dashboard are published, both on 127.0.0.1."""
    published = {p for svc in SERVICES.values() for p in svc.get("ports", [])}
    assert published == {"127.0.0.1:5000:5000", "127.0.0.1:8265:8265"}


def test_healthchecks_gate_startup() -> None:
    """postgres, mlflow and ray-head have healthchecks; dependants wait for them."""
    for name in ("postgres", "mlflow", "ray-head"):
        assert SERVICES[name]["healthcheck"]["test"][0] == "CMD", name
    assert SERVICES["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["ray-worker"]["depends_on"]["ray-head"]["condition"] == "service_healthy"
    driver_deps = SERVICES["driver"]["depends_on"]
    assert {d["condition"] for d in driver_deps.values()} == {"service_healthy"}
    assert set(driver_deps) == {"postgres", "mlflow", "ray-head"}


def test_secrets_required_and_never_literal() -> None:
    """Passwords and the Ray token come from required variables; no URI carries a password."""
    required = "${RAY_AUTH_TOKEN:?"
    for name in NODES:
        env = _env(SERVICES[name])
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"].startswith(required)
    for name in ("postgres", "mlflow", "driver"):
        secret = (
            _env(SERVICES[name]).get("POSTGRES_PASSWORD") or _env(SERVICES[name])["PGPASSWORD"]
        )
        assert secret.startswith("${POSTGRES_PASSWORD:?"), name
    assert "PGPASSWORD" not in _env(SERVICES["ray-worker"])  # trials never touch Optuna's store
    for path in DOCKER.iterdir():
        if path.is_file() and path.name != ".env":
            assert not re.search(r"\w+://[^/\s@:]+:[^/\s@]+@", path.read_text()), path.name


def test_env_example_names_every_required_variable() -> None:
    """Each ${VAR:?...} of the compose files appears in .env.example; docker/.env is ignored."""
    text = "\n".join((DOCKER / n).read_text() for n in ("compose.yaml", "compose.auth.yaml"))
    example = (DOCKER / ".env.example").read_text()
    for var in set(re.findall(r"\$\{(\w+):\?", text)):
        assert re.search(rf"^#? ?{var}=", example, flags=re.M), var
    assert ".env" in (DOCKER / ".gitignore").read_text().split()


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_installs_the_pinned_set() -> None:
    """Python 3.11 base; `pip install -c constraints.txt .`; extra packages pinned exactly."""
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11", DOCKERFILE, flags=re.M)
    assert "pip install -c constraints.txt ." in DOCKERFILE
    assert (ROOT / "constraints.txt").is_file()
    extras = re.findall(r'"([A-Za-z0-9_.-]+)==\$\{(\w+)\}"', DOCKERFILE)
    assert {name.lower() for name, _ in extras} >= {"psycopg2-binary", "flask-wtf"}
    for _, arg in extras:
        assert re.search(rf"^ARG {arg}=\d[\w.]*$", DOCKERFILE, flags=re.M), arg


def test_dockerfile_runtime_user_and_environment() -> None:
    """The final stage runs as a non-root uid with the cluster environment and entrypoint."""
    final = DOCKERFILE.split("\nFROM ")[-1]
    user = re.findall(r"^USER (\S+)", final, flags=re.M)[-1]
    uid = re.search(r"^ARG UID=(\d+)", final, flags=re.M)
    assert user == "${UID}:${GID}" and uid and int(uid.group(1)) > 0
    for pod in (HEAD_POD, *WORKER_PODS, MLFLOW_POD):
        assert pod["securityContext"]["runAsUser"] == int(uid.group(1))
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
    # KubeRay may start Ray through `bash -lc`; Debian's /etc/profile then resets PATH.
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


# --- KubeRay -------------------------------------------------------------------------------


def test_kuberay_objects() -> None:
    """PVC, Postgres, MLflow and a RayCluster (ray.io/v1) with a GPU worker group exist."""
    assert _kube("PersistentVolumeClaim", "prunetune-shared")["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    for kind, name in [
        ("StatefulSet", "postgres"),
        ("Service", "postgres"),
        ("Service", "mlflow"),
    ]:
        _kube(kind, name)
    assert RAYCLUSTER["apiVersion"] == "ray.io/v1"
    pinned = re.search(r"^ray==(\S+)$", (ROOT / "constraints.txt").read_text(), flags=re.M)
    assert pinned and RAYCLUSTER["spec"]["rayVersion"] == pinned.group(1)
    assert RAYCLUSTER["spec"]["authOptions"]["mode"] == "token"
    assert all(
        p["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] >= 1 for p in WORKER_PODS
    )


def test_kuberay_pods_share_image_and_volume() -> None:
    """Head, workers and MLflow use one image and mount the shared PVC at /shared."""
    pods = [HEAD_POD, *WORKER_PODS, MLFLOW_POD]
    assert len({p["containers"][0]["image"] for p in pods}) == 1
    for pod in pods:
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert claims[mounts["/shared"]["name"]] == "prunetune-shared"
        if pod is not MLFLOW_POD:
            assert mounts["/data"]["readOnly"] is True


def test_kuberay_ports_and_secrets() -> None:
    """Service ports match the containers; passwords come only from secretKeyRef."""
    port = int(_options(_mlflow_commands()["kuberay"])["--port"])
    assert _kube("Service", "mlflow")["spec"]["ports"][0]["targetPort"] == port
    assert MLFLOW_POD["containers"][0]["ports"][0]["containerPort"] == port
    assert _kube("Service", "postgres")["spec"]["ports"][0]["port"] == 5432
    assert 6379 in {p["containerPort"] for p in HEAD_POD["containers"][0]["ports"]}
    assert not [d for d in KUBE if d["kind"] == "Secret"]
    secrets = [e for e in _env_entries(KUBE) if re.search("PASSWORD|TOKEN|SECRET", e["name"])]
    assert secrets and all("secretKeyRef" in e.get("valueFrom", {}) for e in secrets), secrets


def _env_entries(node: Any) -> list[dict[str, Any]]:
    """Every container env entry ({name, value|valueFrom}) anywhere in the manifest."""
    if isinstance(node, list):
        return [e for item in node for e in _env_entries(item)]
    if not isinstance(node, dict):
        return []
    own = [e for e in node.get("env", []) if isinstance(e, dict)]
    return own + [e for k, v in node.items() if k != "env" for e in _env_entries(v)]


# --- external linters, when installed ---------------------------------------------------------


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, **kw)


def test_docker_compose_config() -> None:
    """`docker compose config` accepts compose.yaml alone and with each override."""
    if not shutil.which("docker") or _run(["docker", "compose", "version"]).returncode != 0:
        pytest.skip("docker compose (v2) is not installed")
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": "x",
        "RAY_AUTH_TOKEN": "x",
        "MLFLOW_AUTH_ADMIN_PASSWORD": "x",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "x",
    }
    for extra in ([], ["-f", "compose.cpu.yaml"], ["-f", "compose.auth.yaml"]):
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

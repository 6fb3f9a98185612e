"""Starting or joining Ray: embedded (loopback only) by default, a cluster with an address.

Three ways a driver gets its Ray:
- ``--address``/``ray.address`` given: join that cluster (host:port of the GCS, ``auto``, or a
  ``ray://host:port`` Ray Client address);
- no address but ``RAY_ADDRESS`` set (always the case inside ``ray job submit``): join it;
- neither: start an embedded Ray on 127.0.0.1 with local resources and no dashboard.

A cluster is probed before ``ray.init``: Ray itself retries an unreachable GCS for minutes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path

from studies.errors import UsageError
from studies.session.orphans import reap

# Set before Ray is imported anywhere in the process: a local Ray then binds and advertises
# 127.0.0.1 only instead of the machine's routable address (checked with `ss`).
LOOPBACK_ENV = {
    # Tune's newer console output prints a config table and a TensorBoard hint pointing into a
    # temp dir even with verbose=0; the classic output is silent then (studies.session.progress prints).
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    # Frequent experiment-state syncs are expected (a checkpoint per epoch); no warning.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    # Tune's JSON/CSV/TensorBoard result files per trial: prunetune reads MLflow instead.
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
}
# Ray's job supervisor sets both for the entrypoint it runs (ray/dashboard/modules/job).
RAY_ADDRESS_ENV = "RAY_ADDRESS"
RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"
PROBE_TIMEOUT_S = 5.0


def set_loopback_env() -> None:
    for key, value in LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)


def ray_temp_dir(workdir: str) -> str:
    """The embedded Ray's temp dir for a workdir, the same every time (a later driver finds a
    dead one's processes by it); unix socket paths must stay under ~107 bytes, so a long
    workdir maps to /tmp/prunetune-ray-<hash of the workdir>."""
    inside = Path(workdir).resolve() / "ray-tmp"
    if len(str(inside)) <= 60:
        return str(inside)
    digest = hashlib.sha1(str(inside).encode()).hexdigest()[:12]
    return str(Path(tempfile.gettempdir()) / f"prunetune-ray-{digest}")


def in_ray_job() -> bool:
    """True when this process is the entrypoint of a `ray job submit`."""
    return bool(os.environ.get(RAY_JOB_ENV))


def target_address(address: str | None) -> tuple[str, str]:
    """(address, where it came from) that ``ensure_ray`` joins; ("", "") means embedded.

    An explicit address wins over RAY_ADDRESS (as in ``ray.init``); the source names the field
    an error message should point at."""
    if address:
        return address, "ray.address"
    from_env = os.environ.get(RAY_ADDRESS_ENV, "").strip()
    if from_env:
        return from_env, RAY_ADDRESS_ENV
    return "", ""


def current_address() -> str:
    """GCS address (host:port) of the Ray this process is connected to, "" if none: what a
    study records, and what a second driver would pass as ``--address``."""
    import ray  # after set_loopback_env: Ray reads its environment when first imported

    if not ray.is_initialized():
        return ""
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # Ray Client sessions have no GCS address on the driver side
        return ""


def ensure_ray(address: str | None, workdir: str, *, num_cpus: int | None = None) -> None:
    """ray.init on loopback (embedded) or join a cluster; idempotent within a process."""
    set_loopback_env()
    import ray  # only now: Ray reads the loopback environment when first imported

    if ray.is_initialized():
        return
    target, source = target_address(address)
    if target:
        check_reachable(target, field=source)
    try:
        if target:
            # Joining: resources belong to the cluster; Ray refuses num_cpus/num_gpus here.
            if source == RAY_ADDRESS_ENV:
                ray.init(log_to_driver=False)
            else:
                ray.init(address=target, log_to_driver=False)
        else:
            reap(ray_temp_dir(workdir))  # what a killed driver left running in this workdir
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                _temp_dir=ray_temp_dir(workdir),
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(
            f"{source or 'ray.address'} {target or '(local)'}: cannot start/join Ray ({first})"
        ) from None


def check_reachable(address: str, *, field: str = "ray.address", timeout: float = 0) -> None:
    """One-line UsageError within ~``timeout`` s unless a Ray cluster answers at ``address``.

    host:port and ``auto`` get a gRPC call to the GCS (refused, silent and non-Ray ports all
    fail fast); ``ray://`` gets a TCP connect to the Ray Client server."""
    timeout = timeout or PROBE_TIMEOUT_S
    if address.startswith(("http://", "https://")):
        raise UsageError(
            f"{field} {address}: cannot reach a Ray cluster (this is a dashboard/job-server URL;"
            " give the GCS host:port, e.g. 127.0.0.1:6379, or submit with `ray job submit`)"
        )
    if address.startswith("ray://"):
        host, port = _split(address.removeprefix("ray://"), field, address)
        _tcp_probe(host, port, timeout, field, address)
        return
    gcs = _bootstrap(address, field)
    host, port = _split(gcs, field, address)
    _tcp_probe(host, port, timeout, field, address)
    _gcs_probe(gcs, timeout, field, address)


def _unreachable(field: str, address: str, reason: str) -> UsageError:
    return UsageError(f"{field} {address}: cannot reach a Ray cluster ({reason})")


def _bootstrap(address: str, field: str) -> str:
    """The GCS host:port Ray would use for ``address`` ("auto" → the last `ray start`)."""
    from ray._private.services import canonicalize_bootstrap_address  # Ray: after the env

    try:
        resolved = canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError) as err:
        raise _unreachable(field, address, _first_line(err)) from None
    if not resolved:
        raise _unreachable(field, address, "no running Ray found")
    return resolved


def _split(hostport: str, field: str, address: str) -> tuple[str, int]:
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise _unreachable(field, address, "expected host:port")
    return host.strip("[]"), int(port)


def _tcp_probe(host: str, port: int, timeout: float, field: str, address: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except TimeoutError:
        raise _unreachable(field, address, f"no answer within {timeout:g} s") from None
    except OSError as err:  # refused, unknown host, no route
        raise _unreachable(field, address, err.strerror or _first_line(err)) from None


def _gcs_probe(gcs: str, timeout: float, field: str, address: str) -> None:
    """GetClusterId with a deadline: an open port that is not a GCS fails here, not in a
    ray.init that would retry it for minutes."""
    import grpc  # with Ray's modules below: loaded only when a cluster address is probed
    from ray._private.gcs_utils import create_gcs_channel
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    channel = create_gcs_channel(gcs)
    try:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=timeout)
    except grpc.RpcError as err:
        code = err.code()
        # A GCS that wants a token still is a GCS: ray.init reports the auth problem itself.
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            reason = f"no answer within {timeout:g} s"
        elif code == grpc.StatusCode.UNIMPLEMENTED:
            reason = "the port answers but is not a Ray GCS"
        else:
            reason = _grpc_reason(err.details() or str(code))
        raise _unreachable(field, address, reason) from None
    finally:
        channel.close()


def _grpc_reason(details: str) -> str:
    # "failed to connect to all addresses; last error: UNKNOWN: ipv4:…: Connection refused"
    last = details.rsplit(": ", 1)[-1].strip()
    if "HTTP/2" in details or "Expected SETTINGS" in details:
        return "the port answers but is not a Ray GCS"
    return last or details


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__

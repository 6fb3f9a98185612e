"""One Ray worker node as its own process: ``python -m tests.cluster.ray_node --address …``.

Why not ``ray start --address``: on loopback it cannot work. With
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (needed for 127.0.0.1 node IPs) ``ray start`` refuses any
non-head node ("Multi-node Ray clusters are not supported on Windows and OSX"); with it =1
Ray rewrites 127.0.0.1 to the machine's routable IP, and any other node IP (127.0.0.2) makes
every Ray server bind 0.0.0.0. This module does what ``ray start --block`` does for a worker
node (a ``ray._private.node.Node`` plus a reaper), with the node IP pinned to 127.0.0.1, the
way ``ray.cluster_utils.Cluster`` does in-process, but as a separate process group that a test
can SIGKILL like a lost machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ray_node")
    p.add_argument("--address", required=True, help="GCS host:port of the head")
    p.add_argument("--num-cpus", type=int, default=1)
    p.add_argument("--resources", default="{}", help="JSON: custom resources of this node")
    p.add_argument("--object-store-memory", type=int, default=100 * 1024 * 1024)
    p.add_argument("--temp-dir", required=True)
    p.add_argument(
        "--ports",
        required=True,
        help="5 free ports: agent http, agent grpc, "
        "metrics export, runtime env agent, object manager",
    )
    p.add_argument("--ready-file", required=True, help="JSON written once the node is up")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    os.environ.update(LOOPBACK_ENV)
    import ray._private.node
    import ray._private.ray_constants as ray_constants
    from ray._private.parameter import RayParams

    listen, grpc_port, export, runtime_env, object_manager = (
        int(p) for p in args.ports.split(",")
    )
    params = RayParams(
        gcs_address=args.address,
        node_ip_address="127.0.0.1",
        num_cpus=args.num_cpus,
        num_gpus=0,
        resources=json.loads(args.resources),
        object_store_memory=args.object_store_memory,
        temp_dir=args.temp_dir,
        # Fixed free ports: two nodes on one host would otherwise both want Ray's defaults.
        dashboard_agent_listen_port=listen,
        metrics_agent_port=grpc_port,
        metrics_export_port=export,
        runtime_env_agent_port=runtime_env,
        object_manager_port=object_manager,
        node_manager_port=0,
        min_worker_port=0,
        max_worker_port=0,
        # One log monitor per host is enough (the head has one); saves ~90 MB per node.
        include_log_monitor=False,
    )
    node = ray._private.node.Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process

    def stop(signum: int, frame: object) -> None:
        node.kill_all_processes(check_alive=False, allow_graceful=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    ready = Path(args.ready_file)
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"node_id": node.node_id, "raylet_pid": raylet.pid, "pid": os.getpid()})
    )
    tmp.replace(ready)  # atomic: the fixture never reads half a file
    while raylet.poll() is None:
        time.sleep(0.5)
    # The raylet died (killed as a "lost node"): take the rest of the node down with it.
    node.kill_all_processes(check_alive=False, allow_graceful=False)
    return 1


if __name__ == "__main__":
    sys.exit(main())

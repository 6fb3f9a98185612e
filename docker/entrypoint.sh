#!/bin/sh
# Entry point of the prunetune image (compose services and `docker run`; KubeRay replaces the
# command with its own `ray start`). Catches two set-up mistakes that otherwise surface late and
# obscurely, joins the driver to the Ray cluster, then execs the given command so that it receives
# the container's signals directly (Ctrl-C interrupts a study cleanly; `prunetune resume` goes on).
set -eu

# With token auth a node that has no token would generate its own random one and then be refused
# by every other node with an authentication error that does not say why.
if [ "${RAY_AUTH_MODE:-}" = "token" ] && [ -z "${RAY_AUTH_TOKEN:-}" ] \
    && [ -z "${RAY_AUTH_TOKEN_PATH:-}" ]; then
    echo "prunetune-entrypoint: RAY_AUTH_MODE=token needs RAY_AUTH_TOKEN (the same value on" \
        "every node and the driver); set it in docker/.env" >&2
    exit 2
fi

# The study workdir (dense-model cache, checkpoints, Ray results) and MLflow's artifacts live on
# /shared; a host directory bind-mounted there keeps its host owner, often not uid $(id -u).
if [ -d /shared ] && [ ! -w /shared ]; then
    echo "prunetune-entrypoint: /shared is not writable by uid $(id -u); chown the volume" \
        "to $(id -u):$(id -g)" >&2
    exit 2
fi

# A Ray driver must run on a Ray node: ray.init(address=...) looks for a raylet on its own host.
# The driver container therefore joins the cluster first, as a node that offers no CPUs or GPUs
# (no trial is placed on it) but serves the driver's objects to the workers.
if [ -n "${PRUNETUNE_RAY_JOIN:-}" ]; then
    if ! ray start --address="${PRUNETUNE_RAY_JOIN}" --num-cpus=0 --num-gpus=0 \
        > /tmp/prunetune-ray-join.log 2>&1; then
        cat /tmp/prunetune-ray-join.log >&2
        echo "prunetune-entrypoint: cannot join the Ray cluster at ${PRUNETUNE_RAY_JOIN}" >&2
        exit 1
    fi
fi

exec "$@"

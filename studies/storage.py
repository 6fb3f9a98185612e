"""Where a study's state lives: the default workdir, how relative paths and URLs are made
absolute, and the default stores in a workdir. Storage URL schemes (which fields accept which,
their preflight probes, retries and redaction) are declared once in `trainables.schemes`; the
names the studies layer uses are re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path

from trainables.schemes import (
    StoreUnusable,
    Use,
    forms,
    is_mlflow_server,
    is_sql,
    local_file,
    named,
    redact,
    retryable_errors,
    scheme_for,
)
from trainables.schemes import absolute as absolute_url

DEFAULT_WORKDIR = "./prunetune-runs"
WORKDIR_ENV = "PRUNETUNE_WORKDIR"
# The stores of a workdir when the spec names none: files in it, on one machine.
DEFAULT_FILE_SCHEME = "sqlite"


def default_workdir() -> str:
    """$PRUNETUNE_WORKDIR, else ./prunetune-runs."""
    return os.environ.get(WORKDIR_ENV) or DEFAULT_WORKDIR


def choose_workdir(given: str | None, from_spec: str) -> Path:
    """The workdir a study uses, absolute: the argument, else the study file's, where the
    environment variable replaces only the default."""
    if given:
        chosen = given
    elif from_spec == DEFAULT_WORKDIR:
        chosen = default_workdir()
    else:
        chosen = from_spec
    return Path(chosen).expanduser().resolve()


def absolute_path(path: str) -> str:
    """A local path made absolute ('' and URLs unchanged)."""
    if not path or "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def join(base: str, name: str) -> str:
    """`base`/`name` for a local path or a URI whose query (?endpoint_override=…) must stay at
    the end: Path() would turn scheme://b into scheme:/b."""
    if "://" not in base:
        return str(Path(base) / name)
    head, sep, query = base.partition("?")
    return f"{head.rstrip('/')}/{name}{sep}{query}"


def default_tracking_uri(workdir: Path) -> str:
    return named(DEFAULT_FILE_SCHEME).url_for(workdir / "mlflow.db")


def default_optuna_url(workdir: Path) -> str:
    return named(DEFAULT_FILE_SCHEME).url_for(workdir / "optuna.db")


def default_ray_storage(workdir: Path) -> str:
    return str(workdir / "ray")


__all__ = [
    "DEFAULT_WORKDIR",
    "WORKDIR_ENV",
    "StoreUnusable",
    "Use",
    "absolute_path",
    "absolute_url",
    "choose_workdir",
    "default_optuna_url",
    "default_ray_storage",
    "default_tracking_uri",
    "default_workdir",
    "forms",
    "is_mlflow_server",
    "is_sql",
    "join",
    "local_file",
    "redact",
    "retryable_errors",
    "scheme_for",
]

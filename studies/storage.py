"""Every rule about where a study's state lives: the default workdir, the storage URLs accepted
for MLflow tracking and Optuna, and how relative ones are made absolute.

One driver family per URL scheme, the same in the spec, the preflight and the image: SQLite
(stdlib), PostgreSQL through psycopg 3 (SQLAlchemy 2 maps plain ``postgresql://`` to it, and
``postgresql+psycopg://`` names it), Optuna's journal file, an MLflow server over HTTP(S).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WORKDIR = "./prunetune-runs"
WORKDIR_ENV = "PRUNETUNE_WORKDIR"

SQLITE = "sqlite:///"
JOURNAL = "journal:"
POSTGRES = ("postgresql://", "postgresql+psycopg://")
HTTP = ("http://", "https://")
TRACKING_PREFIXES = (*HTTP, SQLITE, *POSTGRES)
OPTUNA_PREFIXES = (SQLITE, *POSTGRES, JOURNAL)
TRACKING_FORMS = "http(s)://HOST:PORT, sqlite:///PATH, postgresql://USER@HOST/DB"
OPTUNA_FORMS = "sqlite:///PATH, postgresql://USER@HOST/DB, journal:PATH"


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


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES)


def local_path(url: str) -> Path | None:
    """The file behind a sqlite:/// or journal: URL (None for a server URL)."""
    for prefix in (SQLITE, JOURNAL):
        if url.startswith(prefix):
            return Path(url.removeprefix(prefix))
    return None


def absolute_path(path: str) -> str:
    """A local path made absolute ('' and URLs unchanged)."""
    if not path or "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def absolute_url(url: str) -> str:
    """sqlite:///rel/x.db and journal:rel/x.log are relative to the current directory, which Ray
    workers do not share: make them absolute."""
    for prefix in (SQLITE, JOURNAL):
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            rest = url.removeprefix(prefix)
            return prefix + (rest if rest == ":memory:" else absolute_path(rest))
    return url


REMOTE_PREFIXES = ("s3://", "gs://")  # Ray Tune storage_path through pyarrow filesystems


def is_remote(path_or_uri: str) -> bool:
    return path_or_uri.startswith(REMOTE_PREFIXES)


def join(base: str, name: str) -> str:
    """`base`/`name` for a local path or a URI whose query (s3://b/p?endpoint_override=…)
    must stay at the end: Path() would turn s3://b into s3:/b."""
    if "://" not in base:
        return str(Path(base) / name)
    head, sep, query = base.partition("?")
    return f"{head.rstrip('/')}/{name}{sep}{query}"


def default_tracking_uri(workdir: Path) -> str:
    return f"{SQLITE}{workdir / 'mlflow.db'}"


def default_optuna_url(workdir: Path) -> str:
    return f"{SQLITE}{workdir / 'optuna.db'}"


def default_ray_storage(workdir: Path) -> str:
    return str(workdir / "ray")

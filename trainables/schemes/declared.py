"""The storage URL schemes prunetune accepts, each declared once: the only module that spells
a scheme. Adding one (MySQL, az://) is one `register(Scheme(...))` here; the spec, the
preflight, the help text, retries and redaction all ask the registry.

One driver family per scheme, the same in the spec, the preflight and the image: SQLite
(stdlib), PostgreSQL through psycopg 3 (SQLAlchemy 2 maps plain ``postgresql://`` to it, and
``postgresql+psycopg://`` names it), Optuna's journal file, an MLflow server over HTTP(S), a
local directory, and S3 / GCS through pyarrow (as Ray Tune's ``storage_path``).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit, urlunsplit

from trainables.schemes.probes import (
    check_database_file,
    check_directory,
    check_http,
    check_postgresql,
    check_remote_root,
)
from trainables.schemes.registry import Scheme, Use, register

TRACKING, OPTUNA, FILES = Use.TRACKING, Use.OPTUNA, Use.FILES

# What a store that is down raises. MLflow's client wraps its store's errors (a server that does
# not answer surfaces as an OSError from the HTTP stack); Optuna wraps failed commits, reads
# surface SQLAlchemy's.
MLFLOW_DOWN = ("mlflow.exceptions.MlflowException", "builtins.OSError")
OPTUNA_RDB_DOWN = (
    "optuna.exceptions.StorageInternalError",
    "sqlalchemy.exc.OperationalError",
    "sqlalchemy.exc.InterfaceError",
)


def hide_password(url: str) -> str:
    """user:***@host for a URL whose userinfo carries a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def hide_userinfo(url: str) -> str:
    """***@bucket: an object store's userinfo is a key pair, both halves secret."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=f"***@{parts.netloc.rpartition('@')[2]}"))


def hide_sql_password(url: str) -> str:
    """SQLAlchemy's own rendering (what its logs and errors show), password as ***."""
    from sqlalchemy.engine import make_url  # SQLAlchemy: only when a database URL is shown

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: hide what a URL parser finds
        return hide_password(url)


def quiet_instance_metadata(uri: str) -> None:
    """AWS_EC2_METADATA_DISABLED=true unless set, for an S3 endpoint other than AWS's: without
    credentials in the environment the AWS library otherwise waits on instance-metadata lookups
    that cannot answer. On AWS itself (no endpoint override) instance roles need that lookup."""
    query = parse_qs(urlsplit(uri).query)
    if "endpoint_override" in query or os.environ.get("AWS_ENDPOINT_URL"):
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


HTTP = register(
    Scheme(
        name="http",
        prefixes=("http://", "https://"),
        uses=frozenset({TRACKING}),
        form="http(s)://HOST:PORT",
        probe=check_http,
        remote=True,
        retryable={TRACKING: MLFLOW_DOWN},
        redact=hide_password,
        mlflow_server=True,
    )
)
SQLITE = register(
    Scheme(
        name="sqlite",
        prefixes=("sqlite:///",),
        uses=frozenset({TRACKING, OPTUNA}),
        form="sqlite:///PATH",
        probe=check_database_file,
        remote=False,
        retryable={TRACKING: MLFLOW_DOWN, OPTUNA: OPTUNA_RDB_DOWN},
        file=True,
        sql=True,
    )
)
POSTGRESQL = register(
    Scheme(
        name="postgresql",
        prefixes=("postgresql://", "postgresql+psycopg://"),
        uses=frozenset({TRACKING, OPTUNA}),
        form="postgresql://USER@HOST/DB",
        probe=check_postgresql,
        remote=True,
        retryable={TRACKING: MLFLOW_DOWN, OPTUNA: OPTUNA_RDB_DOWN},
        redact=hide_sql_password,
        sql=True,
    )
)
JOURNAL = register(
    Scheme(
        name="journal",
        prefixes=("journal:",),
        uses=frozenset({OPTUNA}),
        form="journal:PATH",
        probe=check_database_file,
        remote=False,
        retryable={OPTUNA: ("optuna.exceptions.StorageInternalError",)},
        file=True,
    )
)
PATH = register(
    Scheme(
        name="path",
        prefixes=(),  # a plain path: no "://"
        uses=frozenset({FILES}),
        form="a directory",
        probe=check_directory,
        remote=False,
    )
)
S3 = register(
    Scheme(
        name="s3",
        prefixes=("s3://",),
        uses=frozenset({FILES}),
        form=(
            "s3://BUCKET/PREFIX (?endpoint_override=HOST:PORT&scheme=http&region=R "
            "for a non-AWS endpoint)"
        ),
        probe=check_remote_root,
        remote=True,
        redact=hide_userinfo,
        prepare=quiet_instance_metadata,
    )
)
GS = register(
    Scheme(
        name="gs",
        prefixes=("gs://",),
        uses=frozenset({FILES}),
        form="gs://BUCKET/PREFIX",
        probe=check_remote_root,
        remote=True,
        redact=hide_userinfo,
    )
)

"""Checks that run before anything starts: a study that cannot finish must fail in seconds with
one line naming the field, not after Ray and MLflow are up and half the trials have run."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy

from pruning.data.info import check_available
from studies import storage
from studies.errors import UsageError, user_input
from studies.spec import StudySpec
from trainables.tracking_check import check_tracking_reachable


def preflight(spec: StudySpec) -> None:
    """Data present, workdir and storages writable, tracking store reachable. Creates nothing."""
    data = spec.dataset
    with user_input():
        check_available(data.name, data.root or None, download=data.download)
    _check_writable("storage.workdir", spec.storage.workdir)
    if "://" not in spec.storage.ray:
        _check_writable("storage.ray", spec.storage.ray)
    _check_db_url("storage.optuna", spec.storage.optuna)
    with user_input("tracking.uri"):
        check_tracking_reachable(spec.tracking.uri)


def _check_writable(field: str, path: str) -> None:
    """The nearest existing ancestor must be a writable directory (nothing is created here)."""
    target = Path(path).resolve()
    probe = target
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{field}: {path!r} is not a directory ({probe} is a file)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{field}: {path!r} is not writable (no write permission on {probe})")


def _check_db_url(field: str, url: str) -> None:
    path = storage.local_path(url)
    if path is not None:
        _check_writable(field, str(path.parent))
    elif storage.is_postgres(url):
        _check_sql_connect(field, url)
    else:
        raise UsageError(f"{field}: unsupported storage {url!r}; valid: {storage.OPTUNA_FORMS}")


def _check_sql_connect(field: str, url: str) -> None:
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
        with engine.connect():
            pass
    except Exception as err:  # driver missing, refused, auth: all mean "cannot use it"
        first = str(err).strip().splitlines()[0][:160]
        raise UsageError(f"{field}: cannot connect to {url!r} ({first})") from None

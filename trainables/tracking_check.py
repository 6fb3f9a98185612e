"""Preflight of an MLflow tracking URI: a study whose tracking store cannot be used must fail in
seconds with one line, not after Ray is up. Kept free of mlflow imports so the check is cheap."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

SUPPORTED = "http://HOST:PORT, https://HOST, sqlite:///PATH, postgresql://USER@HOST/DB"


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else ""


def check_tracking_reachable(uri: str, timeout: float = 3.0) -> None:
    """Preflight: a one-line ValueError unless the tracking store can be used. Creates nothing."""
    scheme = scheme_of(uri)
    if scheme in ("http", "https"):
        _check_http(uri, timeout)
    elif scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme == "postgresql" or scheme.startswith("postgresql+"):
        _check_postgresql(uri, timeout)
    else:
        raise ValueError(f"tracking URI {uri!r}: unsupported scheme; valid: {SUPPORTED}")


def _one_line(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _check_http(uri: str, timeout: float) -> None:
    url = uri.rstrip("/") + "/health"
    hint = "start `mlflow server` or pass --tracking-uri"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status == 200:
                return
            reason = f"GET /health answered HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        reason = f"GET /health answered HTTP {exc.code}"
        if exc.code == 403:  # MLflow ≥ 3.5 only accepts localhost Host headers by default
            hint = "start the server with --allowed-hosts including this host"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = _one_line(getattr(exc, "reason", exc))
    raise ValueError(f"tracking URI {uri}: not reachable ({reason}); {hint}")


def _check_sqlite(uri: str) -> None:
    database = make_url(uri).database
    if not database or database == ":memory:":
        raise ValueError(f"tracking URI {uri}: needs a database file; valid: sqlite:///PATH")
    path = Path(database).expanduser().absolute()
    if path.exists():
        if not path.is_file():
            raise ValueError(f"tracking URI {uri}: {path} is not a file")
        if not os.access(path, os.R_OK | os.W_OK):
            raise ValueError(f"tracking URI {uri}: {path} is not writable")
    probe = path.parent
    while not probe.exists():  # the directory is created later; its nearest ancestor decides
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"tracking URI {uri}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"tracking URI {uri}: directory {probe} is not writable")


def _check_postgresql(uri: str, timeout: float) -> None:
    safe = make_url(uri).render_as_string(hide_password=True)
    try:
        engine = sqlalchemy.create_engine(
            uri, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(timeout))}
        )
    except ImportError as exc:
        # SQLAlchemy 2.1 maps plain postgresql:// to psycopg (3), postgresql+psycopg2:// to v2
        package = "psycopg2-binary" if exc.name == "psycopg2" else "'psycopg[binary]'"
        raise ValueError(
            f"tracking URI {safe}: no PostgreSQL driver installed ({_one_line(exc)}); "
            f"pip install {package}"
        ) from None
    try:
        with engine.connect():
            pass
    except Exception as exc:
        reason = _one_line(getattr(exc, "orig", None) or exc)
        raise ValueError(
            f"tracking URI {safe}: not reachable ({reason}); start PostgreSQL or pass --tracking-uri"
        ) from None
    finally:
        engine.dispose()

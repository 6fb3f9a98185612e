"""The preflight probes of the declared schemes (moved here from studies/session/preflight.py, which
runs them): each checks that its store answers, or can be written, and creates nothing, except
a probe file that is removed at once: permission bits do not tell whether a directory is
writable (root passes every access() check, read-only mounts and /proc do not say so), so
writability is tried for real. Each raises StoreUnusable with one line naming the field.
"""

from __future__ import annotations

import os
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

from trainables.schemes.registry import (
    StoreUnusable,
    file_forms,
    local_file,
    open_filesystem,
    redact,
)

_VIRTUAL = ("/proc", "/sys", "/dev")  # kernel filesystems: no database file belongs there
_CONNECT_TIMEOUT_S = 5
_REMOTE_TIMEOUT_S = 15  # the AWS library retries a refused connection for ~6 s before it fails


def check_directory(field: str, path: str) -> None:
    """`path` is, or can be created as, a directory we can write in."""
    target = Path(path).expanduser().resolve()
    _refuse_virtual(field, path, target)
    probe = target
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise StoreUnusable(f"{field}: {path!r} is not a directory ({probe} is a file)")
    _probe_write(field, path, probe)


def check_remote_root(field: str, uri: str) -> None:
    """pyarrow opens `uri` and its bucket answers within seconds; nothing is created (Ray Tune
    creates the prefix on its first write)."""
    outcome: list[str] = []

    def probe() -> None:
        try:
            fs, path = open_filesystem(uri)
        except Exception as exc:  # pyarrow raises ArrowInvalid / ValueError / OSError here
            outcome.append(f"cannot open {uri!r} ({_one_line(exc)})")
            return
        try:
            bucket = path.split("/", 1)[0]
            if fs.get_file_info(bucket).type.name == "NotFound":
                outcome.append(f"bucket {bucket!r} of {uri!r} does not exist; create it first")
                return
            fs.get_file_info(path)
        except Exception as exc:  # refused, denied, DNS: all mean "cannot use it"
            outcome.append(f"{uri!r} does not answer ({_one_line(exc)})")
            return
        outcome.append("")

    # A thread: the AWS library's own timeouts and retries add up to minutes on a dead host.
    thread = threading.Thread(target=probe, name="preflight-storage", daemon=True)
    thread.start()
    thread.join(_REMOTE_TIMEOUT_S)
    if not outcome:
        raise StoreUnusable(f"{field}: {uri!r} gave no answer within {_REMOTE_TIMEOUT_S} s")
    if outcome[0]:
        raise StoreUnusable(f"{field}: {outcome[0]}")


def check_database_file(field: str, url: str) -> None:
    """A URL naming a local file (SQLite, a journal): a file path (not a directory, not in
    memory) whose directory we can write in."""
    path = local_file(url)
    assert path is not None
    text = str(path)
    if text in ("", ".", ":memory:") or text.endswith("/"):
        raise StoreUnusable(
            f"{field}: {url!r} names no file (in-memory stores cannot be shared with trials or "
            f"resumed); valid: {file_forms()} to a file"
        )
    target = path.expanduser().resolve()
    if target.exists() and not target.is_file():
        raise StoreUnusable(f"{field}: {url!r}: {target} is not a file")
    check_directory(field, str(target.parent))


def _refuse_virtual(field: str, given: str, target: Path) -> None:
    if any(target == Path(v) or Path(v) in target.parents for v in _VIRTUAL):
        raise StoreUnusable(
            f"{field}: {given!r} is on a kernel filesystem; choose a real directory"
        )


def _probe_write(field: str, given: str, directory: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".prunetune-probe-", dir=directory)
    except OSError as err:
        raise StoreUnusable(
            f"{field}: {given!r} is not writable ({directory}: {err.strerror or err})"
        ) from None
    os.close(fd)
    os.unlink(name)


def _one_line(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def check_http(field: str, uri: str) -> None:
    """GET /health, then an authenticated call: a server behind basic auth must accept the
    credentials in MLFLOW_TRACKING_USERNAME/PASSWORD before any trial depends on them."""
    base, hint = uri.rstrip("/"), "start `mlflow server` or pass --tracking-uri"
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=3.0) as response:
            if response.status != 200:
                raise StoreUnusable(
                    f"{field}: tracking URI {uri}: GET /health answered {response.status}"
                )
    except urllib.error.HTTPError as exc:
        if exc.code == 403:  # MLflow ≥ 3.5 only accepts localhost Host headers by default
            hint = "start the server with --allowed-hosts including this host"
        raise StoreUnusable(
            f"{field}: tracking URI {uri}: not reachable (GET /health answered HTTP "
            f"{exc.code}); {hint}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = _one_line(getattr(exc, "reason", exc))
        raise StoreUnusable(
            f"{field}: tracking URI {uri}: not reachable ({reason}); {hint}"
        ) from None
    _check_http_auth(field, uri)


def _check_http_auth(field: str, uri: str) -> None:
    from mlflow.exceptions import MlflowException  # heavy: only when a server answered
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except MlflowException as exc:
        denied = ("UNAUTHENTICATED", "PERMISSION_DENIED")
        if getattr(exc, "error_code", "") in denied or any(c in str(exc) for c in ("401", "403")):
            raise StoreUnusable(
                f"{field}: {uri} refused our credentials ({_one_line(exc)[:120]}); set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            ) from None
        raise StoreUnusable(f"{field}: {uri} answered an error ({_one_line(exc)})") from None


def check_postgresql(field: str, url: str) -> None:
    """The PostgreSQL server accepts a connection within seconds."""
    # SQLAlchemy: only when a database server is named, so `import studies.spec` stays light.
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    safe = redact(url)
    try:
        engine = sqlalchemy.create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": _CONNECT_TIMEOUT_S}
        )
    except ImportError as exc:
        raise StoreUnusable(
            f"{field}: {safe}: no PostgreSQL driver installed ({_one_line(exc)}); "
            "pip install 'psycopg[binary]'"
        ) from None
    try:
        with engine.connect():
            pass
    except Exception as exc:  # refused, auth, unknown database: all mean "cannot use it"
        reason = _one_line(getattr(exc, "orig", None) or exc)
        raise StoreUnusable(f"{field}: cannot connect to {safe} ({reason})") from None
    finally:
        engine.dispose()

"""Checks that run before anything starts: a study that cannot finish must fail in seconds with
one line naming the field, not after Ray and MLflow are up and half the trials have run.

Nothing is created here, except a probe file that is removed at once: permission bits do not
tell whether a directory is writable (root passes every access() check, read-only mounts and
/proc do not say so), so writability is tried for real.
"""

from __future__ import annotations

import os
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from pruning.data.info import check_available
from studies import storage
from studies.errors import UsageError, user_input
from studies.spec import StudySpec

_VIRTUAL = ("/proc", "/sys", "/dev")  # kernel filesystems: no database file belongs there
_CONNECT_TIMEOUT_S = 5
_REMOTE_TIMEOUT_S = 15  # the AWS library retries a refused connection for ~6 s before it fails


def preflight(spec: StudySpec) -> None:
    """Data present, workdir and storages writable, tracking store reachable. Creates nothing."""
    data = spec.dataset
    with user_input():
        check_available(data.name, data.root or None, download=data.download)
    check_directory("storage.workdir", spec.storage.workdir)
    check_storage_root("storage.ray", spec.storage.ray)
    check_storage_root("storage.shared", spec.storage.shared)
    check_optuna_storage(spec.storage.optuna)
    check_tracking_reachable(spec.tracking.uri)
    optuna_file, tracking_file = (
        storage.local_path(u) for u in (spec.storage.optuna, spec.tracking.uri)
    )
    if optuna_file is not None and optuna_file == tracking_file:
        raise UsageError(
            f"storage.optuna: {spec.storage.optuna} is also the MLflow store (tracking.uri); "
            "both keep schema versions in one table: give each its own file"
        )


def check_directory(field: str, path: str) -> None:
    """`path` is, or can be created as, a directory we can write in."""
    target = Path(path).expanduser().resolve()
    _refuse_virtual(field, path, target)
    probe = target
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{field}: {path!r} is not a directory ({probe} is a file)")
    _probe_write(field, path, probe)


def check_storage_root(field: str, root: str) -> None:
    """storage.ray / storage.shared: a directory we can write in, or an object-store URI whose
    bucket answers ("" = the workdir, checked as such)."""
    if storage.is_remote(root):
        check_remote_root(field, root)
    elif root:
        check_directory(field, root)


def check_remote_root(field: str, uri: str) -> None:
    """pyarrow opens `uri` and its bucket answers within seconds; nothing is created (Ray Tune
    creates the prefix on its first write)."""
    from trainables.shared_store import open_filesystem  # pyarrow: only for remote storage

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
        raise UsageError(f"{field}: {uri!r} gave no answer within {_REMOTE_TIMEOUT_S} s")
    if outcome[0]:
        raise UsageError(f"{field}: {outcome[0]}")


def check_database_file(field: str, url: str) -> None:
    """A sqlite:///PATH or journal:PATH target: a file path (not a directory, not in memory)
    whose directory we can write in."""
    path = storage.local_path(url)
    assert path is not None
    text = str(path)
    if text in ("", ".", ":memory:") or text.endswith("/"):
        raise UsageError(
            f"{field}: {url!r} names no file (in-memory stores cannot be shared with trials or "
            "resumed); valid: sqlite:///PATH or journal:PATH to a file"
        )
    target = path.expanduser().resolve()
    if target.exists() and not target.is_file():
        raise UsageError(f"{field}: {url!r}: {target} is not a file")
    check_directory(field, str(target.parent))


def check_optuna_storage(url: str) -> None:
    field = "storage.optuna"
    if storage.local_path(url) is not None:
        check_database_file(field, url)
    elif storage.is_postgres(url):
        _check_postgresql(field, url)
    else:
        raise UsageError(f"{field}: unsupported storage {url!r}; valid: {storage.OPTUNA_FORMS}")


def check_tracking_reachable(uri: str) -> None:
    """The MLflow tracking store can be used: a server answers (and accepts our credentials),
    a SQLite file can be created, a PostgreSQL database accepts a connection."""
    field = "tracking.uri"
    if uri.startswith(storage.HTTP):
        _check_http(uri)
    elif uri.startswith(storage.SQLITE):
        check_database_file(field, uri)
    elif storage.is_postgres(uri):
        _check_postgresql(field, uri)
    else:
        raise UsageError(
            f"{field}: tracking URI {uri!r}: unsupported scheme; valid: {storage.TRACKING_FORMS}"
        )


def _refuse_virtual(field: str, given: str, target: Path) -> None:
    if any(target == Path(v) or Path(v) in target.parents for v in _VIRTUAL):
        raise UsageError(f"{field}: {given!r} is on a kernel filesystem; choose a real directory")


def _probe_write(field: str, given: str, directory: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".prunetune-probe-", dir=directory)
    except OSError as err:
        raise UsageError(
            f"{field}: {given!r} is not writable ({directory}: {err.strerror or err})"
        ) from None
    os.close(fd)
    os.unlink(name)


def _one_line(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _check_http(uri: str) -> None:
    """GET /health, then an authenticated call: a server behind basic auth must accept the
    credentials in MLFLOW_TRACKING_USERNAME/PASSWORD before any trial depends on them."""
    base, hint = uri.rstrip("/"), "start `mlflow server` or pass --tracking-uri"
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=3.0) as response:
            if response.status != 200:
                raise UsageError(
                    f"tracking.uri: tracking URI {uri}: GET /health answered {response.status}"
                )
    except urllib.error.HTTPError as exc:
        if exc.code == 403:  # MLflow ≥ 3.5 only accepts localhost Host headers by default
            hint = "start the server with --allowed-hosts including this host"
        raise UsageError(
            f"tracking.uri: tracking URI {uri}: not reachable (GET /health answered HTTP "
            f"{exc.code}); {hint}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = _one_line(getattr(exc, "reason", exc))
        raise UsageError(
            f"tracking.uri: tracking URI {uri}: not reachable ({reason}); {hint}"
        ) from None
    _check_http_auth(uri)


def _check_http_auth(uri: str) -> None:
    from mlflow.exceptions import MlflowException  # heavy: only when a server answered
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except MlflowException as exc:
        denied = ("UNAUTHENTICATED", "PERMISSION_DENIED")
        if getattr(exc, "error_code", "") in denied or any(c in str(exc) for c in ("401", "403")):
            raise UsageError(
                f"tracking.uri: {uri} refused our credentials ({_one_line(exc)[:120]}); set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            ) from None
        raise UsageError(f"tracking.uri: {uri} answered an error ({_one_line(exc)})") from None


def _check_postgresql(field: str, url: str) -> None:
    safe = make_url(url).render_as_string(hide_password=True)
    try:
        engine = sqlalchemy.create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": _CONNECT_TIMEOUT_S}
        )
    except ImportError as exc:
        raise UsageError(
            f"{field}: {safe}: no PostgreSQL driver installed ({_one_line(exc)}); "
            "pip install 'psycopg[binary]'"
        ) from None
    try:
        with engine.connect():
            pass
    except Exception as exc:  # refused, auth, unknown database: all mean "cannot use it"
        reason = _one_line(getattr(exc, "orig", None) or exc)
        raise UsageError(f"{field}: cannot connect to {safe} ({reason})") from None
    finally:
        engine.dispose()

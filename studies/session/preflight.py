"""Checks that run before anything starts: a study that cannot finish must fail in seconds with
one line naming the field, not after Ray and MLflow are up and half the trials have run.

Each store is checked by its scheme's probe (declared in `trainables.schemes`), which creates
nothing but a probe file that it removes at once.
"""

from __future__ import annotations

from collections.abc import Callable

from pruning.data.info import check_available
from studies import storage
from studies.errors import UsageError, user_input
from studies.spec import StudySpec
from studies.storage import StoreUnusable, Use
from trainables.schemes import probes


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
        storage.local_file(u) for u in (spec.storage.optuna, spec.tracking.uri)
    )
    if optuna_file is not None and optuna_file == tracking_file:
        raise UsageError(
            f"storage.optuna: {spec.storage.optuna} is also the MLflow store (tracking.uri); "
            "both keep schema versions in one table: give each its own file"
        )


def _run(probe: Callable[[str, str], None], field: str, url: str) -> None:
    """A scheme's probe, its verdict as the CLI's one-line error."""
    try:
        probe(field, url)
    except StoreUnusable as exc:
        raise UsageError(str(exc)) from None


def check_directory(field: str, path: str) -> None:
    """`path` is, or can be created as, a directory we can write in."""
    _run(probes.check_directory, field, path)


def check_storage_root(field: str, root: str) -> None:
    """storage.ray / storage.shared: a directory we can write in, or an object-store URI whose
    bucket answers ("" = the workdir, checked as such)."""
    if not root:
        return
    scheme = storage.scheme_for(root, Use.FILES)
    if scheme is None:
        raise UsageError(
            f"{field}: unsupported storage URI {root!r}; valid: {storage.forms(Use.FILES)}"
        )
    _run(scheme.probe, field, root)


def check_optuna_storage(url: str) -> None:
    field = "storage.optuna"
    scheme = storage.scheme_for(url, Use.OPTUNA)
    if scheme is None:
        raise UsageError(
            f"{field}: unsupported storage {url!r}; valid: {storage.forms(Use.OPTUNA)}"
        )
    _run(scheme.probe, field, url)


def check_tracking_reachable(uri: str) -> None:
    """The MLflow tracking store can be used: a server answers (and accepts our credentials),
    a SQLite file can be created, a PostgreSQL database accepts a connection."""
    field = "tracking.uri"
    scheme = storage.scheme_for(uri, Use.TRACKING)
    if scheme is None:
        raise UsageError(
            f"{field}: tracking URI {uri!r}: unsupported scheme; valid: "
            f"{storage.forms(Use.TRACKING)}"
        )
    _run(scheme.probe, field, uri)

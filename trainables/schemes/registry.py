"""The scheme registry's types and the questions everyone else asks it.

A `Scheme` says, once, everything prunetune knows about one kind of storage URL: which fields
accept it, how it is written in help and error text, how the preflight checks it, whether it is
shared across hosts, which errors mean "down for now, retry", and how to show it without
secrets. The built-in schemes are declared in `trainables.schemes.declared`; nothing outside
that module spells a scheme (tests/test_structure.py checks it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Use(StrEnum):
    """What a storage URL is for: the spec field family that accepts it."""

    TRACKING = "tracking"  # tracking.uri: MLflow's tracking store
    OPTUNA = "optuna"  # storage.optuna: Optuna's trials
    FILES = "files"  # storage.ray / storage.shared: Tune's storage_path and the shared store


class StoreUnusable(ValueError):
    """A probe's verdict: one line naming the field and what is wrong with its store."""


Probe = Callable[[str, str], None]  # (field, url) → None, or raises StoreUnusable


def _as_is(url: str) -> str:
    return url


def _nothing(url: str) -> None:
    return None


@dataclass(frozen=True)
class Scheme:
    """One kind of storage URL, declared once (see trainables.schemes.declared)."""

    name: str
    # What such a URL starts with; () = a plain local path (no "://" in it).
    prefixes: tuple[str, ...]
    uses: frozenset[Use]
    form: str  # how help and error text show it: "sqlite:///PATH"
    probe: Probe  # the preflight check: it answers / is writable; creates nothing
    remote: bool  # one store every host reaches (a server, an object store), not a local file
    # Use → dotted names of the exceptions that mean "the store is down for now": the callers
    # retry them. Named, not imported: Optuna's must not be imported below `studies`.
    retryable: Mapping[Use, tuple[str, ...]] = field(default_factory=dict)
    redact: Callable[[str], str] = _as_is  # the URL for display and logs, secrets hidden
    file: bool = False  # the prefix, then a local file's path (a SQLite file, a journal)
    sql: bool = False  # a SQLAlchemy URL: Optuna's RDBStorage and MLflow's SQL store open it
    mlflow_server: bool = False  # MLflow over REST: it keeps the artifacts and serves its UI
    # Called before pyarrow opens a remote FILES URL (environment its client library needs).
    prepare: Callable[[str], None] = _nothing

    def matches(self, url: str) -> bool:
        if not self.prefixes:
            return "://" not in url
        return url.startswith(self.prefixes)

    def prefix_of(self, url: str) -> str:
        """The longest of the prefixes `url` starts with ("" for a plain path)."""
        return max((p for p in self.prefixes if url.startswith(p)), key=len, default="")

    def path_of(self, url: str) -> Path:
        """The local file a `file` scheme's URL names (its text after the prefix)."""
        return Path(url.removeprefix(self.prefix_of(url)))

    def url_for(self, path: Path | str) -> str:
        """The URL of a local file for a `file` scheme."""
        return f"{self.prefixes[0]}{path}"


_SCHEMES: dict[str, Scheme] = {}  # by name, in declaration order (help text keeps it)


def register(scheme: Scheme) -> Scheme:
    """Add a scheme; its name and prefixes must be new (one owner per URL)."""
    if scheme.name in _SCHEMES:
        raise ValueError(f"storage scheme {scheme.name!r} is already registered")
    for other in _SCHEMES.values():
        clash = {p for p in scheme.prefixes for q in other.prefixes if p == q}
        if clash or (not scheme.prefixes and not other.prefixes):
            raise ValueError(f"storage scheme {scheme.name!r} would take {other.name!r}'s URLs")
    _SCHEMES[scheme.name] = scheme
    return scheme


def unregister(name: str) -> None:
    del _SCHEMES[name]


def schemes(use: Use | None = None) -> list[Scheme]:
    """The registered schemes (those `use` accepts), in declaration order."""
    return [s for s in _SCHEMES.values() if use is None or use in s.uses]


def named(name: str) -> Scheme:
    return _SCHEMES[name]


def scheme_for(url: str, use: Use | None = None) -> Scheme | None:
    """The scheme of `url` among those `use` accepts; None if none does. Longer prefixes are
    tried first, so a scheme whose prefix extends another's is found."""
    candidates = [s for s in schemes(use) if s.matches(url)]
    return max(candidates, key=lambda s: max(map(len, s.prefixes), default=0), default=None)


def forms(use: Use) -> str:
    """The accepted forms of a field, for help and error text."""
    return ", ".join(s.form for s in schemes(use))


def file_forms() -> str:
    """The forms of the schemes that name a local file."""
    return " or ".join(s.form for s in schemes() if s.file)


def is_remote(url: str, use: Use | None = None) -> bool:
    """`url` names a store every host reaches (for FILES: an object store pyarrow opens)."""
    scheme = scheme_for(url, use)
    return scheme is not None and scheme.remote


def is_mlflow_server(url: str) -> bool:
    scheme = scheme_for(url, Use.TRACKING)
    return scheme is not None and scheme.mlflow_server


def is_sql(url: str) -> bool:
    scheme = scheme_for(url)
    return scheme is not None and scheme.sql


def local_file(url: str) -> Path | None:
    """The file behind a URL of a `file` scheme (None for a server, an object store, a path)."""
    scheme = scheme_for(url)
    return scheme.path_of(url) if scheme is not None and scheme.file else None


def absolute(url: str) -> str:
    """A `file` scheme's URL with a relative path made absolute (the current directory, which
    Ray workers do not share, must not matter); other URLs, in-memory ones and "" unchanged."""
    scheme = scheme_for(url)
    if scheme is None or not scheme.file:
        return url
    prefix = scheme.prefix_of(url)
    rest = url.removeprefix(prefix)
    if rest.startswith("/") or rest in ("", ":memory:"):
        return url
    return f"{prefix}{Path(rest).expanduser().resolve()}"


def redact(url: str) -> str:
    """`url` for display and logs, with its scheme's secrets hidden."""
    scheme = scheme_for(url)
    return scheme.redact(url) if scheme is not None else url


def retryable_errors(use: Use, url: str | None = None) -> tuple[type[BaseException], ...]:
    """The exceptions that mean `use`'s store is down for now: `url`'s scheme's, or (no url)
    those of every scheme `use` accepts. Imported here, when first asked for."""
    found = [scheme_for(url, use)] if url is not None else schemes(use)
    names = dict.fromkeys(n for s in found if s is not None for n in s.retryable.get(use, ()))
    return tuple(_resolve(name) for name in names)


def _resolve(dotted: str) -> type[BaseException]:
    module, _, attr = dotted.rpartition(".")
    found: Any = getattr(importlib.import_module(module), attr)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise TypeError(f"{dotted} is not an exception class")
    return found


def open_filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) of a remote FILES URI, as Ray Tune opens it."""
    scheme = scheme_for(uri, Use.FILES)
    if scheme is None or not scheme.remote:
        raise ValueError(f"{uri!r} is not an object-store URI; valid: {forms(Use.FILES)}")
    scheme.prepare(uri)
    import pyarrow.fs as pafs  # pyarrow comes with Ray Tune; only remote stores need it

    return pafs.FileSystem.from_uri(uri)

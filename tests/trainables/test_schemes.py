"""The storage scheme registry (trainables.schemes): each built-in scheme answers the questions
the rest of the code asks, and a scheme registered in one place is picked up by the spec, the
preflight, the help text, retries and redaction."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from trainables.schemes import (
    Scheme,
    StoreUnusable,
    Use,
    absolute,
    forms,
    is_mlflow_server,
    is_remote,
    local_file,
    redact,
    register,
    retryable_errors,
    scheme_for,
    unregister,
)

SPEC = {
    "name": "s",
    "model": {"name": "smallcnn"},
    "dataset": {"name": "digits"},
    "pruning": {"ratio": [0.5]},
}


def test_forms_list_each_use_in_declaration_order() -> None:
    """Help and error text are built from the declarations, in the order they were declared."""
    assert forms(Use.TRACKING) == "http(s)://HOST:PORT, sqlite:///PATH, postgresql://USER@HOST/DB"
    assert forms(Use.OPTUNA) == "sqlite:///PATH, postgresql://USER@HOST/DB, journal:PATH"
    assert forms(Use.FILES).startswith("a directory, s3://BUCKET/PREFIX (?endpoint_override=")
    assert forms(Use.FILES).endswith(", gs://BUCKET/PREFIX")


@pytest.mark.parametrize(
    ("url", "use", "name"),
    [
        ("journal:x.log", Use.OPTUNA, "journal"),
        ("journal:x.log", Use.FILES, "path"),  # a directory named so, as before
        ("journal:x.log", Use.TRACKING, None),
        ("postgresql+psycopg://u@h/db", Use.OPTUNA, "postgresql"),
        ("postgresql+psycopg2://u@h/db", Use.OPTUNA, None),
        ("https://h:5000", Use.TRACKING, "http"),
        ("https://h:5000", Use.OPTUNA, None),
        ("sqlite://x", Use.TRACKING, None),
        ("gs://b/p", Use.FILES, "gs"),
        ("ftp://h/x", Use.FILES, None),
        ("", Use.FILES, "path"),
        ("", Use.TRACKING, None),
    ],
)
def test_a_url_finds_its_scheme_among_those_its_field_accepts(
    url: str, use: Use, name: str | None
) -> None:
    """The same text can be a scheme's URL for one field and nothing (or a path) for another."""
    scheme = scheme_for(url, use)
    assert (scheme.name if scheme else None) == name


def test_remote_and_server_facts() -> None:
    """Servers and object stores are shared across hosts; files and directories are not; only
    the MLflow server keeps its own artifacts."""
    assert [is_remote(u) for u in ("s3://b", "postgresql://h/d", "http://h")] == [True] * 3
    assert [is_remote(u) for u in ("sqlite:///x", "journal:x", "/dir", "ftp://x")] == [False] * 4
    assert not is_remote("postgresql://h/d", Use.FILES)  # not an object store for Tune's files
    assert is_mlflow_server("http://h:5000") and not is_mlflow_server("postgresql://h/d")


def test_file_urls_name_their_file_and_become_absolute(tmp_path: Path, monkeypatch) -> None:
    """A SQLite or journal URL names a local file; a relative one is made absolute, while an
    absolute, in-memory or empty one is left as it is."""
    monkeypatch.chdir(tmp_path)
    assert local_file("sqlite:////w/m.db") == Path("/w/m.db")
    assert local_file("journal:j.log") == Path("j.log")
    assert local_file("postgresql://h/d") is None and local_file("/dir") is None
    assert absolute("sqlite:///m.db") == f"sqlite:///{tmp_path}/m.db"
    assert absolute("journal:j.log") == f"journal:{tmp_path}/j.log"
    for url in ("sqlite:////w/m.db", "sqlite:///:memory:", "journal:", "postgresql://h/d", "d"):
        assert absolute(url) == url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql+psycopg://u:secret@h/db", "postgresql+psycopg://u:***@h/db"),
        ("https://u:secret@h:5000/x", "https://u:***@h:5000/x"),
        ("s3://KEY:SECRET@b/p?region=r", "s3://***@b/p?region=r"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:////w/m.db", "sqlite:////w/m.db"),
        ("ftp://u:secret@h", "ftp://u:secret@h"),  # no scheme: nothing known to hide
    ],
)
def test_redact_hides_each_schemes_secrets(url: str, shown: str) -> None:
    """Each scheme hides what is secret in it; a URL without secrets is shown as it is."""
    assert redact(url) == shown


def test_retryable_errors_are_the_declared_ones() -> None:
    """The searcher's outage errors and the outbox's are the declarations' (imported lazily)."""
    import optuna
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    from studies.plan.searcher import OUTAGE_ERRORS
    from trainables.outbox import TRACKING_DOWN

    rdb = (
        optuna.exceptions.StorageInternalError,
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
    )
    assert retryable_errors(Use.OPTUNA) == rdb == OUTAGE_ERRORS
    assert retryable_errors(Use.OPTUNA, "journal:/j.log") == rdb[:1]
    assert retryable_errors(Use.TRACKING) == (MlflowException, OSError) == TRACKING_DOWN
    assert retryable_errors(Use.FILES) == ()


def _probe_nothing(field: str, url: str) -> None:
    """A probe that accepts everything."""


def test_register_refuses_a_second_owner_of_a_url() -> None:
    """A name or a prefix already taken, or a second plain-path scheme, is refused."""
    taken = [
        Scheme("sqlite", ("lite://",), frozenset({Use.OPTUNA}), "x", _probe_nothing, False),
        Scheme("lite", ("sqlite:///",), frozenset({Use.OPTUNA}), "x", _probe_nothing, False),
        Scheme("dir2", (), frozenset({Use.FILES}), "x", _probe_nothing, False),
    ]
    for scheme in taken:
        with pytest.raises(ValueError, match=r"already registered|would take"):
            register(scheme)
    assert scheme_for("lite://x") is None


# --- a new scheme, declared in one place ---------------------------------------------------

PROBED: list[tuple[str, str]] = []


def _probe_mem(field: str, url: str) -> None:
    """The fake scheme's preflight: records the call; "mem://down" does not answer."""
    PROBED.append((field, url))
    if url.startswith("mem://down"):
        raise StoreUnusable(f"{field}: {url!r} does not answer")


@pytest.fixture
def mem_scheme() -> Iterator[Scheme]:
    """An in-memory store for Optuna and Tune's files, registered for one test only."""
    scheme = register(
        Scheme(
            name="mem",
            prefixes=("mem://",),
            uses=frozenset({Use.OPTUNA, Use.FILES}),
            form="mem://NAME",
            probe=_probe_mem,
            remote=True,
            retryable={Use.OPTUNA: ("builtins.TimeoutError",)},
            redact=lambda url: "mem://***",
        )
    )
    PROBED.clear()
    try:
        yield scheme
    finally:
        unregister("mem")


def test_a_registered_scheme_is_accepted_by_the_spec(mem_scheme: Scheme) -> None:
    """Spec validation accepts the new scheme in the fields its declaration names, lists it
    among the valid forms of those fields, and still refuses it elsewhere."""
    from studies.errors import SpecError
    from studies.spec import validate

    spec = validate({**SPEC, "storage": {"optuna": "mem://study", "shared": "mem://b/p"}})
    assert (spec.storage.optuna, spec.storage.shared) == ("mem://study", "mem://b/p")
    with pytest.raises(
        SpecError, match=r"storage\.optuna: unsupported .*journal:PATH, mem://NAME"
    ):
        validate({**SPEC, "storage": {"optuna": "ftp://x"}})
    with pytest.raises(SpecError, match=r"tracking\.uri: unsupported tracking URI 'mem://x'"):
        validate({**SPEC, "tracking": {"uri": "mem://x"}})
    with pytest.raises(SpecError, match="carries credentials"):
        validate({**SPEC, "storage": {"ray": "mem://k:s@b/p"}})


def test_a_registered_scheme_is_probed_by_the_preflight(mem_scheme: Scheme) -> None:
    """The preflight dispatches to the new scheme's probe, whose verdict is the CLI's one-line
    error; the help text of --storage lists the new form."""
    from studies.cli import build_parser
    from studies.errors import UsageError
    from studies.session.preflight import check_optuna_storage, check_storage_root

    check_optuna_storage("mem://study")
    check_storage_root("storage.ray", "mem://b/p")
    assert PROBED == [("storage.optuna", "mem://study"), ("storage.ray", "mem://b/p")]
    with pytest.raises(UsageError, match=r"^storage\.optuna: 'mem://down' does not answer$"):
        check_optuna_storage("mem://down")
    run = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["run"]
    storage_help = next(a.help for a in run._actions if a.dest == "storage")
    assert storage_help == "Optuna storage (sqlite:///PATH, postgresql://USER@HOST/DB, " \
        "journal:PATH, mem://NAME)"  # fmt: skip


def test_a_registered_scheme_is_redacted_retried_and_linted(mem_scheme: Scheme) -> None:
    """Redaction and retryable errors come from the declaration; the structure rule then
    refuses the new prefix in any other module."""
    from tests.test_structure import _scheme_pattern

    assert redact("mem://user:pw@study") == "mem://***"
    assert retryable_errors(Use.OPTUNA, "mem://study") == (TimeoutError,)
    assert TimeoutError in retryable_errors(Use.OPTUNA)
    assert is_remote("mem://b/p", Use.FILES)
    assert _scheme_pattern().search('"mem://"')


def test_an_unregistered_scheme_is_gone(mem_scheme: Scheme) -> None:
    """Unregistering takes the scheme out of every question (the fixture's cleanup)."""
    from studies.errors import UsageError
    from studies.session.preflight import check_optuna_storage

    unregister("mem")
    try:
        assert scheme_for("mem://study") is None and "mem://" not in forms(Use.OPTUNA)
        with pytest.raises(UsageError, match="unsupported storage 'mem://study'"):
            check_optuna_storage("mem://study")
    finally:
        register(mem_scheme)  # the fixture unregisters it again


def test_optuna_opens_a_journal_as_a_file_and_a_database_by_url(tmp_path: Path) -> None:
    """A journal URL becomes a JournalStorage on its file and optuna-dashboard gets the file;
    a SQL URL becomes an RDBStorage and the dashboard gets the URL."""
    import optuna

    from studies.plan.search import optuna_storage
    from studies.session.links import dashboard_target

    journal, sqlite = f"journal:{tmp_path}/j.log", f"sqlite:///{tmp_path}/o.db"
    assert isinstance(optuna_storage(journal), optuna.storages.JournalStorage)
    assert isinstance(optuna_storage(sqlite), optuna.storages.RDBStorage)
    assert dashboard_target(journal) == f"{tmp_path}/j.log"
    assert dashboard_target(sqlite) == sqlite

"""A workdir copied or moved elsewhere keeps working: `show` and `compare` read (and write) the
copy, also once the original is gone; a workdir that lacks a store the study needs is an error
naming it, never a silently created empty store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _cli(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from studies.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _table(show_output: str, workdir: Path) -> str:
    """`show`'s output without the lines that name the workdir (how to browse it)."""
    return "\n".join(line for line in show_output.splitlines() if str(workdir) not in line)


def test_copied_workdir_works_after_the_original_is_deleted(
    ray_local: str, write_study, tmp_path: Path
) -> None:
    """show from a copy = show from the original; compare writes into the copy (report and
    MLflow artifacts), nothing reappears at the original path; without its MLflow store the
    copy is an error naming it."""
    import studies

    original = tmp_path / "original"
    studies.run(str(write_study(name="portable", trials=2, epochs=1)), workdir=str(original))
    code, shown, _ = _cli("show", "portable", "--workdir", str(original))
    assert code == 0 and "portable" in shown
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    shutil.rmtree(original)

    code, shown_copy, err = _cli("show", "portable", "--workdir", str(copy))
    assert code == 0, err
    assert _table(shown_copy, copy) == _table(shown, original)
    assert str(copy) in shown_copy and str(original) not in shown_copy
    code, _, err = _cli("compare", "portable", "--workdir", str(copy))
    assert code == 0 and "warning" not in err, err
    assert (copy / "reports" / "portable" / "report.md").exists()
    logged = list((copy / "mlartifacts").rglob("report/report.md"))
    assert logged, "the report was not logged into the copy's artifact store"
    assert not original.exists(), "something was written at the original location"
    trials = studies.load("portable", workdir=str(copy))
    assert len(trials) == 2 and trials["test_acc"].notna().all()

    # A workdir without the study's MLflow store: exit 2 naming it, and no empty store made.
    (copy / "mlflow.db").unlink()
    code, _, err = _cli("show", "portable", "--workdir", str(copy))
    assert code == 2 and "mlflow.db" in err and "tracking.uri" in err and "missing" in err
    assert not (copy / "mlflow.db").exists()

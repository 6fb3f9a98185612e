"""The command line explains itself: --version, a real description and the environment
variables on top, and a help text for every argument of every command."""

from __future__ import annotations

import argparse

import pytest

from studies.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version_and_top_level_help(capsys) -> None:
    """--version prints the package version; --help names the tools and the env variables."""
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("prunetune ")
    text = build_parser().format_help()
    assert "Ray Tune" in text and "``" not in text
    for var in ("PRUNETUNE_WORKDIR", "RAY_ADDRESS", "MLFLOW_TRACKING_PASSWORD", "PGPASSWORD"):
        assert var in text


@pytest.mark.parametrize("command", sorted(_subparsers(build_parser())))
def test_every_argument_has_help(command: str) -> None:
    """Each positional and option of `command` says what it is (argparse's -h aside)."""
    parser = _subparsers(build_parser())[command]
    silent = [
        a.dest
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()
    ]
    assert not silent, f"{command}: no help for {silent}"
    assert parser.description or parser.format_usage()

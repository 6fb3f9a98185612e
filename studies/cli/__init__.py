"""The ``prunetune`` command line: parsing (main.py), study commands (study.py), the comparison
report (compare.py), schedule and pruning inspection (inspect.py)."""

from studies.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

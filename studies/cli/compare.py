"""``prunetune compare NAME [--oracle NAME] [--workdir DIR]``: the study's comparison report
(tables, plots, report.md) in ``<workdir>/reports/NAME/`` and on the study's MLflow run."""

from __future__ import annotations

import argparse

from studies import storage
from studies.cli.args import add_workdir_arg


def add_commands(sub: argparse._SubParsersAction) -> None:
    cmp = sub.add_parser(
        "compare", help="compare a study's schedules with the oracle, baselines and dense model"
    )
    cmp.add_argument("name", help="the study to report on")
    cmp.add_argument(
        "--oracle", metavar="NAME", default=None, help="take the oracle runs from this study"
    )
    add_workdir_arg(cmp)
    cmp.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    # MLflow, scipy and matplotlib load only when a report is made (--help stays fast).
    from studies.results.markdown import display_table
    from studies.results.report import run_compare

    workdir = args.workdir or storage.default_workdir()
    report, table = run_compare(workdir, args.name, oracle=args.oracle)
    print(display_table(table).to_string(index=False))
    print(f"\nreport: {report}")
    return 0

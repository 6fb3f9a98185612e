"""prunetune: hyperparameter studies for retraining pruned neural networks (Ray Tune trials,
Optuna search, MLflow tracking).

Every user error ends as one line on stderr (``prunetune: error: <what, where, valid choices>``)
and exit code 2, before anything is started; argparse's own errors are folded to one line too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

from studies.cli import compare, inspect, plan, study
from studies.errors import UsageError
from studies.session.ray_session import set_loopback_env

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + error: keep one line
        raise UsageError(f"{self.prog}: {message}")


Handler = Callable[[argparse.Namespace], int]


ENVIRONMENT = """environment variables:
  PRUNETUNE_WORKDIR      default --workdir (else ./prunetune-runs)
  PRUNETUNE_DATA         where CIFAR-10/100 live when a study file gives no dataset.root
  RAY_ADDRESS            the Ray cluster to join when --address is not given (set inside
                         `ray job submit`); unset: a local Ray on 127.0.0.1
  MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD
                         credentials for an MLflow server behind basic auth
  PGPASSWORD (or ~/.pgpass)
                         the PostgreSQL password (never in a URL: URLs are recorded)"""


def _version() -> str:
    try:
        return version("prunetune")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="prunetune",
        description=" ".join(__doc__.split("\n\n")[0].split()),
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"prunetune {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    study.add_commands(sub)
    compare.add_commands(sub)
    inspect.add_commands(sub)
    plan.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Before any command imports Ray: Ray reads its loopback settings once, at import, and a
    # local Ray would otherwise bind the machine's routable address.
    set_loopback_env()
    try:
        args = build_parser().parse_args(argv)
        handler: Handler = args.handler
        return handler(args)
    except UsageError as err:
        print(f"prunetune: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `prunetune schedule ... | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("prunetune: interrupted", file=sys.stderr)
        return 130

"""Arguments shared by several commands: `--set key=value` pairs and where a study lives."""

from __future__ import annotations

import argparse

from studies.errors import UsageError
from studies.storage import DEFAULT_WORKDIR, WORKDIR_ENV

WORKDIR_HELP = (
    f"where studies are recorded (default: ${WORKDIR_ENV}, else {DEFAULT_WORKDIR}): the "
    "study records, dense-model cache, checkpoints, reports and the default SQLite stores"
)


def parse_assignments(pairs: list[str], *, flag: str = "--set") -> dict[str, object]:
    """Parse ``key=value`` pairs; values become bool/int/float where they look like one."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {pair!r}: expected key=value")
        out[key.strip()] = parse_scalar(raw.strip())
    return out


def parse_scalar(raw: str) -> object:
    """'true' → True, '3' → 3, '0.1' → 0.1, '[1, 2]' → [1, 2], anything else stays a string."""
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":  # '"init"' as TOML writes it
        return raw[1:-1]
    if raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1].strip()
        return [parse_scalar(x.strip()) for x in inner.split(",")] if inner else []
    return raw


def add_workdir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default=None, metavar="DIR", help=WORKDIR_HELP)


def add_set_arg(parser: argparse.ArgumentParser, what: str = "override study-file fields") -> None:
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=f"{what}, by dotted path (e.g. search.trials=4 retrain.epochs=[4])",
    )

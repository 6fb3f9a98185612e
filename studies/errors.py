"""The one error type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user: the message names the field/argument and the valid choices."""


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
    if raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1].strip()
        return [parse_scalar(x.strip()) for x in inner.split(",")] if inner else []
    return raw


class user_input:
    """Turn the one-line ValueErrors of registries/validators into UsageErrors (exit 2).

    Only code that validates what the user typed runs inside it, so a ValueError from a bug
    elsewhere still surfaces with its traceback.
    """

    def __init__(self, where: str = "") -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None and isinstance(exc, ValueError) and not isinstance(exc, UsageError):
            prefix = f"{self.where}: " if self.where else ""
            raise UsageError(f"{prefix}{exc}") from exc
        return False

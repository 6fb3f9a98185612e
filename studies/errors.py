"""The one error type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

from types import TracebackType


class UsageError(ValueError):
    """Bad input from the user: the message names the field/argument and the valid choices."""


class SpecError(UsageError):
    """A study file or override is invalid; the message is one line naming the field."""


class user_input:
    """Turn the one-line ValueErrors of registries/validators into UsageErrors (exit 2).

    Only code that validates what the user typed runs inside it, so a ValueError from a bug
    elsewhere still surfaces with its traceback.
    """

    def __init__(self, where: str = "") -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is not None and isinstance(exc, ValueError) and not isinstance(exc, UsageError):
            prefix = f"{self.where}: " if self.where else ""
            raise UsageError(f"{prefix}{exc}") from exc
        return False

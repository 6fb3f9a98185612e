"""The error of a cross-field check: the path of the field to change, what is wrong, what is valid."""

from __future__ import annotations

from studies.errors import SpecError


class CheckError(SpecError):
    """A cross-field check failed; str() is `path: message; valid: choices`."""

    def __init__(self, message: str, valid: str = "", path: str = "") -> None:
        line = f"{path}: {message}" if path else message
        super().__init__(f"{line}; valid: {valid}" if valid else line)


def invalid(message: str, valid: str = "", path: str = "") -> CheckError:
    return CheckError(message, valid, path)


__all__ = ["CheckError", "invalid"]

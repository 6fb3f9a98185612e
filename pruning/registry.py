"""Name → implementation registries, one per plug-in point (models, data sets, methods, schedules).

A registry is a plain dict with a decorator to add members and a lookup that fails with a
one-line error naming the kind of thing asked for and the valid choices; the CLI turns that
error into exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError):
    """An unregistered name was asked for; the message lists the valid choices."""

    def __init__(self, kind: str, name: str, choices: list[str]) -> None:
        self.kind, self.name, self.choices = kind, name, choices
        super().__init__(f"unknown {kind} {name!r}; valid choices: {', '.join(choices)}")


class Registry(Generic[T]):
    """A named collection of implementations of one plug-in point."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._members: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(member: T) -> T:
            if name in self._members:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._members[name] = member
            return member

        return add

    def add(self, name: str, member: T) -> T:
        return self.register(name)(member)

    def get(self, name: str) -> T:
        try:
            return self._members[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._members)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._members)

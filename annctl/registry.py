"""A tiny name → entry registry. Registries themselves are declared where their entries live
(``annctl.datasets.DATASETS``, ``annctl.models.ARCHITECTURES``)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps the name users type in YAML to a registered class or function.

    Registering a name twice is an error; a failed lookup lists what exists.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(entry: T) -> T:
            return self.add(name, entry)

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        message = f"unknown {self.kind} {name!r}"
        close = difflib.get_close_matches(str(name), self.names(), n=1)
        if close:
            message += f" (did you mean `{close[0]}`?)"
        return message + f"; registered: {', '.join(self.names())}"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._entries[name]) for name in self.names()]

    def values(self) -> list[T]:
        return [self._entries[name] for name in self.names()]

"""A small name -> object registry whose duplicate names raise."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from search_space.errors import UserError

T = TypeVar("T")


class DuplicateNameError(KeyError):
    """A name was registered twice in the same registry."""


class UnknownNameError(UserError, KeyError):
    """A name is not in the registry; the message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the plain sentence instead
        return str(self.args[0])


class Registry(Generic[T]):
    """Ordered mapping of names to entries, for pluggable parts (networks, backends, predictors, ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""
        def deco(item: T) -> T:
            return self.add(name, item)
        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

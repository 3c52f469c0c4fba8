"""Search backends behind one interface (nas.search.backends.base.SearchBackend), by name."""

from __future__ import annotations

from nas.search.backends.base import SearchBackend, SearchRun, write_record
from nas.search.backends.optuna_backend import OptunaBackend
from nas.search.backends.ray_backend import RayBackend
from search_space.registry import Registry


def default_backends() -> Registry[type[SearchBackend]]:
    """A fresh registry with the built-in backends: optuna (in-process / worker processes), ray (Ray Tune)."""
    reg: Registry[type[SearchBackend]] = Registry("search backend")
    for cls in (OptunaBackend, RayBackend):
        reg.add(cls.name, cls)
    return reg


def backend_names() -> list[str]:
    return default_backends().names()


def get_backend(name: str) -> SearchBackend:
    """An instance of the backend registered as `name` (UnknownNameError, one line, lists the known ones)."""
    return default_backends().get(name)()


__all__ = ["OptunaBackend", "RayBackend", "SearchBackend", "SearchRun", "backend_names", "default_backends",
           "get_backend", "write_record"]

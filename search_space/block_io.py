"""Blocks to and from plain dicts (a timings file stores the blocks it measured as JSON)."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from search_space import baselines, blocks, microbench
from search_space.layers import Conv
from search_space.spec import SpecError, UnitSpec

_NESTED = {"conv": Conv, "unit": UnitSpec}


def block_types() -> dict[str, type]:
    """Every block plan class by name."""
    out: dict[str, type] = {}
    for mod in (blocks, baselines, microbench, *baselines.family_modules()):
        for name in dir(mod):
            obj = getattr(mod, name)
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and hasattr(obj, "layers") \
                    and obj.__module__ == mod.__name__:
                out[name] = obj
    return out


def block_to_dict(block: Any) -> dict[str, Any]:
    """{"block_type": class name, **fields} with nested Conv / UnitSpec as dicts."""
    return {"block_type": type(block).__name__, **dataclasses.asdict(block)}


def block_from_dict(data: Mapping[str, Any]) -> Any:
    """Inverse of `block_to_dict`; extra keys (e.g. h_in, batch of a timings key) are ignored."""
    types = block_types()
    name = data.get("block_type")
    if name not in types:
        raise SpecError("block_type", f"unknown block type {name!r}")
    cls = types[name]
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.name == "name":
                kwargs["name"] = ""
                continue
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
                raise SpecError(f.name, f"missing in {name} block")
            continue
        value = data[f.name]
        if f.name in _NESTED and isinstance(value, Mapping):
            value = _NESTED[f.name](**value)
        kwargs[f.name] = value
    return cls(**kwargs)

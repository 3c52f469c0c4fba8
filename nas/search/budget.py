"""Latency budget strings: '20ms', '20 ms', '0.02s', '20000us' -> milliseconds."""

from __future__ import annotations

import math
import re

from search_space.errors import UserError

_UNITS_MS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3, "μs": 1e-3}
_PATTERN = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(ms|s|us|µs|μs)\s*$")


class BudgetError(UserError):
    """A latency budget that is not a positive time with a unit."""


def parse_budget(text: str) -> float:
    """Milliseconds of a budget string; BudgetError (one line) for anything else."""
    m = _PATTERN.match(text or "")
    if not m:
        raise BudgetError(f"bad budget {text!r}: give a positive time with a unit, e.g. 20ms, 20 ms, 0.02s or "
                          f"20000us")
    value = float(m.group(1)) * _UNITS_MS[m.group(2)]
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"bad budget {text!r}: it must be positive")
    return value


def format_ms(ms: float) -> str:
    """'20ms', '12.5ms': a budget as it reads in a study name."""
    return f"{ms:g}ms"

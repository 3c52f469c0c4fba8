"""Budget strings: a latency ('20ms', '20 ms', '0.02s', '20000us') or a FLOPs budget ('146MFLOPs', '146 MFLOPs',
'0.146GFLOPs'; multiply-adds in millions, as the paper counts FLOPs) -> a typed `Budget`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from search_space.errors import UserError

LATENCY, FLOPS = "latency", "flops"
MS, MFLOPS = "ms", "MFLOPs"
_UNITS_MS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3, "μs": 1e-3}
_UNITS_MFLOPS = {"mflops": 1.0, "gflops": 1000.0}
_NUMBER = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_TIME = re.compile(rf"^\s*{_NUMBER}\s*(ms|s|us|µs|μs)\s*$")
_FLOPS = re.compile(rf"^\s*{_NUMBER}\s*([mMgG][fF][lL][oO][pP][sS])\s*$")
#: The accepted forms, as the one-line errors name them.
LATENCY_FORMS = "20ms, 20 ms, 0.02s or 20000us"
FLOPS_FORMS = "146MFLOPs, 146 MFLOPs or 0.146GFLOPs"


class BudgetError(UserError):
    """A budget that is not a positive time or a positive number of FLOPs with a unit."""


@dataclass(frozen=True)
class Budget:
    """A search budget: `value` in `unit` ("ms": latency on the platform; "MFLOPs": multiply-adds in millions)."""

    value: float
    unit: str = MS

    def __post_init__(self) -> None:
        if self.unit not in (MS, MFLOPS):
            raise ValueError(f"budget unit must be {MS} or {MFLOPS}, got {self.unit!r}")
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"budget must be positive and finite, got {self.value!r}")

    @property
    def kind(self) -> str:
        """"latency" or "flops"."""
        return LATENCY if self.unit == MS else FLOPS

    @property
    def is_latency(self) -> bool:
        return self.unit == MS

    @property
    def ms(self) -> float | None:
        """The latency budget in ms (None for a FLOPs budget)."""
        return self.value if self.unit == MS else None

    @property
    def mflops(self) -> float | None:
        """The FLOPs budget in millions of multiply-adds (None for a latency budget)."""
        return self.value if self.unit == MFLOPS else None

    def text(self) -> str:
        """'20ms', '146MFLOPs': the budget as it reads in a study name."""
        return f"{self.value:g}{self.unit}"

    def label(self) -> str:
        """'20 ms', '146 MFLOPs': the budget as it reads in a sentence."""
        return f"{self.value:g} {self.unit}"

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "kind": self.kind}

    @classmethod
    def of(cls, budget_ms: float | None = None, budget_mflops: float | None = None) -> "Budget":
        """The budget of exactly one of `budget_ms` and `budget_mflops` (as configs and records store it)."""
        if (budget_ms is None) == (budget_mflops is None):
            raise ValueError("give exactly one of budget_ms and budget_mflops")
        if budget_ms is not None:
            return cls(float(budget_ms), MS)
        return cls(float(budget_mflops), MFLOPS)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Budget":
        return cls(float(d["value"]), str(d.get("unit", MS)))


def read_budget(text: str) -> Budget:
    """The budget of a string (latency or FLOPs, see the module docstring); BudgetError (one line) otherwise."""
    m = _TIME.match(text or "")
    unit, scale = MS, 0.0
    if m:
        scale = _UNITS_MS[m.group(2)]
    else:
        m = _FLOPS.match(text or "")
        if m:
            unit, scale = MFLOPS, _UNITS_MFLOPS[m.group(2).lower()]
    if not m:
        raise BudgetError(f"bad budget {text!r}: give a latency with its unit ({LATENCY_FORMS}) or a FLOPs budget "
                          f"({FLOPS_FORMS})")
    value = float(m.group(1)) * scale
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"bad budget {text!r}: it must be positive")
    return Budget(value, unit)


def parse_budget(text: str) -> float:
    """Milliseconds of a latency budget string; BudgetError (one line) for anything else, a FLOPs budget too."""
    budget = read_budget(text) if _FLOPS.match(text or "") is None else None
    if budget is None:
        raise BudgetError(f"bad budget {text!r}: a latency is needed here, e.g. {LATENCY_FORMS} (FLOPs budgets "
                          f"are for `nas search`)")
    return budget.value


def format_ms(ms: float) -> str:
    """'20ms', '12.5ms': a budget as it reads in a study name."""
    return f"{ms:g}ms"

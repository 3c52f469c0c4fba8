"""Budget strings: a latency ('20ms', '20 ms', '0.02s', '20000us'), a FLOPs budget ('146MFLOPs', '146 MFLOPs',
'0.146GFLOPs'; multiply-adds in millions, as the paper counts FLOPs) -> a typed `Budget`; or a latency relative
to a registered network ('shufflenet_v2_x0_5', '0.8x shufflenet_v2_x0_5') -> a `RelativeBudget`, which becomes a
latency budget in ms once that network is timed (or predicted) on the platform, with that timing as the budget's
`TimeFrame`."""

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
_RELATIVE = re.compile(rf"^\s*(?:{_NUMBER}\s*[x×*]\s*:?\s*)?([A-Za-z][A-Za-z0-9_.]*)\s*$")
#: The accepted forms, as the one-line errors name them.
LATENCY_FORMS = "20ms, 20 ms, 0.02s or 20000us"
FLOPS_FORMS = "146MFLOPs, 146 MFLOPs or 0.146GFLOPs"
RELATIVE_FORMS = "shufflenet_v2_x0_5 or 0.8x shufflenet_v2_x0_5"


class BudgetError(UserError):
    """A budget that is not a positive time or a positive number of FLOPs with a unit."""


@dataclass(frozen=True)
class TimeFrame:
    """The machine speed a latency budget was fixed at: registered `network` took `ms` on the platform then.

    A measurement in the search loop times that network beside the candidate and scales the candidate's reading
    by ms / (its reading now), so a budget fixed in a slow (or fast) spell of a shared machine still means the
    same network-relative latency minutes later: the decision is the side-by-side ratio, which drift does not
    move."""

    network: str
    ms: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ms) and self.ms > 0):
            raise ValueError(f"time frame latency must be positive and finite, got {self.ms!r}")


@dataclass(frozen=True)
class Budget:
    """A search budget: `value` in `unit` ("ms": latency on the platform; "MFLOPs": multiply-adds in millions);
    `frame`: for a latency budget relative to a network, the timing of that network it was fixed from."""

    value: float
    unit: str = MS
    frame: TimeFrame | None = None

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

    @property
    def ratio(self) -> float | None:
        """A relative latency budget's multiple of its frame network's latency (None otherwise)."""
        return self.value / self.frame.ms if self.frame is not None and self.is_latency else None

    def relative(self) -> "RelativeBudget | None":
        """A latency budget fixed relative to a network, as that multiple (None otherwise)."""
        return RelativeBudget(round(self.ratio, 6), self.frame.network) if self.ratio is not None else None  # type: ignore[union-attr]

    def text(self) -> str:
        """'20ms', '146MFLOPs': the budget as it reads in a study name."""
        return f"{self.value:g}{self.unit}"

    def label(self) -> str:
        """'20 ms', '146 MFLOPs', '2.83 ms (1x shufflenet_v2_x0_5)': the budget as it reads in a sentence."""
        relative = self.relative()
        relative_text = f" ({relative.ratio:g}x {relative.network})" if relative is not None else ""
        return f"{self.value:g} {self.unit}{relative_text}"

    def to_dict(self) -> dict[str, Any]:
        frame = {"frame_network": self.frame.network, "frame_ms": self.frame.ms} if self.frame else {}
        return {"value": self.value, "unit": self.unit, "kind": self.kind, **frame}

    @classmethod
    def of(cls, budget_ms: float | None = None, budget_mflops: float | None = None,
           frame: TimeFrame | None = None) -> "Budget":
        """The budget of exactly one of `budget_ms` and `budget_mflops` (as configs and records store it)."""
        if (budget_ms is None) == (budget_mflops is None):
            raise ValueError("give exactly one of budget_ms and budget_mflops")
        if budget_ms is not None:
            return cls(float(budget_ms), MS, frame)
        return cls(float(budget_mflops), MFLOPS, frame)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Budget":
        frame = TimeFrame(str(d["frame_network"]), float(d["frame_ms"])) if d.get("frame_network") else None
        return cls(float(d["value"]), str(d.get("unit", MS)), frame)


@dataclass(frozen=True)
class RelativeBudget:
    """A latency budget as a multiple of a registered network's latency on the platform ('0.8x
    shufflenet_v2_x0_5'): `ratio` times `network`; it becomes a `Budget` when that network is timed."""

    ratio: float
    network: str

    def text(self) -> str:
        """'1xshufflenet_v2_x0_5': as it reads in a study name."""
        return f"{self.ratio:g}x{self.network}"

    def resolved(self, network_ms: float) -> Budget:
        """The latency budget once the network took `network_ms` (that timing is the budget's time frame)."""
        return Budget(self.ratio * network_ms, MS, TimeFrame(self.network, network_ms))


def read_budget_or_relative(text: str) -> Budget | RelativeBudget:
    """A latency or FLOPs `Budget`, or a `RelativeBudget` naming a registered network (see the module
    docstring); BudgetError (one line) otherwise."""
    m = _RELATIVE.match(text or "")
    if m is None or _TIME.match(text or "") or _FLOPS.match(text or ""):
        return read_budget(text)
    from search_space.references import reference_names

    ratio = float(m.group(1)) if m.group(1) is not None else 1.0
    if m.group(2) not in reference_names():
        raise BudgetError(f"bad budget {text!r}: {m.group(2)!r} is not a registered network (`nas arch list` lists "
                          f"them); give a latency ({LATENCY_FORMS}), a FLOPs budget ({FLOPS_FORMS}) or a multiple "
                          f"of a network's latency ({RELATIVE_FORMS})")
    if not (math.isfinite(ratio) and ratio > 0):
        raise BudgetError(f"bad budget {text!r}: the multiple must be positive")
    return RelativeBudget(ratio, m.group(2))


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
        raise BudgetError(f"bad budget {text!r}: give a latency with its unit ({LATENCY_FORMS}), a FLOPs budget "
                          f"({FLOPS_FORMS}) or a multiple of a registered network's latency ({RELATIVE_FORMS})")
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

"""This platform's numbers next to the paper's: speeds normalised to each group's first row, verdicts, markdown.

Different hardware does not compare in absolute terms, so both sides are turned into speed ratios: a
configuration's speed (forward passes per second, = images/s at batch 1) over the speed of the first row of
its group (its column in the paper's table). The paper reports speeds (ARM images/s, GPU batches/s); the
ratio of two of its speeds is the same kind of number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import pandas as pd

from experiments.timing import Item, median_latency

#: Columns of the summary table (one row per configuration), in order; experiments may append their own.
SUMMARY_COLUMNS = ("experiment", "table", "group", "config", "position", "source", "platform", "batch", "resolution",
                   "flops_m", "params_m", "mac_m", "latency_ms", "rounds", "round_spread", "speed_per_s",
                   "speed_rel", "paper_device", "paper_value", "paper_unit", "paper_speed_rel")
SPEED_NOTE = ("speed_rel = speed / speed of the group's first row (a ratio of forward passes per second; >1 is "
              "faster); the paper's side is the same ratio of its published speeds (ARM images/s, GPU batches/s)")


def summarize(raw: pd.DataFrame, items: Sequence[Item], paper_device: str) -> pd.DataFrame:
    """One row per item: median latency, speed, speed relative to its group's first row, the paper's ratio."""
    med = median_latency(raw).set_index(["table", "group", "config"])
    first = raw.drop_duplicates(["table", "group", "config"]).set_index(["table", "group", "config"])
    rows = []
    for item in items:
        m, f = med.loc[item.key], first.loc[item.key]
        rows.append({"experiment": f["experiment"], "table": item.table, "group": item.group, "config": item.config,
                     "position": item.position, "source": f["source"], "platform": f["platform"],
                     "batch": int(f["batch"]), "resolution": int(f["resolution"]), "flops_m": f["flops_m"],
                     "params_m": f["params_m"], "mac_m": f["mac_m"], "latency_ms": float(m["latency_ms"]),
                     "rounds": int(m["rounds"]), "round_spread": float(m["round_spread"]),
                     "speed_per_s": 1000.0 / float(m["latency_ms"]), "paper_device": paper_device,
                     "paper_value": item.paper_value, "paper_unit": item.paper_unit, **dict(item.extra)})
    out = pd.DataFrame(rows)
    out["speed_rel"] = float("nan")
    out["paper_speed_rel"] = float("nan")
    for (_, _), idx in out.groupby(["table", "group"], sort=False).groups.items():
        block = out.loc[idx].sort_values("position")
        ref = block.iloc[0]
        out.loc[idx, "speed_rel"] = out.loc[idx, "speed_per_s"] / ref["speed_per_s"]
        if ref["paper_value"] is not None and not pd.isna(ref["paper_value"]):
            out.loc[idx, "paper_speed_rel"] = out.loc[idx, "paper_value"].astype(float) / float(ref["paper_value"])
    extra = [c for c in out.columns if c not in SUMMARY_COLUMNS]
    return out[list(SUMMARY_COLUMNS) + extra]


# ------------------------------------------------------------------------------------------------ verdicts
@dataclass(frozen=True)
class Verdict:
    """Does a claim of the paper hold on this platform, and by how much (a speed ratio here and in the paper)."""

    claim: str
    comparison: str
    ratio: float
    paper_ratio: float | None
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        paper = f"paper {self.paper_ratio:.2f}x" if self.paper_ratio is not None else "paper: no number"
        return f"{self.claim}: {self.outcome} — {self.comparison}: {self.ratio:.2f}x here ({paper})"


def outcome(ratio: float, tolerance: float) -> str:
    """"holds" (ratio above 1 + tolerance), "no clear effect" (within), or "reversed" (below 1 - tolerance)."""
    if math.isnan(ratio):
        return "not measured"
    if ratio > 1 + tolerance:
        return f"holds (+{ratio - 1:.0%})"
    if ratio < 1 - tolerance:
        return f"reversed ({ratio - 1:+.0%})"
    return f"no clear effect ({ratio - 1:+.1%}, within ±{tolerance:.0%})"


def speed_ratio(summary: pd.DataFrame, table: str, group: str, faster: str, slower: str) -> tuple[float, float | None]:
    """(speed of `faster` / speed of `slower` here, the same ratio of the paper's speeds) within one group."""
    rows = summary[(summary["table"] == table) & (summary["group"] == group)].set_index("config")
    if faster not in rows.index or slower not in rows.index:
        return float("nan"), None
    here = float(rows.loc[faster, "speed_per_s"] / rows.loc[slower, "speed_per_s"])
    pv_f, pv_s = rows.loc[faster, "paper_value"], rows.loc[slower, "paper_value"]
    paper = None if pd.isna(pv_f) or pd.isna(pv_s) else float(pv_f) / float(pv_s)
    return here, paper


def verdict(summary: pd.DataFrame, claim: str, table: str, group: str, faster: str, slower: str,
            tolerance: float) -> Verdict:
    """The verdict on "`faster` is faster than `slower`" within one group of a table."""
    here, paper = speed_ratio(summary, table, group, faster, slower)
    return Verdict(claim, f"speed of {faster} / {slower} ({group})", here, paper, outcome(here, tolerance))


# ------------------------------------------------------------------------------------------------ markdown
def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def comparison_markdown(summary: pd.DataFrame, table: str, extra: Sequence[tuple[str, str, str]] = ()) -> str:
    """The rows of one table: config, MFLOPs, latency and speed here, speed ratio here and in the paper.

    `extra` adds columns as (header, column, format).
    """
    part = summary[summary["table"] == table]
    unit = next((u for u in part["paper_unit"] if isinstance(u, str) and u), "")
    headers = ["group", "config", "MFLOPs", *[h for h, _, _ in extra], "latency ms", "speed /s", "speed rel.",
               f"paper {unit}" if unit else "paper speed", "paper rel."]
    rows = []
    for _, r in part.iterrows():
        rows.append([r["group"], r["config"], _num(r["flops_m"], ".1f"), *[_num(r[c], f) for _, c, f in extra],
                     _num(r["latency_ms"], ".3f"), _num(r["speed_per_s"], ".1f"), _num(r["speed_rel"], ".3f"),
                     _num(r["paper_value"], "g"), _num(r["paper_speed_rel"], ".3f")])
    return markdown_table(headers, rows)

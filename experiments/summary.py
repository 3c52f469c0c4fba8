"""SUMMARY.md of a results folder: per platform, which of the paper's claims hold there and by how much.

Reads what `nas experiment run` wrote (experiments/results/<platform>/<name>.meta.json and -summary.csv) and
writes one markdown page: the G1-G4 verdicts next to the paper's ratios, the unit stacks, FLOPs-vs-latency
rank correlations of the Table 8 networks, and the predictors' accuracy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.compare import markdown_table
from experiments.config import ExperimentError
from experiments.context import machine_line
from experiments.target import RESULTS_ROOT

#: Platform folders first in this order (measured ones before predicted), then the rest alphabetically.
ORDER = ("cpu-onnxruntime", "cpu-torch", "gpu", "arm", "gpu-1080ti")


def _meta(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.meta.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExperimentError(f"cannot read {path}: {exc}") from None


def _x(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}x"


def _verdict_rows(meta: dict[str, Any]) -> list[list[str]]:
    return [[v["claim"], _x(v["ratio"]), _x(v["paper_ratio"]), v["outcome"]] for v in meta.get("verdicts", [])]


def _quick(meta: dict[str, Any]) -> str:
    return " **(quick run: not a result)**" if meta.get("settings", {}).get("quick") else ""


def platform_section(folder: Path) -> list[str]:
    """The markdown of one platform folder (empty when it holds no results)."""
    metas = {n: _meta(folder, n) for n in ("guidelines", "units", "networks", "predictor")}
    if not any(metas.values()):
        return []
    first = next(m for m in metas.values() if m)  # the predictor's, only when there is nothing else
    paper = "GTX 1080Ti" if first.get("paper_device") == "gpu-1080ti" else "Snapdragon 810 (ARM, 1 thread)"
    lines = [f"## {folder.name}: {first['source']}", "", machine_line(first), ""]
    g = metas["guidelines"]
    if g:
        lines += [f"### Guidelines (Tables 1-4), speed ratios here vs the paper's {paper}{_quick(g)}", "",
                  markdown_table(["claim", "here", "paper", "outcome"], _verdict_rows(g)), ""]
    u = metas["units"]
    if u:
        lines += [f"### Ten stacked units at equal FLOPs (Appendix Table 1b): ShuffleNet v2 vs the fastest other "
                  f"unit{_quick(u)}", "", markdown_table(["column", "here", "paper", "outcome"],
                                                         [[r[0].split("(")[-1].rstrip(")"), *r[1:]]
                                                          for r in _verdict_rows(u)]), ""]
    n = metas["networks"]
    if n:
        rho = n.get("rank_correlations", [])
        lines += [f"### Table 8 networks: Spearman ρ of latency with FLOPs / MAC{_quick(n)}", "",
                  markdown_table(["level", "networks", "ρ FLOPs", "ρ MAC", "slowest / fastest"],
                                 [[r["level"], r["networks"], f"{r['spearman_flops']:+.2f}",
                                   f"{r['spearman_mac']:+.2f}", f"{r['latency_spread']:.2f}x"] for r in rho]), ""]
        summary = folder / "networks-summary.csv"
        if summary.is_file():
            s = pd.read_csv(summary)
            fastest = s.loc[s.groupby("group", sort=False)["latency_ms"].idxmin(), ["group", "config"]]
            lines += ["Fastest network per level: " + "; ".join(f"{g}: {c}" for g, c in fastest.itertuples(False, None))
                      + ".", ""]
    p = metas["predictor"]
    summary = folder / "predictor-summary.csv"
    if p and summary.is_file():
        s = pd.read_csv(summary)
        lines += [f"### Latency predictors{_quick(p)}", "",
                  markdown_table(["predictor", "networks", "RMSPE", "within ±10%", "Spearman ρ"],
                                 [[r.kind, r.networks, f"{r.rmspe:.1%}", f"{r.within_10pct:.1%}", f"{r.spearman:.3f}"]
                                  for r in s.itertuples()]), ""]
    return lines


def write_summary(results: str | Path = RESULTS_ROOT, out: str | Path | None = None) -> Path:
    """Write <results>/SUMMARY.md (or `out`) from every platform folder under `results`; returns its path."""
    root = Path(results)
    if not root.is_dir():
        raise ExperimentError(f"no results folder {root} (run `nas experiment run NAME --platform P` first)")
    folders = sorted((p for p in root.iterdir() if p.is_dir()),
                     key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name))
    lines = ["# The paper's claims re-run on other platforms", "",
             "Speeds are compared as ratios (a configuration's speed over another's in the same column of the paper's "
             "table), so different hardware compares; `here` is this platform, `paper` the same ratio of the paper's "
             "published speeds. Outcome: holds (ratio above 1 + 3%), no clear effect (within ±3%) or reversed.", ""]
    body = [line for f in folders for line in platform_section(f)]
    if not body:
        raise ExperimentError(f"{root} holds no experiment results")
    path = Path(out) if out else root / "SUMMARY.md"
    try:
        path.write_text("\n".join(lines + body).rstrip() + "\n")
    except OSError as exc:
        raise ExperimentError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path

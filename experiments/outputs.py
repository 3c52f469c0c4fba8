"""What a run leaves behind: <name>.csv (raw), <name>-summary.csv, <name>.html (plotly), <name>.md, <name>.meta.json."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from experiments.compare import Verdict
from search_space.errors import UserError


@dataclass
class ExperimentResult:
    """One run's tables, figure, markdown, verdicts and metadata (machine, platform, settings, choices)."""

    name: str
    raw: pd.DataFrame
    summary: pd.DataFrame
    markdown: str
    figure: Any = None  # a plotly figure
    verdicts: Sequence[Verdict] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready digest: files written, verdicts, metadata and the summary rows."""
        return {"experiment": self.name, "files": {k: str(v) for k, v in self.files.items()},
                "verdicts": [v.to_dict() for v in self.verdicts], "meta": _plain(self.meta),
                "summary": _plain(self.summary.to_dict(orient="records"))}


def _plain(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN to None."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


#: How the HTML figure gets plotly.js: "inline" (each file self-contained, ~4.8 MB), "directory" (one
#: plotly.min.js next to the files, which load it by relative path: the folder works offline as a whole) or
#: "cdn" (a link to plotly's CDN: small files, for results committed to a repository; viewing needs a network).
PLOTLYJS = ("inline", "directory", "cdn")


def write_outputs(result: ExperimentResult, out_dir: str | Path, plotlyjs: str = "inline") -> dict[str, Path]:
    """Write every output of `result` into `out_dir` (created); returns {kind: path}."""
    if plotlyjs not in PLOTLYJS:
        raise UserError(f"plotly.js mode {plotlyjs!r} not one of {', '.join(PLOTLYJS)}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = {"raw": out / f"{result.name}.csv", "summary": out / f"{result.name}-summary.csv",
                 "markdown": out / f"{result.name}.md", "meta": out / f"{result.name}.meta.json"}
        _atomic_write(files["raw"], result.raw.to_csv(index=False, float_format="%.6g"))
        _atomic_write(files["summary"], result.summary.to_csv(index=False, float_format="%.6g"))
        _atomic_write(files["markdown"], result.markdown.rstrip() + "\n")
        meta = {**result.meta, "verdicts": [v.to_dict() for v in result.verdicts],
                "files": {k: p.name for k, p in files.items()}}
        if result.figure is not None:
            files["html"] = out / f"{result.name}.html"
            meta["files"]["html"] = files["html"].name
            result.figure.write_html(str(files["html"]), include_plotlyjs=True if plotlyjs == "inline" else plotlyjs,
                                     full_html=True)
        _atomic_write(files["meta"], json.dumps(_plain(meta), indent=2, sort_keys=True, default=str) + "\n")
    except OSError as exc:
        raise UserError(f"cannot write results to {out}: {exc.strerror or exc}") from None
    result.files = files
    return files


def plotly() -> tuple[Any, Any]:
    """(plotly.graph_objects, plotly.subplots.make_subplots), or a one-line error saying how to install plotly."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise UserError("experiment figures need plotly: pip install plotly") from None
    return go, make_subplots


def relative_speed_figure(summary: pd.DataFrame, tables: Sequence[str], title: str, paper_label: str,
                          here_label: str) -> Any:
    """One panel per table: grouped bars of speed relative to the group's first row, here vs the paper."""
    go, make_subplots = plotly()
    tables = [t for t in tables if (summary["table"] == t).any()]
    fig = make_subplots(rows=len(tables), cols=1, subplot_titles=tables, vertical_spacing=0.35 / max(1, len(tables)))
    for i, table in enumerate(tables, start=1):
        part = summary[summary["table"] == table]
        x = [part["group"].tolist(), part["config"].tolist()]
        fig.add_trace(go.Bar(x=x, y=part["speed_rel"], name=here_label, marker_color="#1f77b4", showlegend=i == 1,
                             legendgroup="here",
                             text=[f"{ms:.3g} ms" for ms in part["latency_ms"]],
                             hovertemplate="%{x}<br>speed rel. %{y:.3f}<br>%{text}<extra>" + here_label + "</extra>"),
                      row=i, col=1)
        if part["paper_speed_rel"].notna().any():
            fig.add_trace(go.Bar(x=x, y=part["paper_speed_rel"], name=paper_label, marker_color="#ff7f0e",
                                 showlegend=i == 1, legendgroup="paper",
                                 hovertemplate="%{x}<br>speed rel. %{y:.3f}<extra>" + paper_label + "</extra>"),
                          row=i, col=1)
        fig.add_hline(y=1.0, line_dash="dot", line_color="gray", row=i, col=1)
        fig.update_yaxes(title_text="speed / first row", row=i, col=1)
    fig.update_layout(title=title, barmode="group", template="plotly_white", height=320 * len(tables) + 120)
    return fig

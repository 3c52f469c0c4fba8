"""Predicted-vs-measured figures (plotly, one self-contained HTML file that works offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from search_space.errors import UserError


def predicted_vs_measured_figure(measured: np.ndarray, predictions: Mapping[str, np.ndarray], labels: Sequence[str],
                                 title: str) -> Any:
    """Scatter of each predictor's predictions (ms) against measured latency (ms), with y = x and a ±10% band."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise UserError("latency figures need plotly: pip install plotly") from None
    m = np.asarray(measured, dtype=float)
    line = np.array([float(m.min()) * 0.8, float(m.max()) * 1.2])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=line, y=line * 1.1, mode="lines", line=dict(width=0), showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=line, y=line * 0.9, mode="lines", line=dict(width=0), fill="tonexty",
                             fillcolor="rgba(120,120,120,0.15)", name="±10%", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=line, y=line, mode="lines", line=dict(color="gray", dash="dash"), name="y = x"))
    for name, pred in predictions.items():
        p = np.asarray(pred, dtype=float)
        fig.add_trace(go.Scatter(x=m, y=p, mode="markers", name=name,
                                 text=[f"{lab}<br>error {e:+.1%}" for lab, e in zip(labels, p / m - 1)],
                                 hovertemplate="measured %{x:.3f} ms<br>predicted %{y:.3f} ms<br>%{text}"))
    fig.update_layout(title=title, xaxis_title="measured latency (ms)", yaxis_title="predicted latency (ms)",
                      xaxis_type="log", yaxis_type="log", template="plotly_white")
    return fig


def predicted_vs_measured_html(path: str | Path, measured: np.ndarray, predictions: Mapping[str, np.ndarray],
                               labels: Sequence[str], title: str) -> Path:
    """`predicted_vs_measured_figure` as one self-contained HTML file."""
    fig = predicted_vs_measured_figure(measured, predictions, labels, title)
    path = Path(path)
    try:
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path

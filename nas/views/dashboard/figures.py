"""Plotly figures of a study: Pareto front with budget and reference networks, hypervolume over trials, one
trial's architecture grid and latency by stage, predicted vs measured latency.

Every string that comes from a study (names, attributes) is HTML-escaped before it reaches a figure: plotly
renders a subset of HTML in titles, hover labels and text.
"""

from __future__ import annotations

import html
import re
import textwrap
from typing import Any

from nas.views.dashboard.data import StudyData, TrialRow
from nas.views.dashboard.detail import TrialDetail

COLORS = {"pareto": "#1f5fbf", "dominated": "#9a9a9a", "over budget": "#d62728", "rejected": "#ff9f1c",
          "reference": "#2a2a2a", "budget": "#c0392b", "selected": "#00a86b"}
SYMBOLS = {"predicted": "circle", "measured": "diamond"}
VARIANT_COLORS = {"v2": "#8ecae6", "v2_star": "#ffb703", "xception": "#b5e48c"}
FAMILY_LABELS = {"shufflenet_v2": "ShuffleNet v2", "shufflenet_v1": "ShuffleNet v1 (g=3)",
                 "mobilenet_v1": "MobileNet v1", "mobilenet_v2": "MobileNet v2", "xception": "Xception-like",
                 "densenet": "DenseNet", "igcv2": "IGCV2", "igcv3_d": "IGCV3-D", "condensenet": "CondenseNet",
                 "nasnet_a": "NASNet-A", "pnasnet_5": "PNASNet-5"}
REJECTED_BAND = "rejected (not trained)"


def esc(text: Any) -> str:
    """HTML-escaped text for plotly labels."""
    return html.escape(str(text), quote=True)


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def empty_figure(message: str, height: int = 260) -> Any:
    """A blank figure that says why it is blank."""
    go = _go()
    fig = go.Figure()
    fig.add_annotation(text=esc(message), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 13, "color": "#555"})
    fig.update_layout(height=height, xaxis={"visible": False}, yaxis={"visible": False}, template="plotly_white",
                      margin={"l": 20, "r": 20, "t": 30, "b": 20})
    return fig


def value_text(value: float | None) -> str:
    """0.8123 for an accuracy, 3.795e+28 for a proxy score."""
    if value is None:
        return "-"
    return f"{value:.4f}" if 0.0 <= value <= 1.0 else f"{value:.3e}"


def latency_text(r: TrialRow) -> str:
    """'21.96 ms predicted (±9% RMSPE)' or '20.1 ms measured (predicted 21.9)'."""
    if r.latency_ms is None:
        return "-"
    if r.latency_kind == "measured":
        return f"{r.latency_ms:.2f} ms measured (predicted {r.predicted_ms or 0.0:.2f})"
    err = f" (±{r.predictor_error_rmspe * 100:.0f}% RMSPE)" if r.predictor_error_rmspe is not None else ""
    return f"{r.latency_ms:.2f} ms predicted{err}"


def reference_tag(name: str) -> str:
    """A short label of a reference network: 'shufflenet_v2_x2_0_se' -> '2.0x SE'."""
    m = re.search(r"_x(\d+)_(\d+)(.*)$", name)
    if not m:
        return name
    rest = m.group(3).replace("_", " ").strip().upper()
    return f"{m.group(1)}.{m.group(2)}x" + (f" {rest}" if rest else "")


def _hover(r: TrialRow, metric: str) -> str:
    return (f"trial {r.number} · {esc(r.arch_id)}<br>{esc(metric)}: {value_text(r.value)}<br>"
            f"latency: {esc(latency_text(r))}<br>{r.flops_m or 0:.1f} MFLOPs · {r.params_m or 0:.2f} M params"
            f"<br>{esc(r.category)}")


def _log_values(data: StudyData) -> bool:
    vals = [r.value for r in data.evaluated() if r.value is not None]
    return not data.is_accuracy and bool(vals) and min(vals) > 0 and max(vals) / min(vals) > 1e3


def pareto_figure(data: StudyData, selected: int | None = None, height: int = 640) -> Any:
    """Value vs latency: Pareto members, dominated and over-budget trials (symbol: measured / predicted), the
    budget line, and a band below for trials rejected before training and the hand-designed references."""
    from plotly.subplots import make_subplots

    go = _go()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.03)
    evaluated = data.evaluated()
    for cat in ("dominated", "over budget", "pareto"):
        for kind in ("predicted", "measured"):
            pts = [r for r in evaluated if r.category == cat and r.latency_kind == kind]
            if not pts:
                continue
            name = {"pareto": "Pareto front, within budget", "dominated": "dominated",
                    "over budget": "over budget"}[cat] + f" ({kind} latency)"
            fig.add_trace(go.Scatter(
                x=[r.latency_ms for r in pts], y=[r.value for r in pts], mode="markers", name=name,
                marker={"color": COLORS[cat], "symbol": SYMBOLS[kind], "size": 11 if cat == "pareto" else 8,
                        "line": {"width": 1, "color": "white"}},
                customdata=[[r.number, esc(r.arch_id)] for r in pts], text=[_hover(r, data.metric) for r in pts],
                hovertemplate="%{text}<extra></extra>"), row=1, col=1)
    front = sorted((r for r in evaluated if r.category == "pareto"), key=lambda r: r.latency_ms or 0.0)
    if len(front) > 1:
        fig.add_trace(go.Scatter(x=[r.latency_ms for r in front], y=[r.value for r in front], mode="lines",
                                 line={"shape": "hv", "color": COLORS["pareto"], "width": 1.5, "dash": "dot"},
                                 hoverinfo="skip", showlegend=False), row=1, col=1)
    if selected is not None:
        sel = data.row(selected)
        if sel is not None and sel.value is not None and sel.latency_ms is not None:
            fig.add_trace(go.Scatter(x=[sel.latency_ms], y=[sel.value], mode="markers", name=f"trial {sel.number}",
                                     marker={"size": 20, "symbol": "circle-open", "color": COLORS["selected"],
                                             "line": {"width": 3}}, hoverinfo="skip"), row=1, col=1)
    rejected = [r for r in data.rows if r.category == "rejected" and r.latency_ms is not None]
    if rejected:
        fig.add_trace(go.Scatter(
            x=[r.latency_ms for r in rejected], y=[REJECTED_BAND] * len(rejected), mode="markers",
            name=("rejected: predicted over budget, not trained" if data.budget.is_latency else
                  "rejected: over the FLOPs budget, not trained"), marker={"symbol": "x-thin", "size": 9,
                                                                        "color": COLORS["rejected"],
                                                                        "line": {"width": 2,
                                                                                 "color": COLORS["rejected"]}},
            customdata=[[r.number, esc(r.arch_id)] for r in rejected],
            text=[f"trial {r.number} · {esc(r.arch_id)}<br>{esc(latency_text(r))}<br>rejected before training"
                  for r in rejected], hovertemplate="%{text}<extra></extra>"), row=2, col=1)
    scored = [r for r in data.references if r.value is not None]
    if scored:  # evaluated by the study with its own evaluator: on the same accuracy axis as the front
        fig.add_trace(go.Scatter(
            x=[r.latency_ms for r in scored], y=[r.value for r in scored], mode="markers+text",
            name="hand-designed networks (same evaluator)",
            marker={"symbol": "star", "size": 13, "color": COLORS["reference"]},
            text=[esc(reference_tag(r.name)) for r in scored], textposition="top center", textfont={"size": 10},
            customdata=[[r.trial, esc(r.name)] for r in scored],
            hovertext=[f"{esc(r.name)} (trial {r.trial})<br>{esc(data.metric)}: {value_text(r.value)}<br>"
                       f"{r.latency_ms:.2f} ms {r.latency_kind}<br>evaluated with the study's evaluator"
                       for r in scored], hovertemplate="%{hovertext}<extra></extra>"), row=1, col=1)
    if [r for r in data.references if r.value is None]:
        refs = [r for r in data.references if r.value is None]
        fig.add_trace(go.Scatter(
            x=[r.latency_ms for r in refs], y=[FAMILY_LABELS.get(r.family, r.family) for r in refs],
            mode="markers+text", name="hand-designed networks (latency only)",
            marker={"symbol": "star", "size": 11, "color": COLORS["reference"]},
            text=[esc(reference_tag(r.name)) for r in refs], textposition="top center",
            textfont={"size": 9}, customdata=[[None, esc(r.name)] for r in refs],
            hovertext=[f"{esc(r.name)}<br>{r.latency_ms:.2f} ms predicted{' (extrapolated)' if r.extrapolates else ''}"
                       f"<br>paper: {r.paper_mflops or '-'} MFLOPs, top-1 err {r.paper_top1_err or '-'}% (ImageNet)"
                       f"<br>no accuracy on this proxy task" for r in refs],
            hovertemplate="%{hovertext}<extra></extra>"), row=2, col=1)
    lat = [r.latency_ms for r in evaluated + rejected if r.latency_ms is not None]
    budget_ms = data.budget_ms  # a latency budget is a line on the latency axis; a FLOPs budget is in the title
    x_max = max(([budget_ms * 1.3] if budget_ms is not None else [1.0]) + [v * 1.05 for v in lat])
    beyond = [r for r in data.references if r.latency_ms > x_max]
    if budget_ms is not None:
        fig.add_vline(x=budget_ms, line={"color": COLORS["budget"], "dash": "dash", "width": 2}, row="all", col=1)
        fig.add_annotation(x=budget_ms, y=1.0, xref="x", yref="paper", text=f"budget {budget_ms:g} ms",
                           showarrow=False, xanchor="left", yanchor="bottom", font={"color": COLORS["budget"]})
    p = data.profile
    note = (f"★ references: {len(scored)} evaluated by this study with its own evaluator (on the accuracy axis); "
            f"the others (not chosen for this budget, or of a family its evaluator does not score) have no accuracy on "
            f"the proxy task, so are placed on the latency axis only; {p.label()}, at "
            f"{data.config.resolution}px / {data.num_classes} classes like the candidates" if p else data.profile_note)
    if beyond:
        note += f"; {len(beyond)} beyond {x_max:.0f} ms (zoom out)"
    fig.add_annotation(text="<br>".join(esc(line) for line in textwrap.wrap(note, 140)), x=0, y=-0.15, xref="paper",
                       yref="paper", showarrow=False, xanchor="left", yanchor="top", align="left",
                       font={"size": 10, "color": "#555"})
    platform = data.rows[0].platform if data.rows else data.config.platform
    runtime = next((r.runtime for r in data.rows if r.runtime), "")
    flops = "" if data.budget.is_latency else (f" · FLOPs budget {esc(data.budget.label())} (within it: Pareto and "
                                               f"dominated; latency shown, not bounded)")
    title = (f"{esc(data.metric)} vs latency on {esc(platform)} ({esc(runtime)}): study {esc(data.study)}{flops}"
             f"<br><sup>● predicted latency · ◆ measured · ✕ rejected before training · ★ reference network</sup>")
    fig.update_layout(title={"text": title, "x": 0.01}, template="plotly_white", height=height,
                      legend={"orientation": "h", "y": -0.24, "x": 0, "yanchor": "top"},
                      margin={"l": 70, "r": 20, "t": 70, "b": 150},
                      clickmode="event", hovermode="closest", uirevision=data.study)
    fig.update_xaxes(range=[0, x_max], row=1, col=1)
    fig.update_xaxes(range=[0, x_max], title_text=f"latency (ms), {esc(data.config.platform)}, "
                     f"{data.config.resolution}px input", row=2, col=1)
    fig.update_yaxes(title_text=esc(data.metric) + (" (log)" if _log_values(data) else ""),
                     type="log" if _log_values(data) else "linear", row=1, col=1)
    fig.update_yaxes(type="category", row=2, col=1, tickfont={"size": 9})
    return fig


def hypervolume_figure(data: StudyData, height: int = 320) -> Any:
    """Hypervolume of the within-budget Pareto front after each trial (reference: value floor, budget)."""
    if not data.hypervolume:
        return empty_figure("no finished trials yet", height)
    go = _go()
    xs, ys = zip(*data.hypervolume)
    ref_v, ref_l = data.hv_reference
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", line={"shape": "hv", "color": COLORS["pareto"]},
                               marker={"size": 4}, name="hypervolume",
                               hovertemplate="after trial %{x}: %{y:.4g}<extra></extra>"))
    what = "budget" if data.budget.is_latency else "1.1x the slowest evaluated; the budget is in FLOPs"
    fig.update_layout(title={"text": f"Hypervolume over trials<br><sup>{esc(data.metric)} × ms dominated by the "
                             f"front, reference point ({value_text(ref_v)}, {ref_l:.4g} ms = {what})</sup>",
                             "x": 0.01},
                      template="plotly_white", height=height, xaxis_title="trial", yaxis_title="hypervolume",
                      margin={"l": 70, "r": 20, "t": 70, "b": 50}, showlegend=False, uirevision=data.study)
    if not data.is_accuracy:
        fig.update_yaxes(exponentformat="e")
    return fig


def architecture_figure(detail: TrialDetail, height: int | None = None) -> Any:
    """A grid of cells, one per unit (rows: stages; colour: variant; text: kernel, split ratio, SE, residual)."""
    if not detail.units:
        return empty_figure(detail.spec_error or "no unit-level architecture to show")
    go = _go()
    stages = sorted({u.stage for u in detail.units})
    depth = max(u.index for u in detail.units) + 1
    variants = list(VARIANT_COLORS)
    z: list[list[float | None]] = [[None] * depth for _ in stages]
    text: list[list[str]] = [[""] * depth for _ in stages]
    hover: list[list[str]] = [[""] * depth for _ in stages]
    labels = []
    for s in stages:
        units = [u for u in detail.units if u.stage == s]
        labels.append(f"{units[0].stage_name}: {units[0].width} ch")
        for u in units:
            z[s][u.index] = variants.index(u.variant) if u.variant in variants else None
            text[s][u.index] = esc(u.short()).replace(" ", "<br>")
            hover[s][u.index] = (f"{esc(u.stage_name)} unit {u.index}{' (down-sampling)' if u.index == 0 else ''}"
                                 f"<br>variant {esc(u.variant)}, {u.kernel}x{u.kernel} depthwise<br>split ratio "
                                 f"c'/c = {u.split_ratio:g}<br>SE: {'yes' if u.se else 'no'} · residual: "
                                 f"{'yes' if u.residual else 'no'}<br>width {u.width}, stride {u.stride}")
    n = len(variants)
    scale = []
    for i, v in enumerate(variants):
        scale += [[i / n, VARIANT_COLORS[v]], [(i + 1) / n, VARIANT_COLORS[v]]]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont={"size": 11}, hovertext=hover,
                               hovertemplate="%{hovertext}<extra></extra>", colorscale=scale, zmin=-0.5,
                               zmax=n - 0.5, xgap=3, ygap=3, y=labels, x=[f"unit {i}" for i in range(depth)],
                               colorbar={"tickvals": list(range(n)), "ticktext": variants, "title": "variant",
                                         "len": 0.9}))
    spec = detail.spec
    stem = "/".join(str(w) for w in getattr(spec, "stem", ())) or "-"
    head = getattr(spec, "head_width", "-")
    fig.update_layout(title={"text": f"trial {detail.row.number} · {esc(detail.row.arch_id)}<br><sup>stem {stem} → "
                             f"{len(stages)} stages → head {head} · cell: kernel, split c'/c, SE, R = residual"
                             f"</sup>", "x": 0.01},
                      template="plotly_white", height=height or 140 + 95 * len(stages),
                      yaxis={"autorange": "reversed"}, margin={"l": 110, "r": 20, "t": 70, "b": 30})
    return fig


def breakdown_figure(detail: TrialDetail, height: int = 380) -> Any:
    """Predicted latency per stage (bars), labelled with the profile; the measured total where there is one."""
    if not detail.breakdown_ms:
        return empty_figure(f"no per-stage breakdown: {detail.breakdown_label}", height)
    go = _go()
    stages = list(detail.breakdown_ms)
    ms = [detail.breakdown_ms[s] for s in stages]
    hover = []
    for s, v in zip(stages, ms):
        c = detail.cost_by_stage.get(s)
        extra = f"<br>{c['flops_m']:.1f} MFLOPs · {c['mac_m']:.2f} M MAC" if c else ""
        hover.append(f"{esc(s)}: {v:.2f} ms predicted{extra}")
    fig = go.Figure(go.Bar(x=ms, y=stages, orientation="h", marker={"color": COLORS["pareto"]}, hovertext=hover,
                           hovertemplate="%{hovertext}<extra></extra>", text=[f"{v:.2f}" for v in ms],
                           textposition="auto"))
    r = detail.row
    total = sum(ms)
    sub = f"total {total:.2f} ms predicted"
    if r.measured_ms is not None:
        sub += f" · measured {r.measured_ms:.2f} ms on the device (stored predicted {r.predicted_ms or 0.0:.2f} ms)"
    label = "<br>".join(esc(line) for line in textwrap.wrap(detail.breakdown_label, 80))
    fig.update_layout(title={"text": f"Latency by stage<br><sup>{label}<br>{sub}</sup>",
                             "x": 0.01},
                      template="plotly_white", height=height, xaxis_title="ms (predicted)",
                      yaxis={"autorange": "reversed"}, margin={"l": 80, "r": 20, "t": 140, "b": 40})
    return fig


def predictor_figure(data: StudyData, height: int = 340) -> Any:
    """Predicted vs measured latency of the trials measured on the device, with the y = x line."""
    pts = [r for r in data.rows if r.measured_ms is not None and r.predicted_ms is not None]
    if not pts:
        return empty_figure(f"no measured latencies in this study: every latency of {data.config.platform} is "
                            f"predicted (the platform is measured only where it runs)", height)
    go = _go()
    import math

    errs = [(r.predicted_ms - r.measured_ms) / r.measured_ms for r in pts if r.measured_ms]
    rmspe = math.sqrt(sum(e * e for e in errs) / len(errs)) if errs else float("nan")
    lo = min(min(r.predicted_ms for r in pts), min(r.measured_ms for r in pts)) * 0.9
    hi = max(max(r.predicted_ms for r in pts), max(r.measured_ms for r in pts)) * 1.1
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": "#999", "dash": "dash"},
                             name="predicted = measured", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[r.predicted_ms for r in pts], y=[r.measured_ms for r in pts], mode="markers",
                             marker={"color": COLORS["pareto"], "symbol": "diamond", "size": 10},
                             customdata=[[r.number, esc(r.arch_id)] for r in pts], name="measured trials",
                             hovertemplate="trial %{customdata[0]} · %{customdata[1]}<br>predicted %{x:.2f} ms"
                                           "<br>measured %{y:.2f} ms<extra></extra>"))
    fig.update_layout(title={"text": f"Predictor quality on {esc(data.config.platform)}<br><sup>{len(pts)} trials "
                             f"measured on the device; RMSPE {rmspe * 100:.1f}% here</sup>", "x": 0.01},
                      template="plotly_white", height=height, xaxis_title="predicted latency (ms)",
                      yaxis_title="measured latency (ms)", margin={"l": 70, "r": 20, "t": 70, "b": 50})
    return fig

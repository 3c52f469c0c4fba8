"""`networks`: the Table 8 networks at the four complexity levels (about 40, 140, 300 and 500+ MFLOPs).

All of Table 8: ShuffleNet v2, MobileNet v1 / v2, ShuffleNet v1, Xception, DenseNet, IGCV2, IGCV3-D, CondenseNet
and the two searched networks NASNet-A and PNASNet-5 (Table 8's bottom section, in the 500+ level).

Per network: MFLOPs (the paper's and this package's count), parameters, memory access cost, latency and the
speed relative to ShuffleNet v2 of the same level; per level and overall: the Spearman rank correlation of
FLOPs (and of MAC) with latency, i.e. how well FLOPs order networks by speed. Table 8's speed columns are
withheld from the paper copy except ShuffleNet v2 1x (GPU 341 batches/s, ARM 24.4 images/s), which is
shown; section 4's speed claims at 500+ MFLOPs on GPU (ShuffleNet v2 58% faster than MobileNet v2, 63% than
ShuffleNet v1, 25% than Xception) are shown as the paper's ratios.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.compare import SPEED_NOTE, comparison_markdown, markdown_table, summarize
from experiments.config import ExperimentConfig, ExperimentError
from experiments.context import Context, machine_line, run_meta
from experiments.outputs import ExperimentResult, plotly
from experiments.target import Target
from experiments.timing import Item, run_items
from latency_models.evaluate import spearman
from latency_models.paper import published_rows
from search_space.references import NETWORKS, ReferenceNet

TABLE = "Table 8"
LEVELS = (("40M", 90.0), ("140M", 220.0), ("300M", 450.0), ("500M+", float("inf")))
FAMILY_ORDER = ("shufflenet_v2", "mobilenet_v1", "mobilenet_v2", "shufflenet_v1", "xception", "densenet", "igcv2",
                "igcv3_d", "condensenet", "nasnet_a", "pnasnet_5")
ANCHOR = "shufflenet_v2_x1_0"
#: Section 4 (GPU, 500+ MFLOPs): "ShuffleNet v2 is 58% faster than MobileNet v2, 63% faster than ShuffleNet v1
#: and 25% faster than Xception" -> speed of each relative to ShuffleNet v2 2x.
PAPER_TEXT_GPU_500M = {"mobilenet_v2_x1_4": 1 / 1.58, "shufflenet_v1_g3_x2_0": 1 / 1.63, "xception_x2_0": 1 / 1.25}
ARM_TEXT = ("On ARM the paper reports that ShuffleNet v1, Xception and ShuffleNet v2 are comparable in speed and "
            "MobileNet v2 is much slower, especially at small FLOPs (section 4; no numbers besides the 1x anchor).")


def level_of(mflops: float) -> str:
    """The Table 8 complexity level of a network of `mflops` (the paper's count)."""
    return next(name for name, upper in LEVELS if mflops <= upper)


@dataclass(frozen=True)
class _Net:
    ref: ReferenceNet
    level: str
    order: tuple[int, int, float]


def reference_networks(max_mflops: float) -> list[_Net]:
    """The registered Table 8 networks up to `max_mflops`, by level; ShuffleNet v2 first in each level."""
    nets = []
    for name, ref in NETWORKS.items():
        if ref.source != TABLE or ref.paper_mflops is None or ref.paper_mflops > max_mflops:
            continue
        fam = FAMILY_ORDER.index(ref.family) if ref.family in FAMILY_ORDER else len(FAMILY_ORDER)
        se = 1 if name.endswith("_se") else 0
        nets.append(_Net(ref, level_of(ref.paper_mflops), (se, fam, ref.paper_mflops)))
    levels = [name for name, _ in LEVELS]
    return sorted(nets, key=lambda n: (levels.index(n.level), n.order))


def build_items(config: ExperimentConfig, target: Target) -> list[Item]:
    """One item per Table 8 network, grouped by complexity level (at its own or the configured resolution)."""
    res = config.params.get("resolution")
    nets = reference_networks(float(config.param("max_mflops")))
    if not nets:
        raise ExperimentError("networks: no reference network within max_mflops")
    anchor = next(r for r in published_rows(target.paper_device) if r.table == TABLE)
    unit = "batches/s" if target.paper_device == "gpu-1080ti" else "images/s"
    items: list[Item] = []
    pos: dict[str, int] = {}
    for n in nets:
        spec = n.ref.spec()
        if res is not None:
            spec = spec.with_resolution(int(res))
        k = pos[n.level] = pos.get(n.level, -1) + 1
        paper_value = float(f"{1000.0 / anchor.latency_ms:.4g}") if n.ref.name == ANCHOR else None
        claim = PAPER_TEXT_GPU_500M.get(n.ref.name) if target.paper_device == "gpu-1080ti" else None
        items.append(Item(TABLE, n.level, n.ref.name, spec, k, whole=True, paper_value=paper_value,
                          paper_unit=unit, paper_batch=anchor.batch,
                          extra={"family": n.ref.family, "paper_mflops": n.ref.paper_mflops,
                                 "paper_top1_err": n.ref.paper_top1_err, "paper_text_speed_rel": claim}))
    return items


def rank_correlations(summary: pd.DataFrame) -> pd.DataFrame:
    """Spearman rho of FLOPs and of MAC with latency, per level and over all networks."""
    rows = []
    parts = [(lvl, summary[summary["group"] == lvl]) for lvl in summary["group"].drop_duplicates()]
    for name, part in parts + [("all", summary)]:
        lat = part["latency_ms"].to_numpy(float)
        rows.append({"level": name, "networks": len(part),
                     "spearman_flops": spearman(part["flops_m"].to_numpy(float), lat),
                     "spearman_mac": spearman(part["mac_m"].to_numpy(float), lat),
                     "spearman_params": spearman(part["params_m"].to_numpy(float), lat),
                     "latency_spread": float(lat.max() / lat.min()) if len(lat) else float("nan")})
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return "–" if x is None or np.isnan(x) else f"{x:+.2f}"


def markdown(ctx: Context, summary: pd.DataFrame, rho: pd.DataFrame, meta: dict) -> str:
    t = ctx.target
    res = ctx.config.params.get("resolution")
    lines = [f"# Reference networks at four complexity levels (paper Table 8) on {t.platform.name}", "",
             f"Platform: {t.platform.describe()}. Latencies: **{t.source}**.", "",
             f"Inputs: {'each network at its Table 8 resolution' if res is None else f'{res}x{res} (quick)'}; batch "
             f"{int(summary['batch'].iloc[0])}. {SPEED_NOTE}; here the first row of each level is ShuffleNet v2.", "",
             ctx.timing_line, "", machine_line(meta), "", "## FLOPs vs latency: Spearman rank correlation", "",
             "Within a level FLOPs are (nearly) equal by design, so a rho near 0 or negative means the small FLOPs "
             "differences do not order the networks by speed; overall the levels dominate.", ""]
    lines.append(markdown_table(
        ["level", "networks", "ρ(FLOPs, latency)", "ρ(MAC, latency)", "ρ(params, latency)", "slowest / fastest"],
        [[r["level"], r["networks"], _fmt(r["spearman_flops"]), _fmt(r["spearman_mac"]), _fmt(r["spearman_params"]),
          f"{r['latency_spread']:.2f}x"] for _, r in rho.iterrows()]))
    lines += ["", "## Networks", "",
              comparison_markdown(summary, TABLE, extra=[("paper MFLOPs", "paper_mflops", "g"),
                                                         ("params M", "params_m", ".2f"), ("MAC M", "mac_m", ".1f"),
                                                         ("top-1 err %", "paper_top1_err", "g")]),
              "", f"The paper's speed is given for {ANCHOR} only (Table 8's other speed columns are withheld in "
                  f"this copy of the paper); `paper rel.` is therefore 1 for it and empty elsewhere."]
    claims = summary[summary["paper_text_speed_rel"].notna()]
    if len(claims):
        lines += ["", "Section 4's GPU claims at 500+ MFLOPs (speed relative to ShuffleNet v2 2x):", ""]
        lines.append(markdown_table(["network", "here", "paper (text)"],
                                    [[r["config"], f"{r['speed_rel']:.3f}", f"{r['paper_text_speed_rel']:.3f}"]
                                     for _, r in claims.iterrows()]))
    if t.paper_device == "arm":
        lines += ["", ARM_TEXT]
    if ctx.settings.quick:
        lines += ["", "*Quick run (`--quick`): small inputs, few repeats; not a result.*"]
    return "\n".join(lines)


def figure(summary: pd.DataFrame, title: str) -> object:
    """Latency against MFLOPs, one line per family across the levels (log-log)."""
    go, _ = plotly()
    fig = go.Figure()
    for family, part in summary.groupby("family", sort=False):
        part = part.sort_values("flops_m")
        fig.add_trace(go.Scatter(x=part["flops_m"], y=part["latency_ms"], mode="lines+markers", name=family,
                                 text=[f"{c} ({g})" for c, g in zip(part["config"], part["group"])],
                                 hovertemplate="%{text}<br>%{x:.0f} MFLOPs<br>%{y:.3f} ms<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="MFLOPs (multiply-adds)", yaxis_title="latency (ms)",
                      xaxis_type="log", yaxis_type="log", template="plotly_white")
    return fig


def run(ctx: Context) -> ExperimentResult:
    """Time (or predict) every Table 8 network and rank-correlate FLOPs with latency."""
    cfg = ctx.config
    items = build_items(cfg, ctx.target)
    raw = run_items(ctx, items)
    summary = summarize(raw, items, ctx.target.paper_device)
    rho = rank_correlations(summary)
    meta = run_meta(ctx, rank_correlations=rho.to_dict(orient="records"))
    fig = figure(summary, f"Table 8 networks on {ctx.target.platform.name} ({ctx.target.source})")
    return ExperimentResult("networks", raw, summary, markdown(ctx, summary, rho, meta), fig, (), meta)

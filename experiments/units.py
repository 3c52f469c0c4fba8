"""`units`: ten stacked stride-1 units of ShuffleNet v2 / v1, MobileNet v2 and Xception at equal FLOPs
(Appendix Table 1b), at 56x56 and 28x28 with c = 64/128/256, next to the paper's speeds.

c is the ShuffleNet v2 unit's width; the other units' widths give each unit the FLOPs of that ShuffleNet v2
unit (search_space.microbench.equal_flops_width). Verdict per column: is the ShuffleNet v2 unit faster than
the fastest of the other three, and by how much.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from experiments.compare import SPEED_NOTE, Verdict, comparison_markdown, summarize, verdict
from experiments.config import ExperimentConfig, ExperimentError
from experiments.context import Context, machine_line, run_meta
from experiments.guidelines import PAPER_UNITS, paper_speed
from experiments.outputs import ExperimentResult, relative_speed_figure
from experiments.target import PAPER_DEVICES, Target
from experiments.timing import Item, run_items
from latency_models.paper import UNIT_FAMILY, published_rows
from search_space import microbench
from search_space.cost import cost

TABLE = "Appendix Table 1b"
REFERENCE = "ShuffleNet v2"


def build_items(config: ExperimentConfig, target: Target) -> list[Item]:
    """The configured (resolution, c) columns of Appendix Table 1b, the four units in each."""
    channels = [int(c) for c in config.param("channels")]
    resolutions = [int(r) for r in config.param("resolutions")]
    divisor = int(config.param("resolution_divisor"))
    if divisor < 1 or any(r % divisor for r in resolutions):
        raise ExperimentError(f"units: resolution_divisor {divisor} must divide every resolution {resolutions}")
    rows = [r for r in published_rows(target.paper_device) if r.table == TABLE]
    items: list[Item] = []
    for res in resolutions:
        for c in channels:
            members = [r for r in rows if r.spec.resolution == res and r.spec.c1 == c]
            if not members:
                raise ExperimentError(f"units: the paper has no row for c={c} at {res}x{res} "
                                      f"(it has c = 64/128/256 at 56x56 and 28x28)")
            group = f"{res}x{res} c={c}"
            ref_flops = cost(replace(members[0].spec, unit_family="shufflenet_v2")).flops_m
            for pos, r in enumerate(members):
                model = r.config.split(" c=")[0]
                spec = replace(r.spec, resolution=res // divisor)
                width = microbench.equal_flops_width(UNIT_FAMILY[model], c)
                items.append(Item(TABLE, group, model, spec, pos, paper_value=paper_speed(r.latency_ms),
                                  paper_unit=PAPER_UNITS[target.paper_device], paper_batch=r.batch,
                                  extra={"unit_width": width, "flops_vs_v2": cost(r.spec).flops_m / ref_flops}))
    return items


def verdicts(summary: pd.DataFrame, tolerance: float) -> list[Verdict]:
    """Per column: the ShuffleNet v2 unit against the fastest other unit here."""
    out = []
    for group in summary["group"].drop_duplicates():
        part = summary[(summary["group"] == group) & (summary["config"] != REFERENCE)]
        if part.empty:
            continue
        rival = part.loc[part["speed_per_s"].idxmax(), "config"]
        out.append(verdict(summary, f"ShuffleNet v2 unit fastest at equal FLOPs ({group})", TABLE, group, REFERENCE,
                           str(rival), tolerance))
    return out


def markdown(ctx: Context, summary: pd.DataFrame, found: list[Verdict], meta: dict) -> str:
    t = ctx.target
    lines = [f"# Ten stacked units at equal FLOPs (paper Appendix Table 1b) on {t.platform.name}", "",
             f"Platform: {t.platform.describe()}. Latencies: **{t.source}**.", "",
             f"Compared with: {PAPER_DEVICES[t.paper_device]}. {SPEED_NOTE}.", "",
             ctx.timing_line, "", machine_line(meta), "", "## Verdicts", ""]
    lines += [f"- {v.line()}" for v in found]
    lines += ["", f"## {TABLE}", "",
              comparison_markdown(summary, TABLE, extra=[("unit width", "unit_width", "d"),
                                                         ("FLOPs / v2", "flops_vs_v2", ".3f")]),
              "", "`unit width`: the channel count each unit runs at (c for ShuffleNet v2; the others chosen for "
                  "equal FLOPs, `FLOPs / v2` says how close).", "",
              f"- **units** (microbench.CHOICES): {microbench.CHOICES['units']}"]
    if ctx.settings.quick:
        lines += ["", "*Quick run (`--quick`): smaller inputs and fewer columns, few repeats; not a result.*"]
    return "\n".join(lines)


def run(ctx: Context) -> ExperimentResult:
    """Time (or predict) the four unit stacks in every configured column and compare with the paper."""
    cfg = ctx.config
    items = build_items(cfg, ctx.target)
    raw = run_items(ctx, items)
    summary = summarize(raw, items, ctx.target.paper_device)
    found = verdicts(summary, float(cfg.param("tolerance")))
    meta = run_meta(ctx, choices={"units": microbench.CHOICES["units"], "common": microbench.CHOICES["common"]})
    fig = relative_speed_figure(summary, [TABLE], f"Unit stacks on {ctx.target.platform.name} ({ctx.target.source}) "
                                f"vs the paper", f"paper: {PAPER_DEVICES[ctx.target.paper_device]}",
                                ctx.target.label)
    return ExperimentResult("units", raw, summary, markdown(ctx, summary, found, meta), fig, found, meta)

"""`guidelines`: the paper's G1-G4 micro-benchmarks (Tables 1-4) on a platform, next to the paper's numbers.

Every row of the four tables, built from the paper's own channel counts (the ARM ones by default, the GPU
ones on a GPU platform) by search_space.microbench; what the paper leaves open is microbench.CHOICES, which
the outputs repeat. Verdicts: G1 1:1 vs 1:12, G2 g=1 vs g=8, G3 1-fragment vs 4 fragments (parallel and
series), G4 ReLU and shortcut removed vs kept, for every column of each table.
"""

from __future__ import annotations

from dataclasses import replace

from experiments.compare import SPEED_NOTE, Verdict, comparison_markdown, summarize, verdict
from experiments.config import ExperimentConfig, ExperimentError
from experiments.context import Context, machine_line, run_meta
from experiments.outputs import ExperimentResult, relative_speed_figure
from experiments.target import PAPER_DEVICES, Target
from experiments.timing import Item, run_items
from latency_models.paper import published_rows
from search_space import microbench

TABLES = {"Table 1": "G1", "Table 2": "G2", "Table 3": "G3", "Table 4": "G4"}
PAPER_UNITS = {"arm": "images/s", "gpu-1080ti": "batches/s"}
#: Per guideline: (claim, faster config, slower config) compared in every group (column) of its table.
CLAIMS = {
    "Table 1": [("G1 equal channel width is fastest", "1:1", "1:12")],
    "Table 2": [("G2 fewer groups are faster", "g=1", "g=8")],
    "Table 3": [("G3 one fragment beats four in parallel", "1-fragment", "4-fragment-parallel"),
                ("G3 one fragment beats four in series", "1-fragment", "4-fragment-series")],
    "Table 4": [("G4 removing ReLU and shortcut speeds up", "relu=no;shortcut=no", "relu=yes;shortcut=yes")],
}


def paper_speed(latency_ms: float) -> float:
    """The paper's printed speed back from its latency (1000 / ms), to its 4 significant digits."""
    return float(f"{1000.0 / latency_ms:.4g}")


def build_items(config: ExperimentConfig, target: Target) -> list[Item]:
    """The rows of the configured tables for the target's paper device, grouped by the tables' columns."""
    tables = list(config.param("tables"))
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        raise ExperimentError(f"guidelines: unknown table {unknown[0]!r} (known: {', '.join(TABLES)})")
    res = int(config.param("resolution"))
    device = target.paper_device
    items: list[Item] = []
    for table in tables:
        rows = [r for r in published_rows(device) if r.table == table]
        groups = list(dict.fromkeys(r.config.rsplit(" ", 1)[1] for r in rows))
        if config.params.get("first_group_only"):
            groups = groups[:1]
        for group in groups:
            members = [r for r in rows if r.config.rsplit(" ", 1)[1] == group]
            for pos, r in enumerate(members):
                cfg = r.config.rsplit(" ", 1)[0]
                items.append(Item(table, group, cfg, replace(r.spec, resolution=res), pos,
                                  paper_value=paper_speed(r.latency_ms), paper_unit=PAPER_UNITS[device],
                                  paper_batch=r.batch, extra={"guideline": TABLES[table], "note": r.note}))
    return items


def verdicts(summary, tolerance: float) -> list[Verdict]:
    """Every claim of CLAIMS in every group present in the summary."""
    out = []
    for table, claims in CLAIMS.items():
        groups = summary.loc[summary["table"] == table, "group"].drop_duplicates()
        for claim, faster, slower in claims:
            for group in groups:
                out.append(verdict(summary, f"{claim} ({group})", table, group, faster, slower, tolerance))
    return out


def markdown(ctx: Context, summary, found: list[Verdict], meta: dict) -> str:
    t = ctx.target
    paper = PAPER_DEVICES[t.paper_device]
    lines = [f"# Guidelines G1-G4 (paper Tables 1-4) on {t.platform.name}", "",
             f"Platform: {t.platform.describe()}. Latencies: **{t.source}**.", "",
             f"Compared with: {paper}, using its channel counts. {SPEED_NOTE}.", "",
             ctx.timing_line, "", machine_line(meta), "", "## Verdicts", ""]
    lines += [f"- {v.line()}" for v in found]
    for table in summary["table"].drop_duplicates():
        lines += ["", f"## {table} ({TABLES[table]})", "",
                  comparison_markdown(summary, table, extra=[("MAC M", "mac_m", ".2f")])]
    lines += ["", "## How the networks are built (microbench.CHOICES)", ""]
    lines += [f"- **{k}**: {v}" for k, v in microbench.CHOICES.items()]
    notes = sorted({n for n in summary["note"] if isinstance(n, str) and n})
    if notes:
        lines += ["", "Notes on the paper's rows:", ""] + [f"- {n}" for n in notes]
    if ctx.settings.quick:
        lines += ["", f"*Quick run (`--quick`): {ctx.config.param('resolution')}x{ctx.config.param('resolution')} "
                      "inputs, first column of each table only, few repeats; not a result.*"]
    return "\n".join(lines)


def run(ctx: Context) -> ExperimentResult:
    """Build, time (or predict) and compare every configured row of Tables 1-4."""
    cfg = ctx.config
    items = build_items(cfg, ctx.target)
    raw = run_items(ctx, items)
    summary = summarize(raw, items, ctx.target.paper_device)
    found = verdicts(summary, float(cfg.param("tolerance")))
    meta = run_meta(ctx, choices=dict(microbench.CHOICES))
    fig = relative_speed_figure(summary, list(TABLES), f"G1-G4 on {ctx.target.platform.name} ({ctx.target.source}) "
                                f"vs the paper", f"paper: {PAPER_DEVICES[ctx.target.paper_device]}",
                                ctx.target.label)
    return ExperimentResult("guidelines", raw, summary, markdown(ctx, summary, found, meta), fig, found, meta)

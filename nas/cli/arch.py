"""`nas arch`: list, show, sample and lint architectures (registered names or spec JSON files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from nas.cli.common import console, emit_json, load_net
from search_space.cost import CostReport, cost
from search_space.errors import UserError
from search_space.references import NETWORKS
from search_space.spec import NetSpec

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Inspect architectures: registered networks, spec files, random samples, G1-G4 lint.")

LAYER_TABLE_WIDTH = 120  # characters: the per-layer table is never squeezed below this
REF_HELP = "A registered network name (see `nas arch list`) or a path to a spec JSON file."


def _opt(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


# ------------------------------------------------------------------------------------------------------ list
def network_rows() -> list[dict[str, Any]]:
    """One row per registered network: its cost at its own resolution and what the paper reports."""
    rows = []
    for name, ref in NETWORKS.items():
        spec = ref.spec()
        c = cost(spec)
        rows.append({"name": name, "family": ref.family, "arch_id": spec.arch_id, "resolution": spec.resolution,
                     "flops_m": round(c.flops_m, 3), "params_m": round(c.params_m, 4), "mac_m": round(c.mac_m, 3),
                     "paper_mflops": ref.paper_mflops, "paper_top1_err": ref.paper_top1_err, "source": ref.source})
    return rows


@app.command("list")
def list_(json_out: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table.")) -> None:
    """The registered reference networks with their MFLOPs, parameters and the paper's figures."""
    rows = network_rows()
    if json_out:
        emit_json(rows)
        return
    table = Table(title=f"{len(rows)} registered networks", box=None, pad_edge=False)
    widest = max((len(r["name"]) for r in rows), default=4)
    table.add_column("name", no_wrap=True, min_width=widest)
    table.add_column("family", no_wrap=True)
    for col in ("res", "MFLOPs", "params\nM", "paper\nMFLOPs", "paper\nerr %"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["name"], r["family"], str(r["resolution"]), f"{r['flops_m']:.1f}", f"{r['params_m']:.2f}",
                      _opt(r["paper_mflops"], "g"), _opt(r["paper_top1_err"], "g"))
    console().print(table)


# ------------------------------------------------------------------------------------------------------ show
def describe(spec: NetSpec, report: CostReport | None = None) -> dict[str, Any]:
    """The JSON view of one network: identity, cost totals, per-stage and per-layer breakdown, the spec."""
    c = report or cost(spec)
    ref = NETWORKS.get(spec.name) if spec.name in NETWORKS else None
    return {
        "name": spec.label(), "arch_id": spec.arch_id, "family": spec.family, "resolution": spec.resolution,
        "num_classes": spec.num_classes, "flops_m": c.flops_m, "params_m": c.params_m, "mac_m": c.mac_m,
        "fragments": c.fragments,
        "paper_mflops": ref.paper_mflops if ref else None, "paper_top1_err": ref.paper_top1_err if ref else None,
        "by_stage": c.by_stage(), "layers": [layer.as_row() for layer in c.layers], "spec": spec.to_dict(),
    }


@app.command()
def show(
    ref: str = typer.Argument(..., metavar="NAME|SPEC.json", help=REF_HELP),
    resolution: Optional[int] = typer.Option(None, "--resolution", "-r", help="Input resolution (pixels, square)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Classifier outputs."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    layers: bool = typer.Option(False, "--layers", help="Also print every layer."),
) -> None:
    """One network's cost: MFLOPs, parameters, MAC, fragments, per stage (and per layer with --layers)."""
    spec = load_net(ref, resolution, num_classes)
    d = describe(spec)
    if json_out:
        emit_json(d)
        return
    out = console()
    summary = Table(title=f"{d['name']} ({d['family']})", show_header=False)
    summary.add_column("field")
    summary.add_column("value", justify="right")
    for label, value in (("arch_id", d["arch_id"]), ("resolution", f"{d['resolution']}x{d['resolution']}"),
                         ("classes", str(d["num_classes"])), ("MFLOPs (multiply-adds)", f"{d['flops_m']:.2f}"),
                         ("params (M)", f"{d['params_m']:.3f}"), ("MAC (M elements)", f"{d['mac_m']:.2f}"),
                         ("fragments", str(d["fragments"])), ("layers", str(len(d["layers"])))):
        summary.add_row(label, value)
    if d["paper_mflops"] is not None or d["paper_top1_err"] is not None:
        summary.add_row("paper MFLOPs / top-1 err (%)",
                        f"{_opt(d['paper_mflops'], 'g')} / {_opt(d['paper_top1_err'], 'g')}")
    out.print(summary)
    stages = Table(title="per stage")
    for col in ("stage", "layers", "MFLOPs", "% FLOPs", "params (M)", "MAC (M)"):
        stages.add_column(col, justify="left" if col == "stage" else "right")
    total = d["flops_m"] or 1.0
    for stage, row in d["by_stage"].items():
        stages.add_row(stage, str(row["layers"]), f"{row['flops_m']:.2f}", f"{100 * row['flops_m'] / total:.1f}",
                       f"{row['params_m']:.3f}", f"{row['mac_m']:.2f}")
    out.print(stages)
    if layers:
        lt = Table(title="layers", box=None, pad_edge=False)
        for col in ("name", "kind", "cin", "cout", "in", "out", "k", "s", "g", "kFLOPs", "MAC"):
            lt.add_column(col, justify="left" if col in ("name", "kind") else "right", no_wrap=True)
        for r in d["layers"]:
            lt.add_row(r["name"], r["kind"], str(r["cin"]), str(r["cout"]), f"{r['h_in']}x{r['w_in']}",
                       f"{r['h_out']}x{r['w_out']}", str(r["kernel"]), str(r["stride"]), str(r["groups"]),
                       f"{r['flops'] / 1e3:.1f}", f"{r['mac']:,}")
        # one line per layer, even on a narrow terminal
        Console(highlight=False, width=max(out.width, LAYER_TABLE_WIDTH)).print(lt)


# ---------------------------------------------------------------------------------------------------- sample
@app.command()
def sample(
    n: int = typer.Option(1, "--n", "-n", help="How many architectures to draw (>= 1)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (>= 0); the same seed draws the same architectures."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Write one <arch_id>.json per architecture here."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """N random valid architectures from the default search space."""
    import numpy as np

    from search_space.space import SearchSpace

    if n < 1:
        raise UserError(f"bad --n {n}: must be at least 1")
    if seed < 0:
        raise UserError(f"bad --seed {seed}: must be a non-negative integer")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"bad --out {out_dir}: exists and is not a directory")
    rng = np.random.default_rng(seed)
    space = SearchSpace.default()
    specs = [space.sample(rng) for _ in range(n)]
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for spec in specs:
                (out_dir / f"{spec.arch_id}.json").write_text(spec.to_json(indent=2) + "\n")
        except OSError as exc:
            raise UserError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    rows = [{"arch_id": s.arch_id, "flops_m": cost(s).flops_m, "params_m": cost(s).params_m, "spec": s.to_dict()}
            for s in specs]
    if json_out:
        emit_json(rows)
        return
    table = Table(title=f"{n} architecture{'s' if n > 1 else ''} from the default space (seed {seed})")
    for col in ("arch_id", "res", "widths", "depths", "head", "MFLOPs", "params (M)"):
        table.add_column(col, justify="left" if col == "arch_id" else "right")
    for s, r in zip(specs, rows):
        table.add_row(s.arch_id, str(s.resolution), "/".join(str(st.width) for st in s.stages),
                      "/".join(str(st.depth) for st in s.stages), str(s.head_width), f"{r['flops_m']:.1f}",
                      f"{r['params_m']:.2f}")
    con = console()
    con.print(table)
    if out_dir is not None:
        con.print(f"wrote {n} spec file{'s' if n > 1 else ''} to {out_dir}")


# ------------------------------------------------------------------------------------------------------ lint
@app.command()
def lint(
    ref: str = typer.Argument(..., metavar="NAME|SPEC.json", help=REF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Check a network against the ShuffleNet V2 guidelines G1-G4 (balanced 1x1 convs, group convs,
    fragmentation, element-wise ops)."""
    from search_space.lint import lint as run_lint

    report = run_lint(load_net(ref))
    if json_out:
        emit_json(report.to_dict())
        return
    out = console()
    counts = Table(title=f"{report.name}: guideline findings")
    for col in ("guideline", "warn", "info"):
        counts.add_column(col, justify="left" if col == "guideline" else "right")
    for g, c in report.summary().items():
        counts.add_row(g, str(c["warn"]), str(c["info"]))
    out.print(counts)
    if report.findings:
        ft = Table(title="findings", box=None, pad_edge=False, show_lines=False)
        ft.add_column("G", no_wrap=True)
        ft.add_column("severity", no_wrap=True)
        ft.add_column("block", no_wrap=True)
        ft.add_column("finding")
        for f in sorted(report.findings, key=lambda f: (f.guideline, f.severity != "warn")):
            ft.add_row(f.guideline, f.severity, f.block, f.message)
        out.print(ft)
    s = report.stats
    out.print(f"max 1x1 c1:c2 {s['max_1x1_channel_ratio']:g}, group convs {s['group_convs']}, "
              f"max fragments/block {s['max_block_fragments']}, element-wise MAC share {s['eltwise_mac_share']:.0%}, "
              f"depthwise MAC share {s['dwconv_mac_share']:.0%}")

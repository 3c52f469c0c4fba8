"""`nas experiment list|run`: the paper's studies (guidelines, units, networks, predictor) on a platform."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from experiments.config import RunSettings
from experiments.context import load_average
from experiments.registry import EXPERIMENTS, list_experiments, run_experiment
from experiments.target import resolve_target
from nas.cli.common import ProgressBar, console, emit_json
from search_space.errors import UserError

#: A 1-minute load average above this (on the usable cores) means other work runs and disturbs timings.
BUSY_LOAD = 1.2

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Re-run the paper's studies on a platform: CSV + HTML figure + markdown next to the paper.")


@app.command("list")
def list_(json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout.")) -> None:
    """The experiments and what each one runs."""
    configs = list_experiments()
    if json_out:
        emit_json([c.to_dict() for c in configs])
        return
    table = Table(box=None, pad_edge=False)
    for col in ("experiment", "what", "rounds", "repeats"):
        table.add_column(col)
    for c in configs:
        table.add_row(c.name, c.title, str(c.rounds),
                      "platform's" if c.repeats is None else str(c.repeats))
    console().print(table)


@app.command("run")
def run(
    name: str = typer.Argument(..., help="Experiment name (see `nas experiment list`), or `all`."),
    platform: str = typer.Option(..., "--platform", "-p", help="cpu, cpu-torch, gpu (measured here) or arm, "
                                 "gpu-1080ti, a user platform (predicted by its profile)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder. Default: "
                                       "experiments/results/<platform>-<runtime> (cpu -> cpu-onnxruntime)."),
    repeats: Optional[int] = typer.Option(None, "--repeats", min=1, help="Timed runs per visit (default: config)."),
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, help="Rounds over each table (default: config)."),
    warmup: Optional[int] = typer.Option(None, "--warmup", min=0, help="Warm-up runs per visit (default: config)."),
    quick: bool = typer.Option(False, "--quick", help="Tiny setting: small inputs, few rows and repeats (a smoke "
                               "test, not a result)."),
    seed: int = typer.Option(0, "--seed", help="Seed of each round's shuffled order (and of cross-validation)."),
    timings: Optional[list[Path]] = typer.Option(None, "--timings", "-t", help="predictor: timings file(s) to "
                                                 "score the predictors on (repeatable)."),
    plotlyjs: str = typer.Option("inline", "--plotlyjs", help="inline: each HTML file self-contained (~4.8 MB); "
                                 "directory: one plotly.min.js in the output folder, shared by its HTML files; "
                                 "cdn: plotly.js linked from its CDN (small files, e.g. to commit results)."),
    json_out: bool = typer.Option(False, "--json", help="Print the files, verdicts and summary as JSON."),
) -> None:
    """Run one experiment (or all); writes <name>.csv (raw), <name>-summary.csv, <name>.html, <name>.md and
    <name>.meta.json (machine, platform, settings, choices)."""
    settings = RunSettings(platform, out, repeats, rounds, warmup, quick, seed, tuple(timings or ()), plotlyjs)
    names = [EXPERIMENTS.get(name).name] if name != "all" else \
        [n for n in EXPERIMENTS.names() if n != "predictor" or timings or _predictor_can_run(platform)]
    _warn_if_busy(platform, names, quick)
    results = []
    out_console = console()
    for n in names:
        with ProgressBar(enabled=not json_out, description=n) as bar:
            result = run_experiment(n, settings, progress=bar)
        results.append(result)
        if json_out:
            continue
        out_console.print(result.markdown.split("\n## ", 1)[0].strip())
        for v in result.verdicts:
            out_console.print(f"- {v.line()}")
        for key, text in result.meta.get("choices", {}).items():
            out_console.print(f"choice ({key}): {text}")
        for kind, path in result.files.items():
            out_console.print(f"{kind}: {path}")
    if json_out:
        emit_json(results[0].to_json() if name != "all" else [r.to_json() for r in results])


@app.command("summary")
def summary(
    results: Path = typer.Option(Path("experiments/results"), "--results", help="Folder of per-platform results."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Markdown file (default: <results>/SUMMARY.md)."),
) -> None:
    """Summarise every platform's results: which of the paper's claims hold there, and by how much."""
    from experiments.summary import write_summary

    console().print(f"summary: {write_summary(results, out)}")


def _predictor_can_run(platform: str) -> bool:
    """Whether the predictor study has data without --timings: the paper's devices (published rows) or a default
    timings file of the platform that exists (`all` skips it otherwise)."""
    if not resolve_target(platform, check_backend=False).measured:
        return True
    defaults = EXPERIMENTS.get("predictor").config().params.get("default_timings", {}).get(platform, [])
    return bool(defaults) and Path(defaults[0]).exists()


def _warn_if_busy(platform: str, names: list[str], quick: bool) -> None:
    """One line on stderr when a measured run starts on a busy machine (its timings will be disturbed)."""
    load = load_average()
    if quick or load is None or load <= BUSY_LOAD or names == ["predictor"]:
        return
    try:
        measured = resolve_target(platform, check_backend=False).measured
    except UserError:
        return
    if measured:
        Console(stderr=True, highlight=False).print(
            f"warning: the machine is busy (1-minute load average {load:.2f}): timings taken now are disturbed; "
            f"the load is recorded in <name>.meta.json")

"""`nas finalize`: retrain a study's top networks and its best reference with several seeds; judge by the mean."""

from __future__ import annotations

import math
from typing import Optional

import typer
from rich.table import Table

from nas.cli.common import ProgressBar, console, emit_json
from nas.views.finals import Final, finalize as run_finalize
from nas.views.train.recipe import Recipe
from search_space.errors import UserError


def _pm(f: Final) -> str:
    return f"{f.mean:.4f} ± {f.std:.4f} (n={len(f.test_accuracy)})" if len(f.test_accuracy) > 1 else \
        f"{f.mean:.4f} (n=1)"


def gain_text(best: Final, ref: Final) -> str:
    """The best found network's mean gain over the reference, in points, with its standard error."""
    gain = (best.mean - ref.mean) * 100
    se = math.sqrt(best.stderr ** 2 + ref.stderr ** 2) * 100 if len(best.test_accuracy) > 1 and \
        len(ref.test_accuracy) > 1 else math.nan
    return f"{gain:+.2f} ± {se:.2f} points (standard error)" if math.isfinite(se) else f"{gain:+.2f} points"


def finalize(
    study: str = typer.Option(..., "--study", help="Study name."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Study storage (default ./nas-studies.db)."),
    top: int = typer.Option(3, "--top", "-k", help="How many of the best found networks (within the budget)."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per network (0, 1, ...)."),
    epochs: int = typer.Option(..., "--epochs", "-e", help="Epochs of the full recipe."),
    train_examples: Optional[int] = typer.Option(None, "--train-examples", help="At most this many training "
                                                 "images (default: the whole training split)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size (default 128)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Folder of the runs (default finals-<study>)."),
    json_out: bool = typer.Option(False, "--json", help="Print the finals as JSON."),
) -> None:
    """Retrain the study's top found networks and its best reference with the same full recipe and several
    seeds; name the best by mean test accuracy. A rerun continues (finished runs are read back)."""
    if top < 1 or seeds < 1 or epochs < 1:
        raise UserError("--top, --seeds and --epochs must be at least 1")
    recipe = Recipe(epochs=epochs, **({"batch_size": batch_size} if batch_size else {}))
    with ProgressBar(enabled=not json_out, description="finals") as bar:
        finals = run_finalize(storage, study, top=top, seeds=seeds, recipe=recipe, out=out or f"finals-{study}",
                              train_examples=train_examples, threads=threads, progress=bar)
    found = [f for f in finals if f.kind == "found"]
    ref = next((f for f in finals if f.kind == "reference"), None)
    best = found[0] if found else None
    if json_out:
        emit_json({"study": study, "epochs": epochs, "seeds": seeds, "finals": [f.to_dict() for f in finals],
                   "best": best.to_dict() if best else None,
                   "versus_reference": {"name": ref.name, "accuracy_gain": best.mean - ref.mean,
                                        "stderr": math.sqrt(best.stderr ** 2 + ref.stderr ** 2),
                                        "latency_ratio": best.latency_ms / ref.latency_ms}
                   if best and ref else None})
        return
    out_c = console()
    table = Table(title=f"Finals of {study}: {epochs} epochs, {seeds} seeds each (test accuracy)", box=None)
    for col in ("trial", "network", "test accuracy", "proxy value", "latency", "MFLOPs", "budget"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for f in finals:
        table.add_row(str(f.trial), f.name if f.kind == "reference" else f"{f.arch_id} (found)", _pm(f),
                      "-" if f.proxy_value is None else f"{f.proxy_value:.4f}", f"{f.latency_ms:.2f} ms "
                      f"{f.latency_kind}", "-" if f.flops_m is None else f"{f.flops_m:.1f}",
                      "ok" if f.within_budget else "over")
    out_c.print(table)
    if best is not None:
        out_c.print(f"[bold]best by mean test accuracy[/bold]: {best.arch_id} (trial {best.trial}) {_pm(best)}")
        if ref is not None:
            out_c.print(f"versus {ref.name}: {gain_text(best, ref)} at {best.latency_ms / ref.latency_ms:.2f}x its "
                        f"latency")

"""`nas measure`: time networks and/or single blocks on this machine and write a timings dataset."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from latency_models.backends import MeasurementError
from latency_models.measure import (DRIFT_EVERY, MeasurementInterrupted, backend_for, measure_networks,
                                    resolve_platform)
from latency_models.platform import Platform
from latency_models.stats import NOISE_CV_THRESHOLD, NOISE_RETRIES
from latency_models.timings import TimingRow, TimingsMeta, TimingsWriter
from nas.cli.common import ProgressBar, console, emit_json, load_net
from search_space.errors import UserError


def default_out(platform: Platform) -> Path:
    """timings-<platform>-<YYYYmmdd-HHMMSS>.csv in the current directory."""
    return Path(f"timings-{platform.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.csv")


def _sample_specs(n: int, seed: int, resolution: int | None) -> list[Any]:
    import numpy as np

    from search_space.space import SearchSpace

    space = SearchSpace.default()
    if resolution is not None:
        space = space.with_fixed(resolution=resolution)
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def _reference_specs(resolution: int | None) -> list[Any]:
    from search_space.references import reference_names

    return [load_net(name, resolution) for name in reference_names()]


def _row_json(row: TimingRow, platform: Platform, warmup: int, repeats: int) -> dict[str, Any]:
    return {"kind": "measured", "network": row.name or row.arch_id, "arch_id": row.arch_id,
            "latency_ms": row.latency_ms, "cv": row.cv, "iqr_ms": row.iqr_ms, "min_ms": row.min_ms,
            "noisy": row.noisy, "samples": row.samples, "round": row.round, "platform": platform.name,
            "runtime": platform.runtime, "device": platform.device, "threads": platform.threads,
            "batch": row.batch, "resolution": row.resolution, "warmup": warmup, "repeats": repeats}


def measure(
    platform: str = typer.Option(..., "--platform", "-p", help="Built-in platform to measure (cpu, cpu-torch, gpu)."),
    arch: Optional[list[str]] = typer.Option(None, "--arch", "-a",
                                             help="Network name or spec JSON file (repeatable)."),
    sample: int = typer.Option(0, "--sample", "-n", min=0, help="Also time N networks drawn from the default space."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample and of each round's order."),
    references: bool = typer.Option(False, "--references", help="Also time every registered reference network."),
    units: bool = typer.Option(False, "--units", help="Also time each distinct block (unit) of the networks alone."),
    networks: bool = typer.Option(True, "--networks/--no-networks", help="Time whole networks (default)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Timings file (.csv or .parquet). Default: "
                                       "timings-<platform>-<date>.csv; none for --arch alone unless given."),
    append: bool = typer.Option(False, "--append", help="Add rows to an existing --out file."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    repeats: Optional[int] = typer.Option(None, "--repeats", min=1, help="Timed runs per measurement."),
    warmup: Optional[int] = typer.Option(None, "--warmup", min=0, help="Untimed runs before timing."),
    rounds: int = typer.Option(1, "--rounds", min=1, help="Measure everything this many times (rounds)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Override the platform's thread count."),
    batch: Optional[int] = typer.Option(None, "--batch", min=1, help="Override the platform's batch size."),
    resolution: Optional[int] = typer.Option(None, "--resolution", "-r", help="Input resolution of every network."),
    drift_ref: Optional[str] = typer.Option(None, "--drift-ref", help="Network re-timed through the run "
                                            "to detect drift (rows with role drift_ref)."),
    drift_every: int = typer.Option(DRIFT_EVERY, "--drift-every", min=1, help="Jobs between drift timings."),
    noise_cv: float = typer.Option(NOISE_CV_THRESHOLD, "--noise-cv", min=0.0, help="Robust CV above which a "
                                   "timing is noisy (re-timed, then marked)."),
    retries: int = typer.Option(NOISE_RETRIES, "--retries", min=0, help="Extra timings of a noisy measurement."),
) -> None:
    """Time networks and/or single units on this machine; write a timings dataset (+ .meta.json)."""
    plat = resolve_platform(platform)
    overrides = {k: v for k, v in (("threads", threads), ("batch", batch)) if v is not None}
    if overrides:
        plat = plat.with_(**overrides)
    specs = [load_net(a, resolution) for a in (arch or [])]
    if sample:
        specs += _sample_specs(sample, seed, resolution)
    refs = _reference_specs(resolution) if references else []
    if not specs and not refs:
        raise UserError("nothing to measure: give --arch NAME|SPEC.json, --sample N or --references")
    if not networks and not units:
        raise UserError("--no-networks needs --units (otherwise nothing is measured)")
    if noise_cv <= 0:
        raise UserError("--noise-cv must be positive")
    drift = load_net(drift_ref, resolution) if drift_ref else None
    backend = backend_for(plat)  # fails early, with one line, where the runtime / device is missing

    arch_only = bool(arch) and not sample and not references and not units
    path = out if out is not None else (None if arch_only else default_out(plat))
    n_warm = plat.warmup if warmup is None else warmup
    n_rep = plat.repeats if repeats is None else repeats
    writer = None
    if path is not None:
        meta = TimingsMeta.collect(plat, warmup=n_warm, repeats=n_rep, rounds=rounds, seed=seed, sample=sample,
                                   units=units, networks=networks, resolution=resolution, noise_cv=noise_cv,
                                   retries=retries, drift_ref=drift.label() if drift else None,
                                   drift_every=drift_every, command=" ".join(["nas"] + sys.argv[1:]))
        writer = TimingsWriter(path, meta, append=append)
    err = Console(stderr=True, highlight=False)
    n_jobs = (len(specs) + len(refs)) * (1 if networks else 0) * rounds
    rows: list[TimingRow] = []
    try:
        with ProgressBar(enabled=n_jobs > 1 or units) as bar:
            rows = measure_networks(specs, plat, references=refs, units=units, networks=networks, rounds=rounds,
                                    seed=seed, reference=drift, drift_every=drift_every, warmup=warmup,
                                    repeats=repeats, threshold=noise_cv, retries=retries, backend=backend,
                                    on_row=writer.write if writer else None, progress=bar)
    except MeasurementInterrupted as exc:
        kept = f"; {len(exc.rows)} measurement(s) kept in {path}" if writer and writer.rows_written else ""
        err.print(f"interrupted{kept}")
        raise typer.Exit(130)
    except MeasurementError as exc:
        if writer and writer.rows_written:
            raise MeasurementError(f"{exc} ({writer.rows_written} measurement(s) before it kept in {path})") from None
        raise
    finally:
        if writer is not None:
            writer.discard_if_empty()  # closes; an empty file this run created is not left behind

    noisy = sum(r.noisy for r in rows)
    if json_out:
        if arch_only:
            objs = [_row_json(r, plat, n_warm, n_rep) for r in rows]
            emit_json(objs[0] if len(objs) == 1 else objs)
        else:
            emit_json({"kind": "timings", "out": str(path), "rows": len(rows), "noisy": noisy,
                       "platform": plat.name, "runtime": plat.runtime})
        return
    con = console()
    if arch_only:
        table = Table(title=f"{plat.describe()}: warm-up {n_warm}, {n_rep} runs")
        for col in ("network", "round", "latency_ms", "IQR ms", "CV", "min ms", "noisy"):
            table.add_column(col, justify="left" if col == "network" else "right")
        for r in rows:
            table.add_row(r.name or r.arch_id, str(r.round), f"{r.latency_ms:.3f}", f"{r.iqr_ms:.3f}",
                          f"{100 * r.cv:.1f}%", f"{r.min_ms:.3f}", "yes" if r.noisy else "")
        con.print(table)
    if path is not None:
        con.print(f"wrote {len(rows)} measurement(s) to {path} (+ {path.name}.meta.json); {noisy} noisy")

"""`nas measure`: time networks and/or single blocks on this machine and write a timings dataset."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from latency_models.autoprofile import DRIFT_REFERENCE, LAYER_RUNS
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


def interrupted(err: Console, writer: TimingsWriter | None, path: Path | None, kept: int) -> None:
    """Ctrl-C during a measurement: one line saying what was kept in the timings file; exit 130."""
    note = f"; {kept} measurement(s) kept in {path}" if writer and writer.rows_written else ""
    err.print(f"interrupted{note}")
    raise typer.Exit(130)


def kept_error(exc: UserError, writer: TimingsWriter | None, path: Path | None, kept: int,
               as_type: type[UserError] = UserError) -> UserError:
    """The measurement's error (as `as_type`), saying which earlier measurements the timings file keeps."""
    if writer and writer.rows_written:
        return as_type(f"{exc} ({kept} measurement(s) before it kept in {path})")
    return exc


def measure(
    platform: Optional[str] = typer.Option(None, "--platform", "-p", help="Built-in platform to measure (cpu, "
                                           "cpu-torch, gpu); with --agent, one the agent measures (default its own)."),
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
    paired: bool = typer.Option(False, "--paired", help="Time the drift reference beside every network, run by run "
                                "in alternation (each row's ref_ms: drift-free ratios); --drift-ref defaults to "
                                "shufflenet_v2_x1_0."),
    layers: bool = typer.Option(False, "--layers", help="Also time every convolution / FC layer inside its network "
                                "with the runtime's profiler (ONNX Runtime; the layerwise predictor's data)."),
    noise_cv: float = typer.Option(NOISE_CV_THRESHOLD, "--noise-cv", min=0.0, help="Robust CV above which a "
                                   "timing is noisy (re-timed, then marked)."),
    retries: int = typer.Option(NOISE_RETRIES, "--retries", min=0, help="Extra timings of a noisy measurement."),
    agent: Optional[str] = typer.Option(None, "--agent", help="Measure on the device running `nas agent` at this "
                                        "URL (http://HOST:PORT) instead of here."),
    token: Optional[str] = typer.Option(None, "--token", help="The agent's token (default $NAS_AGENT_TOKEN)."),
) -> None:
    """Time networks and/or single units on this machine (or a device running `nas agent`); write a timings
    dataset (+ .meta.json)."""
    if agent is not None:
        unsupported = {"--units": units, "--no-networks": not networks, "--rounds": rounds != 1,
                       "--paired": paired, "--layers": layers,
                       "--drift-ref": drift_ref is not None, "--drift-every": drift_every != DRIFT_EVERY,
                       "--threads": threads is not None, "--batch": batch is not None, "--repeats": repeats is not None,
                       "--warmup": warmup is not None, "--noise-cv": noise_cv != NOISE_CV_THRESHOLD,
                       "--retries": retries != NOISE_RETRIES}
        specs = [load_net(a, resolution) for a in (arch or [])]
        if sample:
            specs += _sample_specs(sample, seed, resolution)
        refs = _reference_specs(resolution) if references else []
        measure_via_agent(agent, token, platform, specs, refs, out, append, json_out, bool(arch) and not sample and
                          not references, unsupported)
        return
    if token is not None:
        raise UserError("--token is for --agent URL (measuring on another device)")
    if platform is None:
        raise UserError("give --platform NAME (cpu, cpu-torch, gpu) to measure here, or --agent URL")
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
    if paired and not drift_ref:
        drift_ref = DRIFT_REFERENCE
    drift = load_net(drift_ref, None if paired else resolution) if drift_ref else None
    backend = backend_for(plat)  # fails early, with one line, where the runtime / device is missing
    if layers and plat.runtime != "onnxruntime":
        raise UserError(f"--layers needs a runtime with a per-node profiler (ONNX Runtime); {plat.name} runs "
                        f"{plat.runtime}")

    arch_only = bool(arch) and not sample and not references and not units
    path = out if out is not None else (None if arch_only else default_out(plat))
    n_warm = plat.warmup if warmup is None else warmup
    n_rep = plat.repeats if repeats is None else repeats
    writer = None
    if path is not None:
        meta = TimingsMeta.collect(plat, warmup=n_warm, repeats=n_rep, rounds=rounds, seed=seed, sample=sample,
                                   units=units, networks=networks, resolution=resolution, noise_cv=noise_cv,
                                   retries=retries, drift_ref=drift.label() if drift else None,
                                   drift_every=drift_every, paired=paired, layers=layers,
                                   command=" ".join(["nas"] + sys.argv[1:]))
        writer = TimingsWriter(path, meta, append=append)
    err = Console(stderr=True, highlight=False)
    n_jobs = (len(specs) + len(refs)) * (1 if networks else 0) * rounds
    rows: list[TimingRow] = []
    try:
        with ProgressBar(enabled=n_jobs > 1 or units) as bar:
            rows = measure_networks(specs, plat, references=refs, units=units, networks=networks, rounds=rounds,
                                    seed=seed, reference=drift, drift_every=drift_every, warmup=warmup,
                                    repeats=repeats, threshold=noise_cv, retries=retries, backend=backend,
                                    on_row=writer.write if writer else None, progress=bar, paired=paired,
                                    layer_runs=LAYER_RUNS if layers else 0)
    except MeasurementInterrupted as exc:
        interrupted(err, writer, path, len(exc.rows))
    except MeasurementError as exc:
        raise kept_error(exc, writer, path, writer.rows_written if writer else 0, MeasurementError) from None
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


# ----------------------------------------------------------------------------------------------- via an agent
def redacted_argv(argv: list[str]) -> list[str]:
    """The command line with the value of --token replaced by ***, for metadata files."""
    out, hide = [], False
    for a in argv:
        if hide:
            out.append("***")
            hide = False
        elif a == "--token":
            out.append(a)
            hide = True
        elif a.startswith("--token="):
            out.append("--token=***")
        else:
            out.append(a)
    return out


def _agent_out(platform: Platform, hostname: str) -> Path:
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in hostname) or "device"
    return Path(f"timings-{platform.name}-{host}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.csv")


def _agent_json(result: Any, url: str) -> dict[str, Any]:
    p = result.platform
    return {"kind": result.kind, "network": result.name or result.arch_id, "arch_id": result.arch_id,
            "latency_ms": result.latency_ms, "cv": result.cv, "iqr_ms": result.iqr_ms, "min_ms": result.min_ms,
            "noisy": result.noisy, "samples": result.samples, "platform": p.name, "runtime": p.runtime,
            "threads": p.threads, "batch": result.batch, "resolution": result.resolution,
            "measured_at": result.measured_at, "agent": url, "device": result.device.to_dict(),
            "reference": result.reference.to_dict()}


def measure_via_agent(url: str, token: Optional[str], platform: Optional[str], specs: list[Any], refs: list[Any],
                      out: Optional[Path], append: bool, json_out: bool, arch_only: bool,
                      unsupported: dict[str, bool]) -> None:
    """`nas measure --agent URL`: each network measured on the agent's device, rows (+ the reference timed
    beside each, role drift_ref) appended to the timings file as they come."""
    from latency_models.agent import AgentClient
    from latency_models.agent.records import network_timing_row, reference_timing_row, timings_meta
    from latency_models.timings import TimingsError, load_timings

    bad = [flag for flag, given in unsupported.items() if given]
    if bad:
        raise UserError(f"{bad[0]} cannot be used with --agent: the agent's own protocol applies "
                        f"(set it on `nas agent` on the device)")
    jobs = [(s, "sample") for s in specs] + [(s, "reference") for s in refs]
    if not jobs:
        raise UserError("nothing to measure: give --arch NAME|SPEC.json, --sample N or --references")
    client = AgentClient(url, token)
    device = client.describe()
    if platform is not None and device.platforms and platform not in device.platforms:
        raise UserError(f"the agent at {client.url} cannot measure platform {platform} "
                        f"(it measures: {', '.join(device.platforms)})")
    plat = device.platform if platform is None or platform == device.platform.name else resolve_platform(platform)
    path = out if out is not None else (None if arch_only else _agent_out(plat, device.hostname))
    writer = None
    ref_ids: set[str] = set()
    seen: set[tuple[str, str]] = set()
    if path is not None:
        if path.exists() and append:
            old = load_timings(path)
            if old.meta.hostname and old.meta.hostname != device.hostname:
                raise TimingsError(f"{path} holds timings of host {old.meta.hostname}, not of the agent's host "
                                   f"{device.hostname}; write them to another --out")
            refs_old = old.frame[old.frame["role"] == "drift_ref"]
            ref_ids = set(refs_old["arch_id"].astype(str))
            seen = set(zip(refs_old["arch_id"].astype(str), refs_old["measured_at"].astype(str)))
        meta = timings_meta(device, plat, agent=client.url, command=" ".join(redacted_argv(["nas"] + sys.argv[1:])))
        writer = TimingsWriter(path, meta, append=append)
    err = Console(stderr=True, highlight=False)
    results = []
    skipped_refs = 0
    try:
        with ProgressBar(enabled=len(jobs) > 1) as bar:
            for i, (spec, role) in enumerate(jobs):
                bar(i, len(jobs), f"{spec.label()} on {device.hostname}")
                result = client.measure(spec, platform)
                results.append(result)
                if writer is not None:
                    writer.write(network_timing_row(result, spec, role))
                    ref = result.reference
                    if ref_ids and ref.arch_id not in ref_ids:
                        skipped_refs += 1  # a drift reference at another resolution would skew the correction
                    elif (ref.arch_id, ref.measured_at) not in seen:
                        writer.write(reference_timing_row(result))
                        ref_ids.add(ref.arch_id)
                        seen.add((ref.arch_id, ref.measured_at))
            bar(len(jobs), len(jobs), "done")
    except KeyboardInterrupt:
        interrupted(err, writer, path, len(results))
    except UserError as exc:
        raise kept_error(exc, writer, path, len(results)) from None
    finally:
        if writer is not None:
            writer.discard_if_empty()
    if skipped_refs:
        err.print(f"note: {skipped_refs} reference timing(s) at another resolution than the file's drift reference "
                  f"were not written")
    noisy = sum(r.noisy for r in results)
    if json_out:
        if arch_only:
            objs = [_agent_json(r, client.url) for r in results]
            emit_json(objs[0] if len(objs) == 1 else objs)
        else:
            emit_json({"kind": "timings", "out": str(path), "rows": writer.rows_written if writer else 0,
                       "networks": len(results), "noisy": noisy, "platform": plat.name, "runtime": plat.runtime,
                       "agent": client.url, "device": device.to_dict()})
        return
    con = console()
    table = Table(title=f"{device.describe()} (agent {client.url})")
    for col in ("network", "latency_ms", "IQR ms", "CV", "noisy", "reference ms", "drift"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for r in results:
        table.add_row(r.name or r.arch_id, f"{r.latency_ms:.3f}", f"{r.iqr_ms:.3f}", f"{100 * r.cv:.1f}%",
                      "yes" if r.noisy else "", f"{r.reference.latency_ms:.3f}",
                      f"x{r.reference.drift_ratio:.3f}" + (" (drifted)" if r.reference.drifted else ""))
    con.print(table)
    if path is not None and writer is not None:
        con.print(f"wrote {writer.rows_written} row(s) to {path} (+ {path.name}.meta.json); {noisy} noisy")

"""`predictor`: how well each latency predictor (FLOPs-only, roofline, lookup table, learned) predicts measured
latency on a timings file, by repeated k-fold cross-validation over networks; the same library calls as
benchmarks/latency_predictors.py (latency_models.dataset / evaluate / fitting).

Default timings: the config's `default_timings` for the platform (for cpu: benchmarks/data/cpu-onnxruntime-
networks.csv and -units.csv, the per-block predictors need the latter). For the paper's own devices (arm,
gpu-1080ti) without a timings file, the study runs on the published measurements: the shipped profile's
roofline (in-sample, plus its stored leave-one-table-out error) against FLOPs-only through the Table 8 anchor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.compare import markdown_table
from experiments.config import ExperimentError
from experiments.context import Context, machine_line, run_meta
from experiments.outputs import ExperimentResult
from latency_models.dataset import drift_of, network_table, repeat_noise, training_set
from latency_models.evaluate import accuracy, cross_val_predictions
from latency_models.features import feature_matrix
from latency_models.fitting import PUBLISHED_EXCLUDED, needs_units, predictor_factory
from latency_models.paper import published_rows
from latency_models.predictors import PREDICTORS, TrainingSet
from latency_models.predictors.roofline import RooflinePredictor
from latency_models.report import predicted_vs_measured_figure
from latency_models.timings import Timings, load_timings
from search_space.cost import cost
from search_space.plan import plan

#: Columns of the raw table: one row per (network, predictor kind) with its out-of-fold prediction.
RAW_COLUMNS = ("experiment", "networks", "name", "arch_id", "family", "resolution", "batch", "flops_m",
               "measured_ms", "kind", "predicted_ms", "error")
SUMMARY_COLUMNS = ("experiment", "kind", "networks", "evaluation", "n", "within_5pct", "within_10pct", "rmspe",
                   "mape", "max_ape", "spearman", "seconds")


def timings_paths(ctx: Context) -> list[Path]:
    """--timings if given, else the config's defaults for the platform (that exist; the first must)."""
    if ctx.settings.timings:
        paths = [Path(p) for p in ctx.settings.timings]
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise ExperimentError(f"no such timings file: {missing[0]}")
        return paths
    defaults = dict(ctx.config.param("default_timings")).get(ctx.target.platform.name, [])
    paths = [Path(p) for p in defaults]
    if paths and not paths[0].exists():
        raise ExperimentError(f"predictor: timings file {paths[0]} not found; measure it with "
                              f"benchmarks/collect_cpu_timings.sh (or `nas measure`), or give --timings FILE")
    return [p for p in paths if p.exists()]


def noise(files: list[Timings]) -> dict[str, Any]:
    """Repeat noise |m1/m2 - 1| between rounds (raw and drift-corrected) and the drift reference's spread."""
    out: dict[str, Any] = {}
    for corrected in (False, True):
        med, p90, n = repeat_noise(network_table(files[:1], corrected))
        out["drift_corrected" if corrected else "raw"] = {"median": med, "p90": p90, "n": n}
    d = drift_of(files[0].frame)
    out["drift"] = d.to_dict() if d else None
    return out


def _block_types(spec: Any) -> set[str]:
    return {type(b).__name__ for b in plan(spec)}


def network_sets(data: TrainingSet, kinds: list[str], max_block_networks: int | None = None, seed: int = 0) \
        -> list[tuple[str, TrainingSet, list[str]]]:
    """(label, networks, kinds scored on them): every network for the whole-network predictors; for the per-block
    ones (with the others again, to compare alike) the networks whose every block type was timed alone, at
    most `max_block_networks` of them (a seeded sample: the per-block predictors are slow to cross-validate)."""
    whole = [k for k in kinds if not needs_units(k)]
    block = [k for k in kinds if needs_units(k)]
    everything = (f"all {len(data.specs)} networks", data, whole)
    if not block:
        return [everything]
    unit_types = {type(u[0]).__name__ for u in data.units}
    covered = [i for i, s in enumerate(data.specs) if _block_types(s) <= unit_types]
    label = "networks whose block types were timed alone"
    if max_block_networks is not None and len(covered) > max_block_networks:
        label += f" (seeded sample of {len(covered)})"
        covered = sorted(np.random.default_rng(seed).choice(covered, max_block_networks, replace=False).tolist())
    if len(covered) == len(data.specs):
        return [(everything[0], data, kinds)]
    if len(covered) < 10:
        return [everything]
    return [everything, (f"{len(covered)} {label}", data.subset(covered), kinds)]


def cross_validated(ctx: Context, paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(raw, summary, info) of every usable predictor kind, k-fold cross-validated on the timings."""
    files = [load_timings(p) for p in paths]
    data = training_set(files)
    folds, reps = int(ctx.config.param("folds")), int(ctx.config.param("cv_repeats"))
    if len(data.specs) < 2 * folds:
        raise ExperimentError(f"predictor: {len(data.specs)} measured networks; at least {2 * folds} are needed")
    kinds = [k for k in ctx.config.param("kinds") if k in PREDICTORS and not (needs_units(k) and not data.units)]
    skipped = [k for k in ctx.config.param("kinds") if k not in kinds]
    cap = ctx.config.params.get("max_block_networks")
    block_reps = int(ctx.config.params.get("block_cv_repeats", reps))
    sets = network_sets(data, kinds, None if cap is None else int(cap), ctx.settings.seed)
    raw, summary = [], []
    preds: dict[str, np.ndarray] = {}
    total, done = sum(len(k) for _, _, k in sets), 0
    for label, part, part_kinds in sets:
        y = np.asarray(part.latency_ms, dtype=float)
        n_rep = reps if part is data else block_reps
        for kind in part_kinds:
            if ctx.progress is not None:
                ctx.progress(done, total, f"cross-validating {kind} on {label}")
            t0 = time.perf_counter()
            oof = cross_val_predictions(predictor_factory(kind), part, folds=folds, seed=ctx.settings.seed,
                                        repeats=n_rep)
            done += 1
            if part is data:
                preds[kind] = oof
            summary.append({"experiment": "predictor", "kind": kind, "networks": label,
                            "evaluation": f"{folds}-fold CV x{n_rep} over networks", **accuracy(oof, y).to_dict(),
                            "seconds": time.perf_counter() - t0})
            for spec, m, p in zip(part.specs, y, oof):
                raw.append({"experiment": "predictor", "networks": label, "name": spec.name, "arch_id": spec.arch_id,
                            "family": spec.family, "resolution": spec.resolution, "batch": part.batch,
                            "flops_m": cost(spec).flops_m, "measured_ms": m, "kind": kind, "predicted_ms": p,
                            "error": p / m - 1})
    if ctx.progress is not None:
        ctx.progress(total, total, "done")
    y_all = np.asarray(data.latency_ms, dtype=float)
    info = {"timings": [str(p) for p in paths], "networks": len(data.specs), "units": len(data.units),
            "batch": data.batch, "skipped_kinds": skipped, "network_sets": [lab for lab, _, _ in sets],
            "noise": noise(files), "timings_platform": files[0].meta.platform.to_dict(),
            "timings_machine": files[0].meta.to_dict(), "predictions": preds, "measured": y_all,
            "labels": [s.label() for s in data.specs]}
    return pd.DataFrame(raw, columns=list(RAW_COLUMNS)), pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)), info


def on_published(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The paper's measurements of the platform against its shipped profile: roofline vs FLOPs-only."""
    prof = ctx.target.profile
    name = ctx.target.platform.name
    if prof is None or "flops" not in prof.predictors or not isinstance(prof.predictor("roofline"), RooflinePredictor):
        raise ExperimentError(f"predictor: platform {name} needs a timings file (--timings FILE)")
    roof, flops = prof.predictor("roofline"), prof.predictor("flops")
    excluded = PUBLISHED_EXCLUDED.get(name, {})
    rows = [r for r in published_rows(name) if r.table not in excluded]
    y = np.array([r.latency_ms for r in rows])
    whole = np.array([r.table == "Table 8" for r in rows])
    X = np.vstack([feature_matrix([r.spec], r.batch) for r in rows])
    preds = {"roofline": X @ roof.coefficients() + roof.intercept_ms * whole,
             "flops": np.array([flops.b * cost(r.spec).flops_m * r.batch for r in rows])}
    method = {"roofline": "in-sample (fit on these rows)", "flops": "proportional through the Table 8 anchor"}
    raw, summary = [], []
    for kind, p in preds.items():
        summary.append({"experiment": "predictor", "kind": kind, "networks": f"{len(rows)} published rows",
                        "evaluation": method[kind],
                        **accuracy(p, y).to_dict(), "seconds": 0.0})
        for r, m, q in zip(rows, y, p):
            raw.append({"experiment": "predictor", "networks": f"{len(rows)} published rows",
                        "name": f"{r.table}: {r.config}", "arch_id": r.spec.arch_id,
                        "family": r.spec.family, "resolution": r.spec.resolution, "batch": r.batch,
                        "flops_m": cost(r.spec).flops_m, "measured_ms": m, "kind": kind, "predicted_ms": q,
                        "error": q / m - 1})
    held = prof.evaluation.get("roofline", {})
    if "rmspe" in held:
        summary.append({"experiment": "predictor", "kind": "roofline", "networks": f"{held['n']} published rows",
                        "evaluation": prof.evaluation_method,
                        **{k: held[k] for k in ("n", "within_5pct", "within_10pct", "rmspe", "mape", "max_ape",
                                                "spearman")}, "seconds": 0.0})
    info = {"published_rows": len(rows), "excluded_tables": excluded, "predictions": preds, "measured": y,
            "labels": [f"{r.table}: {r.config}" for r in rows]}
    return pd.DataFrame(raw, columns=list(RAW_COLUMNS)), pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)), info


def markdown(ctx: Context, summary: pd.DataFrame, info: dict[str, Any], meta: dict) -> str:
    t = ctx.target
    lines = [f"# Latency predictor accuracy on {t.platform.name}", ""]
    if "timings" in info:
        tp = info["timings_platform"]
        lines += [f"Timings: {', '.join(info['timings'])} ({info['networks']} networks, {info['units']} blocks timed "
                  f"alone; platform {tp['name']}: {tp['runtime']}, {tp['threads']} thread(s), batch {tp['batch']}; "
                  f"machine {info['timings_machine'].get('cpu_model', '?')}, measured "
                  f"{info['timings_machine'].get('created_at', '?')}).", ""]
        nz = info["noise"]
        for k in ("raw", "drift_corrected"):
            if nz[k]["n"]:
                lines.append(f"- repeat noise |m1/m2 − 1| between rounds ({k.replace('_', ' ')}): median "
                             f"{nz[k]['median']:.2%}, 90th percentile {nz[k]['p90']:.2%} over {nz[k]['n']} networks")
        if nz["drift"]:
            d = nz["drift"]
            lines.append(f"- drift reference: {d['n']} timings, spread {d['spread']:.1%}, last/first round "
                         f"{d['round_ratio']:.3f}{' (flagged)' if d['flagged'] else ''}")
        if info["skipped_kinds"]:
            lines.append(f"- not scored: {', '.join(info['skipped_kinds'])} (per-block predictors need a units "
                         f"timings file)")
    else:
        lines += [f"No timings file: the study runs on the paper's {info['published_rows']} published measurements of "
                  f"{t.platform.name} against the shipped profile ({t.source}).", ""]
        if info["excluded_tables"]:
            lines += [f"- left out: {k} ({v})" for k, v in info["excluded_tables"].items()]
    lines += ["", markdown_table(
        ["predictor", "networks", "evaluation", "n", "within ±5%", "within ±10%", "RMSPE", "max |err|",
         "Spearman ρ"],
        [[r["kind"], r["networks"], r["evaluation"], int(r["n"]), f"{r['within_5pct']:.1%}", f"{r['within_10pct']:.1%}",
          f"{r['rmspe']:.1%}", f"{r['max_ape']:.1%}", f"{r['spearman']:.3f}"] for _, r in summary.iterrows()]), "",
        "The paper's point (section 2): FLOPs is an indirect metric; equal-FLOPs networks differ in speed, so a "
        "FLOPs-only predictor (`flops`) cannot be accurate. The other predictors add memory access, operator count "
        "and per-block costs.", ""]
    if not ctx.target.measured:
        lines.append(machine_line(meta))
    if ctx.settings.quick:
        lines += ["", "*Quick run (`--quick`): fewer predictor kinds, networks and repeats; not a result.*"]
    return "\n".join(lines)


def run(ctx: Context) -> ExperimentResult:
    """Score every predictor kind on the timings (or, for the paper's devices without timings, the published rows)."""
    paths = timings_paths(ctx) if ctx.target.measured or ctx.settings.timings else []
    if paths:
        raw, summary, info = cross_validated(ctx, paths)
    elif not ctx.target.measured:
        raw, summary, info = on_published(ctx)
    else:
        raise ExperimentError(f"predictor: no timings for platform {ctx.target.platform.name}; give --timings FILE")
    preds, measured, labels = info.pop("predictions"), info.pop("measured"), info.pop("labels")
    meta = run_meta(ctx, **info)
    if "timings_machine" in info:  # nothing is timed here: the machine that matters measured the timings
        meta.update(machine=info["timings_machine"], load_average_1min=None)
    figure = predicted_vs_measured_figure(measured, preds, labels,
                                          f"Predicted vs measured latency on {ctx.target.platform.name}")
    return ExperimentResult("predictor", raw, summary, markdown(ctx, summary, info, meta), figure, (), meta)

"""Fitting platform profiles: from timings files, from the paper's published numbers, or by measuring here."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from latency_models.dataset import drift_of, reference_speed_ms, training_set
from latency_models.evaluate import accuracy, cross_val_predictions
from latency_models.features import feature_matrix
from latency_models.paper import published_rows
from latency_models.platform import Platform, builtin_platforms
from latency_models.predictors import (PREDICTORS, FlopsPredictor, LayerwisePredictor, Predictor, RooflinePredictor,
                                       TrainingSet)
from latency_models.predictors.roofline import design_matrix
from latency_models.predictors.blocksum import BlockSumPredictor
from latency_models.profiles import Profile, ProfileError
from latency_models.timings import Timings, TimingsError, load_timings
from search_space.cost import cost
from search_space.fileio import file_sha256
from search_space.references import reference_spec

#: Kinds fit by default, in order of preference when their errors tie.
DEFAULT_KINDS = ("layerwise", "roofline", "learned", "lut", "flops")
CV_FOLDS = 5


def predictor_factory(kind: str) -> Callable[[], Predictor]:
    """A fresh predictor of `kind` with this package's default settings."""
    if kind == "roofline":
        return lambda: RooflinePredictor("free")
    return PREDICTORS.get(kind)


def needs_units(kind: str) -> bool:
    return issubclass(PREDICTORS.get(kind), BlockSumPredictor)


def can_fit(kind: str, data: TrainingSet) -> bool:
    """Whether `data` holds what predictor `kind` is fit from (single-block timings, in-network layer timings)."""
    if needs_units(kind):
        return bool(data.units)
    if issubclass(PREDICTORS.get(kind), LayerwisePredictor):
        return bool(data.layers)
    return True


def covered_subset(data: TrainingSet) -> TrainingSet:
    """The networks whose every block type has single-block timings (what a per-block predictor can price)."""
    from search_space.plan import plan

    types = {type(u[0]).__name__ for u in data.units}
    idx = [i for i, s in enumerate(data.specs) if all(type(b).__name__ in types for b in plan(s))]
    return data.subset(np.array(idx, dtype=int))


def fit_profile(platform: Platform, data: TrainingSet, kinds: Sequence[str] = DEFAULT_KINDS,
                provenance: dict | None = None, folds: int = CV_FOLDS, seed: int = 0) -> Profile:
    """Fit every usable predictor kind, score each by k-fold cross-validation over networks (a per-block
    predictor never sees the blocks of its held-out networks), and make the best non-FLOPs one the default."""
    if len(data.specs) < folds * 2:
        raise ProfileError(f"only {len(data.specs)} measured networks; at least {folds * 2} are needed to fit and "
                           f"cross-validate a profile")
    usable = [k for k in kinds if can_fit(k, data)]
    if not usable:
        raise ProfileError("none of the requested predictors can be fit: the per-block ones need unit timings "
                           "(`nas measure --units`), the layerwise one layer timings (`nas measure --layers`)")
    preds: dict[str, Predictor] = {}
    evaluation: dict[str, dict[str, float]] = {}
    y = np.asarray(data.latency_ms, dtype=float)
    covered = covered_subset(data) if data.units else data
    for kind in usable:
        factory = predictor_factory(kind)
        d = covered if needs_units(kind) else data  # a per-block predictor is scored where it can price
        if len(d.specs) < folds * 2:
            continue
        oof = cross_val_predictions(factory, d, folds=folds, seed=seed)
        evaluation[kind] = accuracy(oof, np.asarray(d.latency_ms, dtype=float)).to_dict()
        preds[kind] = factory().fit(data)
    candidates = [k for k in preds if k != "flops"] or list(preds)
    default = min(candidates, key=lambda k: evaluation[k]["rmspe"])
    return Profile(platform, preds, default, evaluation,
                   f"{folds}-fold cross-validation over {len(y)} measured networks (mean of their rounds)",
                   provenance or {})


def timings_provenance(files: Sequence[Timings]) -> dict:
    out = []
    for t in files:
        drift = drift_of(t.frame)
        out.append({"file": str(t.path), "sha256": file_sha256(t.path), "rows": len(t.frame),
                    "networks": int((t.frame["kind"] == "network").sum()), "units": int((t.frame["kind"] == "unit").sum()),
                    "layers": int((t.frame["kind"] == "layer").sum()),
                    "host": t.meta.hostname, "cpu_model": t.meta.cpu_model, "gpu_model": t.meta.gpu_model,
                    "measured_at": t.meta.created_at, "versions": dict(t.meta.versions),
                    "drift": drift.to_dict() if drift else None,
                    "reference_ms": reference_speed_ms(t.frame)})
    speed = reference_speed_ms(*(t.frame for t in files))
    names = {str(t.meta.settings.get("drift_ref") or "") for t in files} - {""}
    reference = {"network": names.pop() if len(names) == 1 else None, "latency_ms": speed} if speed else None
    return {"source": "measured", "timings": out, "reference": reference}


def fit_from_timings(name: str, paths: Sequence[str | Path], kinds: Sequence[str] = DEFAULT_KINDS) -> Profile:
    """A profile for platform `name` from timings files measured on one platform (any machine).

    A name that is not the files' own platform registers a new user platform with the files' settings
    (`nas latency fit --platform my-pi --timings pi.csv`).
    """
    if not paths:
        raise ProfileError("no timings files given")
    files = [load_timings(p) for p in paths]
    platforms = {dataclasses.replace(t.platform, name="_") for t in files}
    if len(platforms) > 1:
        raise TimingsError("the timings files were measured on different platforms (runtime, threads, batch or "
                           "device differ); fit one platform at a time")
    platform = dataclasses.replace(files[0].platform, name=name)
    builtin = builtin_platforms().get(name)
    if builtin is not None and not builtin.measurable:
        raise ProfileError(f"platform {name} is calibrated from published measurements; fit your own device's "
                           f"timings under a new name, e.g. --platform my-{name}")
    return fit_profile(platform, training_set(files), kinds, timings_provenance(files))


# ------------------------------------------------------------------------------------ published profiles
#: Roofline design per published platform (see predictors/roofline.py).
#: arm: Appendix Table 1b's unit stacks identify the depthwise term; gpu-1080ti: nothing but the whole-network
#: anchor does, so depthwise multiply-adds are priced at the GEMM rate (see roofline.tied_design).
PUBLISHED_DESIGN = {"arm": "tied-spill1m", "gpu-1080ti": "tied-dw-as-gemm"}
#: Published tables left out of a fit, with the reason (stored in the profile's provenance).
PUBLISHED_EXCLUDED = {
    "gpu-1080ti": {"Appendix Table 1b": "its GPU unit stacks are not comparable with the rest: at the stated batch "
                   "1 ten ShuffleNet v2 units (73 MFLOPs) would take 4.6 ms, 10x more per multiply-add than Tables "
                   "1-4 and the whole network of Table 8 at batch 8, and several rows get faster with more "
                   "channels (MobileNet v2 c=64 < c=128, Xception c=128 < c=256)"},
}


def published_training(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """(features, ms, whole-network flag, rows) of the paper's measurements for `name` (minus exclusions)."""
    excluded = PUBLISHED_EXCLUDED.get(name, {})
    rows = [r for r in published_rows(name) if r.table not in excluded]
    X = np.vstack([feature_matrix([r.spec], r.batch) for r in rows])
    y = np.array([r.latency_ms for r in rows])
    whole = np.array([0.0 if r.table.startswith(("Table 1", "Table 2", "Table 3", "Table 4", "Appendix")) else 1.0
                      for r in rows])
    return X, y, whole, rows


def fit_published_profile(name: str) -> Profile:
    """The paper's device profile (`arm`, `gpu-1080ti`) from its published measurements.

    The tied roofline (one GEMM throughput, one memory bandwidth, depthwise, dense-conv and per-op terms)
    is fit on Tables 1-4 and Appendix Table 1b (stacks of blocks without an input or output stage, so no
    per-network constant) and the one whole network whose speed is given (ShuffleNet v2 1x, Table 8),
    which alone fixes the per-network constant. Leave-one-table-out errors are stored as its evaluation.
    """
    platform = builtin_platforms()[name]
    X, y, whole, rows = published_training(name)
    tables = sorted({r.table for r in rows})

    def fit(mask: np.ndarray) -> RooflinePredictor:
        p = RooflinePredictor(PUBLISHED_DESIGN[name])
        p.fit_features(X[mask], y[mask], intercept=whole[mask])
        p.batch = platform.batch
        return p

    full = fit(np.ones(len(y), bool))
    oof = np.zeros(len(y))
    unidentified: dict[str, list[str]] = {}
    names, T = design_matrix(full.design)
    support = (X @ T.T) > 0
    for t in tables:
        test = np.array([r.table == t for r in rows])
        # a term the held-out table uses but fewer than 2 remaining rows inform is not identified without it
        lost = [n for j, n in enumerate(names) if support[test, j].any() and support[~test, j].sum() < 2]
        if lost:
            unidentified[t] = lost
        p = fit(~test)
        oof[test] = p.predict_features(X[test]) - p.intercept_ms * (1 - whole[test])
    keep = np.array([r.table not in unidentified for r in rows])
    anchor = reference_spec("shufflenet_v2_x1_0")
    flops = FlopsPredictor.proportional(cost(anchor).flops_m * platform.batch, float(y[whole == 1][0]),
                                        platform.batch)
    # The error every estimate carries: leave-one-table-out over all tables (a table whose removal leaves a term
    # identified by fewer than 2 rows, e.g. the only table of dense 3x3 convs, is scored too: that is what the
    # profile knows about it); the tables whose removal keeps every term identified, and the in-sample fit,
    # are stored next to it.
    evaluation = {"roofline": {**accuracy(oof, y).to_dict(),
                               "identified_tables": accuracy(oof[keep], y[keep]).to_dict(),
                               "in_sample": accuracy(full.predict_features(X) - full.intercept_ms * (1 - whole),
                                                     y).to_dict(),
                               "held_out_tables_not_scored": unidentified}}
    provenance = {"source": "published", "paper": "Ma et al., ShuffleNet V2, ECCV 2018",
                  "tables": tables, "rows": len(rows),
                  "fit": f"{PUBLISHED_DESIGN[name]} roofline on micro-benchmarks (no per-network constant) + the "
                         f"Table 8 anchor", "excluded": PUBLISHED_EXCLUDED.get(name, {}),
                  "terms_ms_per_unit": full.terms(), "per_network_constant_ms": full.intercept_ms,
                  "choices": sorted({r.note for r in rows if r.note})}
    method = (f"leave-one-table-out over all {len(tables)} published tables ({len(rows)} measurements)"
              + (f"; without {', '.join(unidentified)} (the only data for "
                 f"{', '.join(sorted({n for v in unidentified.values() for n in v}))}) it is "
                 f"{accuracy(oof[keep], y[keep]).rmspe:.1%}" if unidentified else ""))
    return Profile(platform, {"roofline": full, "flops": flops}, "roofline", evaluation, method, provenance)


def evaluate_profile(profile: Profile, data: TrainingSet) -> dict[str, tuple[np.ndarray, dict[str, float]]]:
    """Every predictor of `profile` on networks it may not have seen: (predictions, accuracy) per kind."""
    if data.batch != profile.platform.batch:
        raise TimingsError(f"the timings are at batch {data.batch}, platform {profile.platform.name} at batch "
                           f"{profile.platform.batch}")
    y = np.asarray(data.latency_ms, dtype=float)
    out = {}
    for kind, pred in profile.predictors.items():
        p = pred.predict(list(data.specs))
        out[kind] = (p, accuracy(p, y).to_dict())
    return out

"""metadata.json of an export: what the network is, where it comes from, its latency (with kind, platform, runtime
and predictor error), its accuracy (with evaluator and metric), the data it expects, checks and versions."""

from __future__ import annotations

import platform as _platform
from dataclasses import asdict, fields
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from typing import Any

from search_space.cost import cost
from search_space.spec import NetSpec

from nas.views.export.check import CheckResult
from nas.views.train.checkpoint import TrainedWeights
from nas.views.source import LatencyRecord, Source


SCHEMA = "shufflenas-export"
SCHEMA_VERSION = 1
PACKAGES = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy", "optuna", "shufflenas")
FORM = ("inference: BatchNorm folded into the convolutions, merged concat + channel shuffle + split, channels-last "
        "weights")


def versions() -> dict[str, str | None]:
    """Versions of Python and of the packages an export depends on (None: not installed)."""
    out: dict[str, str | None] = {"python": _platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def differences(a: NetSpec, b: NetSpec) -> list[str]:
    """Names of the spec fields in which two networks differ (stages compared as a whole)."""
    if type(a) is not type(b):
        return ["family"]
    return [f.name for f in fields(a) if f.name not in ("name", "_id") and getattr(a, f.name) != getattr(b, f.name)]


def cost_figures(spec: NetSpec) -> dict[str, Any]:
    """Multiply-adds (M), parameters (M), memory access cost (M elements) and fragments of a network."""
    c = cost(spec)
    return {"flops_m": round(c.flops_m, 4), "params_m": round(c.params_m, 5), "mac_m": round(c.mac_m, 4),
            "fragments": c.fragments, "resolution": spec.resolution,
            "note": "FLOPs = multiply-adds, as in the ShuffleNet V2 paper; MAC = memory access cost (G1)"}


def _latency(record: LatencyRecord | None, applies_to: str) -> dict[str, Any] | None:
    return None if record is None else {**record.to_dict(), "label": record.label(), "applies_to": applies_to}


def _weights(weights: TrainedWeights | None, seed: int) -> dict[str, Any]:
    if weights is None:
        return {"trained": False, "status": f"untrained: seeded initialisation (seed {seed}); train it with "
                f"`nas train` and export with --weights"}
    done = f"{weights.epochs_done}/{weights.setup.recipe.epochs} epochs"
    return {"trained": True, "complete": weights.final,
            "status": f"trained {done}" + ("" if weights.final else " (checkpoint of an unfinished run)"),
            "file": str(weights.path.resolve()), "recipe": weights.setup.recipe.to_dict(), "seed": weights.setup.seed}


def _preprocessing(weights: TrainedWeights | None) -> dict[str, Any] | None:
    if weights is None:
        return None
    t = weights.task
    return {"resolution": t.resolution, "channels": t.channels, "mean": list(t.mean), "std": list(t.std),
            "steps": ["pixels / 255 (uint8 -> [0, 1])", f"bilinear resize to {t.resolution}x{t.resolution} "
                      f"(antialiased when shrinking)", "gray -> 3 channels by replication" if t.source_channels == 1
                      and t.channels == 3 else "channels as stored", "(x - mean) / std per channel"]}


def build_metadata(*, source: Source, spec: NetSpec, fmt: str, model_file: str, weights: TrainedWeights | None,
                   seed: int, checks: list[CheckResult], exported_latency: LatencyRecord | None,
                   extra_model: dict[str, Any] | None = None, spec_file: str = "spec.json",
                   metadata_file: str = "metadata.json") -> dict[str, Any]:
    """The metadata.json object of an export of `spec` (the network in the model file) chosen as `source`; `files`
    names the three files (siblings: model.onnx, spec.json, metadata.json in a folder, or m.onnx, m.spec.json,
    m.metadata.json)."""
    searched = source.spec
    differs = differences(searched, spec)
    same = not differs
    where = f"{searched.label()} at {searched.resolution} px"
    kind = "searched network" if source.origin.kind == "study" else "network"
    latency = _latency(source.latency, f"the {kind} ({where})")
    notes = list(source.notes)
    if not same:
        notes.append(f"the exported network is the searched body at the training input ({spec.resolution} px); it "
                     f"differs from the searched network in {', '.join(differs)}")
    accuracy_final = None
    if weights is not None:
        accuracy_final = {"test_accuracy": weights.test_accuracy, "val_accuracy": weights.val_accuracy,
                          "metric": "top-1 accuracy", "split": "test (used once, after training)" if weights.final
                          else "validation (training not finished)", "dataset": weights.setup.dataset,
                          "resolution": weights.setup.resolution, "epochs": weights.epochs_done,
                          "test_examples": weights.task.test_examples}
    task = weights.task if weights is not None else source.proxy_task
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": fmt,
        "files": {"model": model_file, "spec": spec_file, "metadata": metadata_file},
        "model": {"arch_id": spec.arch_id, "name": spec.name, "family": spec.family, "form": FORM,
                  "input": {"name": "input", "shape": ["batch", spec.in_channels, spec.resolution, spec.resolution],
                            "dtype": "float32", "layout": "NCHW"},
                  "output": {"name": "output", "shape": ["batch", spec.num_classes], "meaning": "class logits"},
                  **(extra_model or {})},
        "cost": cost_figures(spec),
        "weights": _weights(weights, seed),
        "preprocessing": _preprocessing(weights),
        "class_names": list(weights.class_names) if weights is not None else None,
        "source": {**asdict(source.origin), "description": source.origin.describe(),
                   "searched_arch_id": searched.arch_id, "searched_resolution": searched.resolution,
                   "same_network_as_searched": same, "differs_in": differs,
                   "searched_cost": None if same else cost_figures(searched)},
        "platform": source.platform or ({"name": source.latency.platform, "runtime": source.latency.runtime}
                                        if source.latency else None),
        "budget_ms": source.latency.budget_ms if source.latency else None,
        "budget": source.latency.budget if source.latency else None,
        "within_budget": source.latency.within_budget if source.latency else None,
        "latency": latency,
        "latency_exported": _latency(exported_latency, f"the exported network ({spec.label()} at {spec.resolution} "
                                                       f"px)") if not same else latency,
        "accuracy": {"search": source.accuracy.to_dict() if source.accuracy else None, "final": accuracy_final},
        "dataset": weights.setup.dataset if weights is not None else source.dataset,
        "proxy_task": task.to_dict() if task is not None else None,
        "checks": [c.to_dict() | {"description": c.describe()} for c in checks],
        "notes": notes,
        "versions": versions(),
    }

"""Latency predictors on this CPU: accuracy against repeated measurements, harness noise, drift, throughput.

Data: benchmarks/collect_cpu_timings.sh (300 random networks of the default space + every reference network,
each measured in two rounds minutes apart; the blocks of 60 of them timed alone). Every predictor is scored
by repeated 5-fold cross-validation over networks against the mean of the two (drift-corrected)
measurements; a per-block predictor never sees the blocks of its held-out networks. The FLOPs-only baseline
is scored on the same rows.

    python benchmarks/latency_predictors.py [--data benchmarks/data] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from latency_models.dataset import drift_of, network_table, repeat_noise, training_set
from latency_models.evaluate import accuracy, cross_val_predictions
from latency_models.features import feature_matrix
from latency_models.fitting import covered_subset, predictor_factory
from latency_models.predictors import TrainingSet
from latency_models.timings import load_timings
from search_space.space import SearchSpace

RUNTIMES = {"onnxruntime": ("cpu-onnxruntime-networks.csv", "cpu-onnxruntime-units.csv"),
            "torch": ("cpu-torch-networks.csv", None)}


def noise_report(t) -> dict:
    out = {}
    for corrected in (False, True):
        med, p90, n = repeat_noise(network_table([t], corrected))
        out["drift_corrected" if corrected else "raw"] = {"median": med, "p90": p90, "n": n}
    d = drift_of(t.frame)
    out["drift"] = d.to_dict() if d else None
    return out


def cv_report(data: TrainingSet, kinds: list[str], repeats: int) -> dict:
    """Out-of-fold accuracy of each kind; per-block kinds (and, for comparison, every kind) also on the
    networks their unit timings cover."""
    out = {}
    sub = covered_subset(data) if data.units else None
    for kind in kinds:
        block_kind = kind in ("lut", "learned")
        for name, d in ((kind, data if not block_kind else None),
                        (f"{kind} [units covered]", sub)):
            if d is None or (name.endswith("covered]") and sub is None):
                continue
            t0 = time.perf_counter()
            oof = cross_val_predictions(predictor_factory(kind), d, folds=5, seed=0, repeats=repeats)
            out[name] = {**accuracy(oof, np.asarray(d.latency_ms)).to_dict(), "seconds": time.perf_counter() - t0}
    return out


def throughput(data: TrainingSet, n: int = 20000) -> dict:
    """Predictions per second of the roofline: from fresh specs (cost model + features) and from features."""
    pred = predictor_factory("roofline")().fit(data)
    rng = np.random.default_rng(123)
    space = SearchSpace.default()
    specs = [space.sample(rng) for _ in range(2000)]
    t0 = time.perf_counter()
    X = feature_matrix(specs)
    pred.predict_features(X)
    end_to_end = len(specs) / (time.perf_counter() - t0)
    Xb = np.repeat(X, n // len(specs) + 1, axis=0)[:n * 10]
    t0 = time.perf_counter()
    pred.predict_features(Xb)
    vectorised = len(Xb) / (time.perf_counter() - t0)
    return {"end_to_end_per_s": end_to_end, "from_features_per_s": vectorised}


def alignment_probe() -> dict:
    """ONNX Runtime depthwise 7x7 at 24x24, 1 thread: ms per run at 76, 78 and 80 channels."""
    import onnxruntime as ort
    import torch

    from latency_models.backends.onnx_export import export_onnx

    out = {}
    for c in (76, 78, 80):
        m = torch.nn.Conv2d(c, c, 7, 1, 3, groups=c).eval()
        x = torch.randn(1, c, 24, 24)
        path = Path(f"/tmp/dw{c}.onnx")
        export_onnx(m, x, str(path))
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        feed = {s.get_inputs()[0].name: x.numpy()}
        for _ in range(20):
            s.run(None, feed)
        ts = []
        for _ in range(200):
            t0 = time.perf_counter()
            s.run(None, feed)
            ts.append(time.perf_counter() - t0)
        out[c] = float(np.median(ts) * 1e3)
        path.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("benchmarks/data"))
    ap.add_argument("--repeats", type=int, default=3, help="differently seeded 5-fold splits")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    summary: dict = {}
    for runtime, (net_file, unit_file) in RUNTIMES.items():
        if not (args.data / net_file).exists():
            print(f"[{runtime}] {net_file} missing; skipped")
            continue
        t = load_timings(args.data / net_file)
        files = [t] + ([load_timings(args.data / unit_file)] if unit_file and (args.data / unit_file).exists() else [])
        data = training_set(files)
        kinds = ["flops", "roofline"] + (["lut", "learned"] if data.units else [])
        res = {"networks": len(data.specs), "units": len(data.units), "noise": noise_report(t),
               "accuracy": cv_report(data, kinds, args.repeats)}
        if runtime == "onnxruntime":
            res["throughput"] = throughput(data)
            res["alignment_probe_ms"] = alignment_probe()
        summary[runtime] = res
        nz = res["noise"]
        print(f"\n== {runtime}: {res['networks']} networks, {res['units']} blocks timed alone "
              f"({t.meta.cpu_model}, {t.meta.platform.threads} thread, batch {t.meta.platform.batch})")
        d = nz["drift"]
        if d:
            print(f"drift reference: {d['n']} timings, spread {d['spread']:.1%}, last/first round {d['round_ratio']:.3f}"
                  f"{' (flagged)' if d['flagged'] else ''}")
        for k in ("raw", "drift_corrected"):
            print(f"repeat noise |m1/m2-1| ({k}): median {nz[k]['median']:.2%}, p90 {nz[k]['p90']:.2%} "
                  f"over {nz[k]['n']} networks")
        print(f"{'predictor':26s} {'n':>4s} {'±5%':>7s} {'±10%':>7s} {'RMSPE':>7s} {'max':>7s} {'Spearman':>9s}")
        for kind, a in res["accuracy"].items():
            print(f"{kind:26s} {a['n']:4d} {a['within_5pct']:7.1%} {a['within_10pct']:7.1%} {a['rmspe']:7.2%} {a['max_ape']:7.1%} "
                  f"{a['spearman']:9.3f}")
        if "throughput" in res:
            tp = res["throughput"]
            print(f"roofline throughput: {tp['end_to_end_per_s']:,.0f} archs/s from specs, "
                  f"{tp['from_features_per_s']:,.0f} archs/s from feature vectors")
            print("ONNX Runtime depthwise 7x7 @24x24 by channels: " +
                  ", ".join(f"{c}: {ms:.3f} ms" for c, ms in res["alignment_probe_ms"].items()))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

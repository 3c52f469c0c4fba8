"""Does the search beat the hand design? On this CPU (ONNX Runtime, 1 thread, batch 1, 224x224 deployment).

1. budget = measured latency of shufflenet_v2_x1_0 at 224x224 on the `cpu` platform (median of 3 measurements);
2. `nas search --platform cpu --budget <that>` with short proxy training (at most --search-minutes);
3. the best architecture within the budget (by its *measured* latency: the search measures its Pareto
   members) and the hand-designed ShuffleNet v2 0.5x/1x/1.5x/2x are trained with the same recipe
   (`nas train`, same epochs, seed and input) on Fashion-MNIST and scored on its test set;
4. all candidates are measured again side by side (interleaved rounds) and the table is printed.

    python benchmarks/search_vs_handdesigned.py [--search-minutes 60] [--epochs 8] [--out runs/svh]

The cpu profile used by the search is the one in $NAS_HOME (made on first use), or is fit from
--timings files (e.g. benchmarks/data/cpu-onnxruntime-networks.csv) when given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from latency_models.fitting import fit_from_timings
from latency_models.measure import MeasureSettings, backend_for, resolve_platform, time_interleaved
from latency_models.profiles import find_profile
from search_space.cost import cost
from search_space.references import reference_spec
from search_space.spec import spec_from_json

HAND = ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")


def nas(*args: str) -> dict:
    """Run a `nas` command with --json and return its output."""
    out = subprocess.run([sys.executable, "-m", "nas.cli.main", *args, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"nas {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def test_accuracy(metrics: dict) -> float:
    """The final test accuracy in a `nas train` metrics.json."""
    return metrics["final"]["test_accuracy"]


def trained_epochs(metrics: dict) -> int:
    return metrics["final"]["epochs"]


def measured_side_by_side(specs: dict[str, object], rounds: int = 5) -> dict[str, float]:
    """Median ms of each network over `rounds` interleaved rounds (each round: every network once)."""
    platform = resolve_platform("cpu")
    backend = backend_for(platform)
    settings = MeasureSettings.of(platform)
    prepared = {k: backend.prepare(s, (platform.batch, 3, s.resolution, s.resolution), platform, k)
                for k, s in specs.items()}
    try:
        runs: dict[str, list[float]] = {k: [] for k in specs}
        for _ in range(rounds):
            for k, t in zip(prepared, time_interleaved(backend, list(prepared.values()), settings)):
                runs[k].append(t.latency_ms)
    finally:
        for p in prepared.values():
            p.close()
    return {k: float(np.median(v)) for k, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--search-minutes", type=float, default=60.0)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--train-examples", type=int, default=8000, help="per search trial (proxy task)")
    ap.add_argument("--val-examples", type=int, default=2000, help="validation images of the proxy task")
    ap.add_argument("--search-epochs", type=int, default=1, help="proxy training epochs per search trial")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/search_vs_handdesigned"))
    ap.add_argument("--timings", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    if args.timings:
        fit_from_timings("cpu", [str(t) for t in args.timings]).save()
    elif find_profile("cpu") is None:
        print("no cpu profile yet: the search will measure this machine first (a few minutes)")

    storage = str(args.out / "search.db")
    search_file = args.out / "search.json"
    if search_file.exists():  # a rerun after an interruption keeps the finished search
        res = json.loads(search_file.read_text())
        budget = res["budget_ms"]
        print(f"reusing the search in {search_file} (budget {budget:.3f} ms)")
    else:
        budget = measured_side_by_side({"ref": reference_spec("shufflenet_v2_x1_0")}, rounds=3)["ref"]
        print(f"budget = measured latency of shufflenet_v2_x1_0 at 224x224 on cpu (ONNX Runtime): {budget:.3f} ms")
        res = nas("search", "--platform", "cpu", "--budget", f"{budget:.4f}ms", "--trials", str(args.trials),
                  "--timeout", str(args.search_minutes * 60), "--train-examples", str(args.train_examples),
                  "--val-examples", str(args.val_examples), "--epochs", str(args.search_epochs),
                  "--seed", str(args.seed), "--storage", storage)
        search_file.write_text(json.dumps(res, indent=1))
    best = res["best"]
    if best is None:
        raise SystemExit("the search found no architecture within the budget")
    print(f"search: {res['trials']}; best {best['arch_id']} accuracy {best['accuracy']:.4f} (proxy), "
          f"{best['latency_ms']:.3f} ms {best['latency_kind']}")

    found = spec_from_json(json.dumps(best["spec"])).with_name(f"found_{best['arch_id']}")
    nets = {"found": found, **{h: reference_spec(h) for h in HAND}}
    results = {}
    for key, spec in nets.items():
        spec_file = args.out / f"{key}.json"
        spec_file.write_text(spec.to_json(indent=2))
        metrics = args.out / f"train-{key}" / "metrics.json"
        if metrics.exists() and trained_epochs(m := json.loads(metrics.read_text())) == args.epochs:
            results[key] = m  # trained by an earlier, interrupted run
            print(f"reusing {metrics}")
            continue
        m = nas("train", "--arch", str(spec_file), "--dataset", "fashion-mnist", "--epochs", str(args.epochs),
                "--resolution", "32", "--seed", str(args.seed), "--out", str(args.out / f"train-{key}"))
        results[key] = m
        print(f"trained {key}: test accuracy {test_accuracy(m)}")
    latency = measured_side_by_side(nets)
    print(f"\n{'network':22s} {'MFLOPs':>8s} {'measured ms':>12s} {'vs budget':>10s} {'test acc':>9s}")
    rows = []
    for key, spec in nets.items():
        acc = test_accuracy(results[key])
        rows.append({"network": key, "arch_id": spec.arch_id, "mflops": cost(spec).flops_m, "latency_ms": latency[key],
                     "test_accuracy": acc})
        print(f"{key:22s} {cost(spec).flops_m:8.1f} {latency[key]:12.3f} {latency[key] / budget:10.3f} {acc:9.4f}")
    (args.out / "summary.json").write_text(json.dumps({"budget_ms": budget, "rows": rows, "search": res}, indent=1))
    f, h = rows[0], rows[2]
    print(f"\nfound vs shufflenet_v2_x1_0: {100 * (f['test_accuracy'] - h['test_accuracy']):+.2f} points at "
          f"{f['latency_ms'] / h['latency_ms']:.3f}x its measured latency")


if __name__ == "__main__":
    main()

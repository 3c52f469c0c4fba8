"""Search vs FLOPs-guided search vs the hand design, at the measured latency of ShuffleNet v2 references.

For each budget (a ShuffleNet v2 reference, `--budgets 0.5x,1x`), on `--platform cpu` (ONNX Runtime, 1 thread,
batch 1, measured here) or `--platform arm` (the paper's phone: latencies *predicted* by its calibrated profile,
labelled so):

  budget  the reference's latency at the deployment input (cpu: median over interleaved rounds; arm: predicted)
  (a)     `nas search --budget <the reference>`           the latency-constrained search (in-loop measurements
                                                          put on the budget's time frame: the reference is
                                                          timed beside every candidate)
  (b)     `nas search --budget <the reference's MFLOPs>`  the FLOPs-constrained search (the paper's straw man)
  (c)     the reference itself

The best network within the budget of (a) and of (b), and (c), are trained from scratch with one recipe (`nas
train`'s, through nas.views.finals.seed_run) on the full training split with seeds 0..n-1 (more, up to
--max-seeds, while the gain of (a) over (c) is positive but under two standard errors), and scored on the test
split; their latencies are then measured again side by side in interleaved rounds (cpu) or predicted (arm).
Per budget it prints MFLOPs, latency, mean ± std test accuracy, n, each gain over (c) with its standard error
(sqrt(s1²/n1 + s2²/n2)) and whether the targets are met:
  - (a) >= 0.5 points more accurate than (c), at <= (c)'s latency, with the gain >= 2 standard errors;
  - (a) ahead of (b) at equal latency: more accurate at no more than (b)'s latency (+3% measurement noise), or
    (b) misses the latency budget (the reference's latency, measured beside them) while (a) meets it (both +3%).

Everything is kept under --out (a JSON per finished step, the studies in studies.db, each training run in its
own folder), so a rerun with the same flags continues where an interrupted one stopped. Tables:
OUT/results.md and OUT/results.json.

    python benchmarks/search_vs_handdesigned.py --out runs/svh [--platform cpu|arm] [--budgets 0.5x,1x]
        [--evaluator train|supernet --supernet FILE] [--rungs 3 --eta 3] [--trials 200 --search-minutes 40]
        [--final-epochs 8 --seeds 3 --max-seeds 6] [--timings benchmarks/data/cpu-onnxruntime-networks.csv ...]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from latency_models.fitting import fit_from_timings
from latency_models.measure import resolve_platform, time_side_by_side
from latency_models.profiles import find_profile, require_profile
from nas.cli.search import results_json, trial_line
from nas.data import load_dataset
from nas.evaluators import evaluator_search_options
from nas.search.api import Hooks, search
from nas.search.budget import TimeFrame
from nas.search.config import SearchConfig
from nas.search.record import CostSummary
from nas.views.finals import seed_run
from nas.views.train.checkpoint import CHECKPOINT_FILE, FINAL_FILE
from nas.views.source import source_from_arch, source_from_study
from nas.views.train.recipe import Recipe
from search_space.references import reference_spec
from search_space.spec import ArchSpec, spec_from_json

SCALES = {"0.5x": "shufflenet_v2_x0_5", "1x": "shufflenet_v2_x1_0", "1.5x": "shufflenet_v2_x1_5",
          "2x": "shufflenet_v2_x2_0"}
PLATFORMS = ("cpu", "arm")
TARGET_POINTS = 0.5   # (a) at least this many points above (c)
TARGET_SES = 2.0      # ... with the gain at least this many standard errors
NOISE = 0.03          # latency comparisons of (a) and (b) allow this much measurement noise


# ------------------------------------------------------------------------------------------------ state
class State:
    """The benchmark's folder: one JSON file per finished step (written atomically), read back by a rerun."""

    def __init__(self, out: Path):
        self.out = out
        out.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.out / f"{name}.json"

    def get(self, name: str) -> Any:
        p = self.path(name)
        return json.loads(p.read_text()) if p.is_file() else None

    def put(self, name: str, value: Any) -> Any:
        tmp = self.path(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(value, indent=1, default=str))
        tmp.replace(self.path(name))
        return value

    def step(self, name: str, make: Callable[[], Any]) -> Any:
        """The stored result of step `name`, or `make()`'s, stored."""
        done = self.get(name)
        if done is not None:
            print(f"[{name}] done earlier: {self.path(name)}")
            return done
        return self.put(name, make())


# ------------------------------------------------------------------------------------------------ latency
def measured_side_by_side(specs: dict[str, ArchSpec], platform_name: str, rounds: int) -> dict[str, float]:
    """Median ms of each network over `rounds` interleaved rounds (each round: every network, rotating order)."""
    per_round = time_side_by_side(list(specs.values()), resolve_platform(platform_name), rounds)
    return {k: float(np.median([r[i].latency_ms for r in per_round])) for i, k in enumerate(specs)}


def latencies(specs: dict[str, ArchSpec], platform: str, rounds: int) -> dict[str, dict[str, Any]]:
    """{key: {latency_ms, kind, note}}: measured side by side on cpu, predicted by the profile on arm."""
    if platform == "cpu":
        ms = measured_side_by_side(specs, platform, rounds)
        return {k: {"latency_ms": v, "kind": "measured", "note": f"median of {rounds} interleaved rounds"}
                for k, v in ms.items()}
    profile = require_profile(platform)
    out = {}
    for k, s in specs.items():
        est = profile.estimate(s)
        err = f" ±{est.error_rmspe * 100:.0f}% RMSPE" if est.error_rmspe is not None else ""
        out[k] = {"latency_ms": est.latency_ms, "kind": "predicted",
                  "note": f"{platform} profile ({est.runtime}, {est.predictor}{err}; calibrated from published "
                          f"measurements)"}
    return out


# ------------------------------------------------------------------------------------------------ statistics
def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else math.nan)


def gain(a: list[float], b: list[float]) -> tuple[float, float]:
    """(mean(a) - mean(b), its standard error sqrt(sa²/na + sb²/nb)), in points (x100)."""
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    se = math.sqrt(sa ** 2 / len(a) + sb ** 2 / len(b)) if len(a) > 1 and len(b) > 1 else math.nan
    return 100 * (ma - mb), 100 * se


# ------------------------------------------------------------------------------------------------ steps
@dataclass(frozen=True)
class Row:
    """One network of a budget's table: (a) latency search, (b) FLOPs search, (c) the reference."""

    key: str
    label: str
    spec: ArchSpec
    run_name: str
    source: Callable[[], Any]
    selection: tuple[str, ...]  # the same network as `nas train` options (--arch N, or --storage --study --trial)


def budget_names(text: str) -> list[str]:
    names = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name = SCALES.get(part, part)
        reference_spec(name)  # unknown name: one line from the registry
        names.append(name)
    if not names:
        raise SystemExit("--budgets: give at least one reference, e.g. 0.5x,1x")
    return names


def deployment(name: str, resolution: int, num_classes: int) -> ArchSpec:
    return reference_spec(name).with_resolution(resolution).with_classes(num_classes)


def run_search(args: argparse.Namespace, state: State, storage: str, key: str, budget_ms: float | None,
               budget_mflops: float | None, frame: TimeFrame) -> dict[str, Any]:
    """The search of step `key` (resumed from the study when it was interrupted), as `nas search --json` prints it.
    Its in-loop measurements are put on `frame` (the reference as timed for the budget), as `nas search --budget
    <reference>` does: the reference is timed beside each candidate, so drift after the budget step cannot move
    the budget."""
    def make() -> dict[str, Any]:
        options = evaluator_search_options(args.evaluator, {"supernet": args.supernet, "bn_batches": args.bn_batches})
        config = SearchConfig(platform=args.platform, budget_ms=budget_ms, budget_mflops=budget_mflops,
                              evaluator=args.evaluator, evaluator_options=options, dataset=args.dataset,
                              resolution=args.resolution, proxy_resolution=args.proxy_resolution,
                              train_examples=args.train_examples, val_examples=args.val_examples,
                              trials=args.trials, timeout_s=args.search_minutes * 60 or None, seed=args.seed,
                              workers=args.workers, pruner=args.pruner, sampler=args.sampler,
                              epochs=args.search_epochs, rungs=args.rungs, eta=args.eta,
                              measure_in_loop=args.measure_in_loop, references=args.study_references,
                              budget_frame=frame.network, budget_frame_ms=frame.ms)
        print(f"[{key}] nas search --platform {config.platform} --budget {config.budget.text()} "
              f"(evaluator {config.evaluator}, {config.trials} trials, at most {args.search_minutes:g} min)")
        res = search(config, storage, key, hooks=Hooks(on_trial=lambda r: print(f"  {trial_line(r)}", flush=True)))
        return results_json(res)

    out = state.step(key, make)
    if out["best"] is None:
        budget = f"{out['budget']['value']:g} {out['budget']['unit']}"
        raise NothingFound(f"[{key}] the search found no network within {budget} ({out['trials']}); delete "
                           f"{state.path(key)} and rerun with more --trials to search again")
    b = out["best"]
    print(f"[{key}] best {b['arch_id']} (trial {b['trial']}): proxy {b['accuracy']:.4f}, {b['flops_m']:.1f} MFLOPs, "
          f"{b['latency_ms']:.3f} ms {b['latency_kind']}; trials {out['trials']}")
    return out


class NothingFound(Exception):
    """A search of a budget ended with no evaluated network within it (that budget gets no table)."""


def train_rows(args: argparse.Namespace, state: State, rows: list[Row], seeds: list[int]) -> dict[str, list[float]]:
    """Test accuracy of each row for `seeds` (each run resumable; each row's figures stored after every run).
    With --jobs > 1 the missing runs first go as that many `nas train` processes at once (the same runs: seed_run
    then reads each back); a failed process stops the benchmark with its output's tail."""
    recipe = Recipe(epochs=args.final_epochs, **({"batch_size": args.batch_size} if args.batch_size else {}))
    runs = state.out / f"runs-e{args.final_epochs}-n{args.final_train_examples or 'all'}"
    names = {row.key: f"train-{row.run_name}-e{args.final_epochs}-n{args.final_train_examples or 'all'}"
             for row in rows}
    stored = {}
    for row in rows:
        done = state.get(names[row.key]) or {"seeds": [], "test_accuracy": []}
        stored[row.key] = dict(zip(done["seeds"], done["test_accuracy"]))
    missing = [(row, seed) for row in rows for seed in seeds if seed not in stored[row.key]]
    if args.jobs > 1 and missing:
        with ThreadPoolExecutor(args.jobs) as pool:
            for done_line in pool.map(lambda rs: train_process(args, rs[0], runs, rs[1]), missing):
                print(f"  {done_line}", flush=True)
    out = {}
    for row in rows:
        acc = stored[row.key]
        for seed in seeds:
            if seed in acc:
                continue
            t0 = time.perf_counter()
            acc[seed] = seed_run(row.source, run_dir(runs, row, seed), seed, recipe,
                                 args.final_train_examples, args.threads, dataset=args.dataset,
                                 resolution=args.proxy_resolution)
            print(f"  trained {row.label} seed {seed}: test accuracy {acc[seed]:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            state.put(names[row.key], {"seeds": sorted(acc), "test_accuracy": [acc[s] for s in sorted(acc)],
                                       "arch_id": row.spec.arch_id, "epochs": args.final_epochs,
                                       "train_examples": args.final_train_examples})
        out[row.key] = [acc[s] for s in seeds]
    return out


def run_dir(runs: Path, row: Row, seed: int) -> Path:
    """The folder of one final training run."""
    return runs / f"{row.run_name}-seed{seed}"


def train_process(args: argparse.Namespace, row: Row, runs: Path, seed: int) -> str:
    """Run `nas train` for `row` and `seed` into its run folder (resumed when interrupted earlier); one status line."""
    out = run_dir(runs, row, seed)
    nas = shutil.which("nas") or str(Path(sys.executable).with_name("nas"))
    cmd = [nas, "train", *row.selection, "--out", str(out), "--seed", str(seed), "--dataset", args.dataset,
           "--resolution", str(args.proxy_resolution), "--threads", str(args.threads or 1)]
    if (out / CHECKPOINT_FILE).is_file() and not (out / FINAL_FILE).is_file():
        cmd = [nas, "train", "--out", str(out), "--resume", "--threads", str(args.threads or 1)]
    elif not (out / FINAL_FILE).is_file():
        cmd += ["--epochs", str(args.final_epochs)]
        cmd += ["--train-examples", str(args.final_train_examples)] if args.final_train_examples else []
        cmd += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    else:
        return f"{row.label} seed {seed}: done earlier"
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): " + " | ".join(tail))
    return f"{row.label} seed {seed}: trained in {time.perf_counter() - t0:.0f} s (nas train process)"


def decide(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The targets of one budget from its rows (accuracies per seed, latency). The budget is the reference's latency,
    so it is read as (c)'s latency in the same side-by-side measurement (the budget step's figure was timed at
    another moment, at another machine speed)."""
    a, b, c = rows["a"], rows["b"], rows["c"]
    g_ac, se_ac = gain(a["test_accuracy"], c["test_accuracy"])
    g_ab, se_ab = gain(a["test_accuracy"], b["test_accuracy"])
    la, lb, lc = a["latency_ms"], b["latency_ms"], c["latency_ms"]
    beats_ref = g_ac >= TARGET_POINTS and la <= lc and math.isfinite(se_ac) and g_ac >= TARGET_SES * se_ac
    b_misses = lb > lc * (1 + NOISE) and la <= lc * (1 + NOISE)
    ahead = (g_ab > 0 and la <= lb * (1 + NOISE)) or b_misses
    return {"a_vs_reference": {"gain_points": g_ac, "stderr_points": se_ac, "latency_ratio": la / lc,
                               "met": beats_ref},
            "a_vs_flops_search": {"gain_points": g_ab, "stderr_points": se_ab, "latency_ratio": la / lb,
                                  "flops_search_over_budget": lb > lc * (1 + NOISE), "met": ahead}}


def undecided(accs: dict[str, list[float]]) -> bool:
    """Whether more seeds could settle the (a) vs (c) target: a positive gain under TARGET_SES errors."""
    g, se = gain(accs["a"], accs["c"])
    return g > 0 and math.isfinite(se) and g < TARGET_SES * se


def one_budget(args: argparse.Namespace, state: State, storage: str, name: str, budget: dict[str, Any],
               num_classes: int) -> dict[str, Any]:
    ref = deployment(name, args.resolution, num_classes)
    budget_ms, flops = budget["latency_ms"], CostSummary.of(ref).flops_m
    tag = f"{args.platform}-{name}"
    frame = TimeFrame(name, round(budget_ms, 4))
    lat_search = run_search(args, state, storage, f"search-{tag}-latency", frame.ms, None, frame)
    flops_search = run_search(args, state, storage, f"search-{tag}-flops", None, flops, frame)

    def found(res: dict[str, Any], key: str, label: str) -> Row:
        b = res["best"]
        spec = spec_from_json(json.dumps(b["spec"]))
        return Row(key, label, spec, f"found-{b['arch_id']}",
                   lambda: source_from_study(storage, res["study"], trial=b["trial"]),
                   ("--storage", storage, "--study", res["study"], "--trial", str(b["trial"])))

    rows = [found(lat_search, "a", f"(a) latency search ({lat_search['best']['arch_id']})"),
            found(flops_search, "b", f"(b) FLOPs search ({flops_search['best']['arch_id']})"),
            Row("c", f"(c) {name}", ref, name, lambda: source_from_arch(ref, name), ("--arch", name))]
    n = args.seeds
    accs = train_rows(args, state, rows, list(range(n)))
    while n < args.max_seeds and undecided(accs):
        n += 1
        print(f"[{tag}] the gain of (a) over (c) is under {TARGET_SES:g} standard errors: seed {n - 1} for all rows")
        accs = train_rows(args, state, rows, list(range(n)))
    lat = state.step(f"latency-{tag}", lambda: latencies({r.key: r.spec for r in rows}, args.platform,
                                                         args.latency_rounds))
    table = {}
    for r in rows:
        mean, std = mean_std(accs[r.key])
        table[r.key] = {"label": r.label, "arch_id": r.spec.arch_id, "mflops": CostSummary.of(r.spec).flops_m,
                        "latency_ms": lat[r.key]["latency_ms"], "latency_kind": lat[r.key]["kind"],
                        "latency_note": lat[r.key]["note"], "test_accuracy": accs[r.key], "mean": mean, "std": std,
                        "n": len(accs[r.key])}
    for k in ("a", "b"):
        g, se = gain(accs[k], accs["c"])
        table[k]["gain_vs_reference_points"], table[k]["gain_stderr_points"] = g, se
    return {"reference": name, "platform": args.platform, "budget_ms": budget_ms, "budget_kind": budget["kind"],
            "budget_mflops": flops,
            "rows": table, "targets": decide(table),
            "searches": {"latency": summary_of(lat_search), "flops": summary_of(flops_search)}}


def summary_of(res: dict[str, Any]) -> dict[str, Any]:
    return {"study": res["study"], "trials": res["trials"], "best_trial": res["best"]["trial"],
            "best_proxy": res["best"]["accuracy"], "budget": res["budget"]}


# ------------------------------------------------------------------------------------------------ output
def markdown(result: dict[str, Any], args: argparse.Namespace) -> str:
    kind = result["budgets"][0]["budget_kind"] if result["budgets"] else "measured"
    lines = [f"# Search vs FLOPs-guided search vs hand design on `{args.platform}`", "",
             f"Latency: {kind} at {args.resolution}x{args.resolution}, batch 1"
             + (" (the paper's phone, predicted by its calibrated profile)" if args.platform == "arm" else
                " (ONNX Runtime, 1 thread, measured side by side)")
             + f". Final recipe: {args.final_epochs} epochs on "
             f"{args.final_train_examples or 'the full'} training images, {args.proxy_resolution} px, {args.dataset}; "
             f"mean ± std of test accuracy over seeds; gains in points ± standard error.", ""]
    for b in result["budgets"]:
        lines += [f"## Budget: {b['reference']}, {b['budget_ms']:.3f} ms {b['budget_kind']} / "
                  f"{b['budget_mflops']:.1f} MFLOPs", "",
                  "| row | network | MFLOPs | latency ms | test accuracy | n | gain vs (c), points |",
                  "|---|---|---|---|---|---|---|"]
        for k in ("a", "b", "c"):
            r = b["rows"][k]
            g = (f"{r['gain_vs_reference_points']:+.2f} ± {r['gain_stderr_points']:.2f}" if k != "c" else "-")
            lines.append(f"| {k} | {r['label']} | {r['mflops']:.1f} | {r['latency_ms']:.3f} {r['latency_kind']} | "
                         f"{r['mean']:.4f} ± {r['std']:.4f} | {r['n']} | {g} |")
        t = b["targets"]
        ac, ab = t["a_vs_reference"], t["a_vs_flops_search"]
        lines += ["", f"- (a) vs (c): {ac['gain_points']:+.2f} ± {ac['stderr_points']:.2f} points at "
                      f"{ac['latency_ratio']:.3f}x its latency; target (>= {TARGET_POINTS} points, <= its latency, "
                      f">= {TARGET_SES:g} SE): **{'met' if ac['met'] else 'not met'}**",
                  f"- (a) vs (b): {ab['gain_points']:+.2f} ± {ab['stderr_points']:.2f} points at "
                  f"{ab['latency_ratio']:.3f}x its latency"
                  + (f"; (b) is over the latency budget on {args.platform}" if ab["flops_search_over_budget"]
                     else "")
                  + f"; (a) ahead at equal latency: **{'yes' if ab['met'] else 'no'}**", ""]
    for miss in result["not_found"]:
        lines += [f"## Budget: {miss['reference']}", "", f"No table: {miss['why']}", ""]
    return "\n".join(lines)


def print_table(b: dict[str, Any]) -> None:
    print(f"\nbudget {b['reference']}: {b['budget_ms']:.3f} ms {b['budget_kind']} on {b['platform']}, "
          f"{b['budget_mflops']:.1f} MFLOPs")
    print(f"{'row':42s} {'MFLOPs':>7s} {'latency ms':>19s} {'test accuracy':>17s} {'n':>2s} {'gain vs (c)':>16s}")
    for k in ("a", "b", "c"):
        r = b["rows"][k]
        g = f"{r['gain_vs_reference_points']:+.2f} ± {r['gain_stderr_points']:.2f}" if k != "c" else "-"
        print(f"{r['label']:42s} {r['mflops']:7.1f} {r['latency_ms']:9.3f} {r['latency_kind']:>9s} "
              f"{r['mean']:.4f} ± {r['std']:.4f} {r['n']:2d} {g:>16s}")
    ac, ab = b["targets"]["a_vs_reference"], b["targets"]["a_vs_flops_search"]
    print(f"(a) vs (c): {ac['gain_points']:+.2f} ± {ac['stderr_points']:.2f} points at {ac['latency_ratio']:.3f}x "
          f"its latency -> target {'MET' if ac['met'] else 'NOT MET'}")
    print(f"(a) vs (b): {ab['gain_points']:+.2f} ± {ab['stderr_points']:.2f} points at {ab['latency_ratio']:.3f}x "
          f"its latency{'; (b) over the latency budget' if ab['flops_search_over_budget'] else ''} -> "
          f"(a) ahead: {'YES' if ab['met'] else 'NO'}")


# ------------------------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/search_vs_handdesigned"))
    ap.add_argument("--platform", choices=PLATFORMS, default="cpu")
    ap.add_argument("--budgets", default="0.5x,1x", help="references whose latency is a budget: 0.5x, 1x, 1.5x, 2x "
                    "or registered names")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--resolution", type=int, default=224, help="deployment input (latency is for it)")
    search = ap.add_argument_group("search (both searches of a budget run with these)")
    search.add_argument("--evaluator", default=None, help="train (default), supernet (the default with --supernet), "
                        "synflow or naswot")
    search.add_argument("--supernet", default=None, help="file of `nas supernet train` (evaluator supernet)")
    search.add_argument("--bn-batches", type=int, default=None)
    search.add_argument("--trials", type=int, default=200)
    search.add_argument("--search-minutes", type=float, default=40.0, help="per search (0: no limit)")
    search.add_argument("--search-epochs", type=int, default=1, help="proxy training epochs per trial")
    search.add_argument("--train-examples", type=int, default=8000, help="proxy training images per trial")
    search.add_argument("--val-examples", type=int, default=2000, help="proxy validation images")
    search.add_argument("--proxy-resolution", type=int, default=32, help="also the final training's input")
    search.add_argument("--rungs", type=int, default=1)
    search.add_argument("--eta", type=int, default=3)
    search.add_argument("--sampler", default=None)
    search.add_argument("--pruner", default=None)
    search.add_argument("--workers", type=int, default=1)
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--no-measure-in-loop", dest="measure_in_loop", action="store_false")
    search.add_argument("--study-references", choices=("auto", "none"), default="none",
                        help="evaluate the ShuffleNet v2 references in each study too (the table trains (c) itself)")
    final = ap.add_argument_group("final training (the same recipe for every row)")
    final.add_argument("--final-epochs", type=int, default=8)
    final.add_argument("--final-train-examples", type=int, default=None, help="default: the full training split")
    final.add_argument("--seeds", type=int, default=3)
    final.add_argument("--max-seeds", type=int, default=6, help="more seeds while the (a) vs (c) gain is under 2 SE")
    final.add_argument("--batch-size", type=int, default=None)
    final.add_argument("--threads", type=int, default=None)
    final.add_argument("--jobs", type=int, default=1, help="final training runs at once (each its own process; "
                       "--threads each, 1 by default with --jobs > 1)")
    ap.add_argument("--latency-rounds", type=int, default=7, help="interleaved rounds of the side-by-side timing")
    ap.add_argument("--timings", type=Path, nargs="*", default=[], help="fit the cpu profile from these files")
    args = ap.parse_args(argv)
    if args.seeds < 2:
        ap.error("--seeds: at least 2 (a standard error needs two), 3 or more for the targets")
    args.max_seeds = max(args.max_seeds, args.seeds)
    args.evaluator = args.evaluator or ("supernet" if args.supernet else "train")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seeds < 3:
        print(f"note: {args.seeds} seeds; the targets ask for at least 3", file=sys.stderr)
    names = budget_names(args.budgets)
    state = State(args.out)
    storage = str(args.out.absolute() / "studies.db")
    if args.platform == "cpu":
        if args.timings:
            fit_from_timings("cpu", [str(t) for t in args.timings]).save()
        elif find_profile("cpu") is None:
            print("no cpu profile yet: the first search measures this machine first (a few minutes)")
    num_classes = load_dataset(args.dataset).num_classes
    budgets = state.step(f"budgets-{args.platform}-{args.resolution}", lambda: latencies(
        {n: deployment(n, args.resolution, num_classes) for n in SCALES.values()}, args.platform,
        args.latency_rounds))
    for n in names:
        if n not in budgets:
            budgets[n] = latencies({n: deployment(n, args.resolution, num_classes)}, args.platform,
                                   args.latency_rounds)[n]
            state.put(f"budgets-{args.platform}-{args.resolution}", budgets)
    for n in names:
        b = budgets[n]
        print(f"budget {n}: {b['latency_ms']:.3f} ms {b['kind']} on {args.platform} ({b['note']}), "
              f"{CostSummary.of(deployment(n, args.resolution, num_classes)).flops_m:.1f} MFLOPs")
    result: dict[str, Any] = {"platform": args.platform, "budgets": [], "not_found": [],
                              "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    for n in names:
        try:
            result["budgets"].append(one_budget(args, state, storage, n, budgets[n], num_classes))
        except NothingFound as exc:  # the other budgets go on
            print(exc)
            result["not_found"].append({"reference": n, "why": str(exc)})
    for b in result["budgets"]:
        print_table(b)
    for miss in result["not_found"]:
        print(f"\nbudget {miss['reference']}: no table: {miss['why']}")
    (args.out / "results.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / "results.md").write_text(markdown(result, args))
    print(f"\nwrote {args.out / 'results.md'} and {args.out / 'results.json'}")
    return 0 if result["budgets"] else 1


if __name__ == "__main__":
    sys.exit(main())

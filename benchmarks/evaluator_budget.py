"""Trial cost and ranking fidelity of the accuracy evaluators on Fashion-MNIST (CPU, 1 thread by default).

    python benchmarks/evaluator_budget.py budget  [--train 6000] [--resolutions 32 64]
    python benchmarks/evaluator_budget.py ranking [--random 5] [--seeds 0 1]

`budget`: wall time and val accuracy of one short-training trial of the ShuffleNet v2 0.5x / 1x bodies per proxy
resolution. `ranking`: random members of the default space (proxy MFLOPs at most `--max-ratio` x the 1x body, so the
run stays short) plus the 0.5x / 1x bodies, trained with the default budget under several seeds; prints the accuracy
table, the Kendall tau between seeds, and synflow / NASWOT scores with their rank correlation to the trained accuracy.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from nas.data import load_dataset, prepare_proxy
from nas.evaluators import proxy_net
from nas.evaluators import RECOMMENDED_PROXY, make_evaluator, proxy_spec
from search_space.cost import cost
from search_space.references import reference_spec
from search_space.space import SearchSpace

from ranking import kendall_tau  # benchmarks/ranking.py (this script's folder is on sys.path)

REFS = ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0")


def budget(args: argparse.Namespace) -> None:
    ds = load_dataset(args.dataset)
    ev = make_evaluator("train", threads=args.threads, **args.overrides)
    print(f"config: {ev.describe()['config']}")
    for res in args.resolutions:
        data = prepare_proxy(ds, resolution=res, max_train=args.train, max_val=args.val, seed=0)
        for name in REFS:
            spec = reference_spec(name)
            ps = proxy_spec(spec, data.task)
            r = ev.evaluate(spec, data, seed=0)
            print(f"res {res:3d} {name:20s} stem stride {ps.stem_stride} pool {ps.stem_pool} "
                  f"proxy {cost(ps).flops_m:6.1f} MFLOPs  {r.train_seconds:5.1f} s  val acc {r.accuracy:.3f}  "
                  f"history {list(r.history)}", flush=True)


def ranking(args: argparse.Namespace) -> None:
    ds = load_dataset(args.dataset)
    data = prepare_proxy(ds, resolution=RECOMMENDED_PROXY["resolution"], max_train=args.train or
                         RECOMMENDED_PROXY["max_train"], max_val=args.val, seed=0)
    ref_flops = cost(proxy_spec(reference_spec("shufflenet_v2_x1_0"), data.task)).flops_m
    rng = np.random.default_rng(args.arch_seed)
    space = SearchSpace.default()
    specs = []
    while len(specs) < args.random:
        s = space.sample(rng)
        if cost(proxy_spec(s, data.task)).flops_m <= args.max_ratio * ref_flops:
            specs.append(s.with_name(f"random{len(specs)}"))
    specs += [reference_spec(n) for n in REFS]
    train = make_evaluator("train", threads=args.threads, **args.overrides)
    zc = {n: make_evaluator(n, threads=args.threads) for n in ("synflow", "naswot")}
    acc: dict[str, list[float]] = {}
    scores: dict[str, dict[str, float]] = {}
    for spec in specs:
        pf = cost(proxy_spec(spec, data.task)).flops_m
        acc[spec.name] = []
        for seed in args.seeds:
            r = train.evaluate(spec, data, seed=seed)
            acc[spec.name].append(r.accuracy)
            print(f"{spec.name:20s} {spec.arch_id} proxy {pf:6.1f} MFLOPs seed {seed}: val acc {r.accuracy:.3f} "
                  f"{r.train_seconds:5.1f} s history {list(r.history)}", flush=True)
        scores[spec.name] = {}
        for n, ev in zc.items():
            t = time.perf_counter()
            scores[spec.name][n] = ev.evaluate(spec, data, seed=args.seeds[0]).score
            print(f"{'':20s} {n}: {scores[spec.name][n]:.4g} ({time.perf_counter() - t:.2f} s)", flush=True)
    names = list(acc)
    cols = list(zip(*[acc[n] for n in names]))
    print("\naccuracy by seed:")
    for n in names:
        print(f"  {n:20s} " + "  ".join(f"{a:.3f}" for a in acc[n]) + f"   mean {np.mean(acc[n]):.3f}")
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            print(f"Kendall tau seed {args.seeds[i]} vs seed {args.seeds[j]}: {kendall_tau(cols[i], cols[j]):.3f}")
    mean = [float(np.mean(acc[n])) for n in names]
    for z in zc:
        print(f"Kendall tau {z} vs mean accuracy: {kendall_tau([scores[n][z] for n in names], mean):.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("budget", "ranking"))
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--train", type=int, default=None, help="training examples (budget: 6000; ranking: recommended)")
    p.add_argument("--val", type=int, default=RECOMMENDED_PROXY["max_val"])
    p.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    p.add_argument("--random", type=int, default=5)
    p.add_argument("--max-ratio", type=float, default=2.0)
    p.add_argument("--arch-seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--min-final-px", type=int, default=None,
                   help="experiment: override proxy_net.MIN_PROXY_FINAL_PX (the proxy stem rule) for this run")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                   help="experiment: override a TrainingConfig field, e.g. --set lr=0.1")
    args = p.parse_args()
    if args.min_final_px is not None:
        proxy_net.MIN_PROXY_FINAL_PX = args.min_final_px
    args.overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(args.threads)
    if args.mode == "budget":
        args.train = args.train or 6000
        budget(args)
    else:
        ranking(args)


if __name__ == "__main__":
    main()

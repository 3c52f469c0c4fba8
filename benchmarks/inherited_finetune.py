"""Inherited weights, then the proxy's short training: ranks against the stand-alone truth (issue 12).

    python benchmarks/inherited_finetune.py --source runs/rf-ids --out runs/ft --replicas 0 1 2 3 4 [--lr 0.01]
        [--val-examples search|all|N] [--stage score|report|all] [--threads 1]
    python benchmarks/inherited_finetune.py --source runs/rf-ids --out runs/ft runs/ft-2 --stage report  # both

Every network of the rank-fidelity run in --source starts from its path's weights in supernet replica R (the
supernet evaluator's sub-network, BatchNorm re-estimated on 8 batches) and is trained with the proxy column's recipe
(the `train` evaluator at rung 0: one epoch over the search's 4000 training images, its schedule and validation
images, batches ordered by the search seed) at peak learning rate --lr; its validation top-1 (on the search's 1000
images, or --val-examples of the search's validation split) is its score. `report` gives Kendall tau against the
source's stand-alone mean beside the inherited weights alone (the source's columns) and the proxy from scratch.
Scores are kept per network in OUT/state.json (rerun to continue); the source is only read. Several processes may
score different replicas at once, each with its own --out; `report` reads every --out given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.evaluators.training import TrainingEvaluator

# this script's folder is on sys.path
from few_shot import VIEWS, depth_tau, tau_against
from ranking import pick_quality
from rank_fidelity import Context, build_report, fmt, load_state, supernet_evaluator, supernet_ready, view_column, \
    write_json

BN_BATCHES = 8  # the sub-network's BatchNorm before training (training mode uses batch statistics at once)


def column(replica: int, lr: float, val_examples: int | None) -> str:
    """ft-rR-lrX; with another validation size than the search's, -valN (-valall: every validation image)."""
    val = "" if val_examples == 0 else f"-val{val_examples}" if val_examples else "-valall"
    return f"ft-r{replica}-lr{lr:g}{val}"


def load(out: Path) -> dict[str, Any]:
    path = out / "state.json"
    return json.loads(path.read_text()) if path.is_file() else {"scores": {}}


def score_stage(src: Context, out: Path, replicas: list[int], lr: float, threads: int,
                val_examples: int | None) -> None:
    """Score every network with each replica; `val_examples` 0: the search's validation images, None: all of the
    search's validation split, else that many."""
    state = load(out)
    seed = src.cfg["search_seed"]
    data = src.data_at(0) if val_examples == 0 else src.search_data(src.cfg["search_train"], val_examples)
    trainer = TrainingEvaluator(threads=threads, epochs=1, lr=lr)  # rank_fidelity's proxy column, but its lr
    for replica in replicas:
        if not supernet_ready(src, replica):
            sys.exit(f"error: replica {replica} of {src.out} is not trained (rank_fidelity.py --stage supernet)")
        ev = supernet_evaluator(src, BN_BATCHES, replica)
        name = column(replica, lr, val_examples)
        col = state["scores"].setdefault(name, {"supernet_sha256": ev.loaded.sha256, "by_arch": {}})
        if col["supernet_sha256"] != ev.loaded.sha256:
            sys.exit(f"error: {out} scored another file as replica {replica}; give another --out")
        for arch, spec in src.specs():
            if arch["arch_id"] in col["by_arch"]:
                continue
            t0 = time.perf_counter()
            net = ev.subnet(spec, data, seed).train()
            res = trainer.train(net, data, seed=seed)
            col["by_arch"][arch["arch_id"]] = {"score": res.score, "seconds": time.perf_counter() - t0}
            out.mkdir(parents=True, exist_ok=True)
            write_json(state, out / "state.json")
            print(f"{name} {arch['name']:20s} {res.score:.4f} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)


def build(src: Context, outs: list[Path]) -> dict[str, Any]:
    truth = {r["arch_id"]: r["truth_mean"] for r in build_report(src)["rows"] if r["truth_mean"] is not None}
    specs = src.specs()
    cols: dict[str, dict[str, float]] = {}
    for out in outs:
        ft = load(out)["scores"]
        for name in sorted(ft, key=lambda n: (n.split("-", 2)[2], n)):  # by setting, then replica
            cols[name] = {k: v["score"] for k, v in ft[name]["by_arch"].items()}
    for name in ["proxy"] + [view_column(r, b) for r in range(src.cfg.get("sn_replicas", 1)) for b in VIEWS]:
        got = src.state["scores"].get(name)
        if got:
            cols[name] = {k: v["score"] for k, v in got.items()}
    ids = sorted(truth)
    rows = []
    for name, scores in cols.items():
        if len(set(scores) & set(truth)) < len(truth):
            continue
        tau, interval = tau_against(truth, scores)
        mine = [scores[i] for i in ids]
        rows.append({"column": name, "tau": tau, "interval_90": interval,
                     "depth_tau": [depth_tau(specs, scores, s) for s in range(3)],
                     "mean_score": float(np.mean(mine)), "sd_score": float(np.std(mine, ddof=1)),
                     "pick": pick_quality(mine, [truth[i] for i in ids])})
    return {"source": str(src.out), "networks": len(truth), "rows": rows, "means": arm_means(rows),
            "truth_depth_tau": [depth_tau(specs, truth, s) for s in range(3)]}


def arm_means(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and range of tau over the replicas of each setting ("ft lr0.01": ft-r0-lr0.01, ft-r1-lr0.01, ...)."""
    by_lr: dict[str, list[float]] = {}
    for r in rows:
        if r["column"].startswith("ft-"):
            by_lr.setdefault("ft " + r["column"].split("-", 2)[2], []).append(r["tau"])
    return {k: {"replicas": len(v), "mean": float(np.mean(v)), "range": float(np.ptp(v))} for k, v in by_lr.items()}


def render(rep: dict[str, Any]) -> str:
    lines = ["# Inherited weights + the proxy's training, against inherited weights alone and the proxy", "",
             f"Source: {rep['source']} ({rep['networks']} networks with their stand-alone mean). ft-rR-lrX: replica "
             f"R's path weights, then 1 epoch x 4000 images at peak lr X (the proxy's recipe otherwise).", "",
             "| column | tau | 90% interval | tau of depth s0 / s1 / s2 with the score | score: mean (sd) | "
             "its pick: truth (rank) |",
             "|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        lo, hi = r["interval_90"]
        lines.append(f"| {r['column']} | {fmt(r['tau'])} | {fmt(lo)} to {fmt(hi)} | "
                     f"{' / '.join(fmt(x) for x in r['depth_tau'])} | {r['mean_score']:.4f} ({r['sd_score']:.4f}) | "
                     f"{r['pick']['pick']:.4f} ({r['pick']['pick_rank']:.0f}) |")
    lines.append(f"| stand-alone mean (truth) | | | {' / '.join(fmt(x) for x in rep['truth_depth_tau'])} | | |")
    lines += ["", "| arm | replicas | mean tau | range |", "|---|---|---|---|"]
    lines += [f"| {k} | {m['replicas']} | {fmt(m['mean'])} | {fmt(m['range'])} |" for k, m in rep["means"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", required=True, help="a rank-fidelity run's folder (truth, supernets, proxy column)")
    p.add_argument("--out", nargs="+", required=True, help="this study's folder (report: every folder to read)")
    p.add_argument("--replicas", type=int, nargs="+", default=[0])
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--val-examples", default="search", help="validation images: 'search' (the search's, default), "
                   "'all' (the whole validation split of the search's seed) or a number")
    p.add_argument("--stage", choices=("score", "report", "all"), default="all")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.lr <= 0 or args.threads < 1:
        sys.exit("error: --lr must be positive and --threads at least 1")
    named = {"search": 0, "all": None}
    if args.val_examples not in named and not (args.val_examples.isdigit() and int(args.val_examples) >= 10):
        sys.exit(f"error: --val-examples: {args.val_examples!r} is not 'search', 'all' or a number >= 10")
    val_examples = named[args.val_examples] if args.val_examples in named else int(args.val_examples)
    torch.set_num_threads(args.threads)
    src = Context(load_state(Path(args.source), {}, False), Path(args.source), args.threads)
    outs = [Path(o) for o in args.out]
    try:
        if args.stage in ("score", "all"):
            score_stage(src, outs[0], args.replicas, args.lr, args.threads, val_examples)
        if args.stage in ("report", "all"):
            rep = build(src, outs)
            write_json(rep, outs[0] / "report.json")
            (outs[0] / "report.md").write_text(render(rep))
            print(render(rep))
    except KeyboardInterrupt:
        print("\ninterrupted; finished scores are kept; rerun the same command to continue", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()

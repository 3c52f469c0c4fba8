"""How much of the supernet evaluator's ranking is its own validation noise (issue 12); reads a rank-fidelity run.

    python benchmarks/score_noise.py --out runs/rf-ids [--replica 0] [--bn-batches 0 8] [--block 1000] [--threads 1]

The supernet evaluator scores a candidate by top-1 on the search's validation split (1000 images by default). For
every network of a rank-fidelity run (benchmarks/rank_fidelity.py) that has its stand-alone ground truth, this
scores the network with the run's supernet on *all* validation images of the same split (the search's images are
a seeded draw from them), image by image, for each BatchNorm setting given
(0: the supernet's own statistics, the evaluator's default; N: re-estimated on N batches), and reports:

  block agreement   mean Kendall tau between the networks' top-1 on disjoint blocks of `--block` images: how
                    far the ranking is set by which validation images were drawn (1: not at all)
  vs truth, blocks  tau of each block's top-1 against the stand-alone mean (mean and range over the blocks): what
                    a search with that many validation images gets
  vs truth, all     tau of top-1 and of the mean cross-entropy (negated) on all images against the stand-alone mean,
                    with its 90 % interval over resampled networks: what more validation images would give

A column that agrees with itself across blocks but not with the truth is limited by the supernet's weights (or
BatchNorm statistics), not by the validation sample. Written to DIR/score-noise.json and DIR/score-noise.md;
with --replica R (R >= 1: the run's supernet replica R) DIR/score-noise-rR.json and .md; the run's own state is
only read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

# this script's folder is on sys.path
from rank_fidelity import (Context, build_report, fmt, load_state, span, supernet_evaluator, supernet_ready,
                           supernet_record, write_json)
from ranking import bootstrap_interval, kendall_tau, mean_pairwise_tau


def noise_summary(correct: np.ndarray, loss: np.ndarray, truth: Sequence[float], block: int) -> dict[str, Any]:
    """The figures of one BatchNorm setting from per-image results: `correct` and `loss` are (networks, images)
    (1/0 top-1 hits, cross-entropy), `truth` the networks' stand-alone means; blocks of `block` images (a last
    shorter block is dropped)."""
    n_blocks = correct.shape[1] // block
    if n_blocks < 1:
        raise ValueError(f"block of {block} images: only {correct.shape[1]} validation images")
    blocks = [correct[:, b * block:(b + 1) * block].mean(axis=1) for b in range(n_blocks)]
    truth = np.asarray(truth, dtype=float)
    per_block = [kendall_tau(list(b), list(truth)) for b in blocks]
    top1_all, loss_all = correct.mean(axis=1), -loss.mean(axis=1)

    def tau_on(x: np.ndarray) -> tuple[float, tuple[float, float]]:
        return kendall_tau(list(x), list(truth)), bootstrap_interval(
            lambda idx: kendall_tau(list(x[idx]), list(truth[idx])), len(truth))

    tau_top1, top1_interval = tau_on(top1_all)
    tau_loss, loss_interval = tau_on(loss_all)
    return {"networks": len(truth), "images": int(correct.shape[1]), "block": block, "blocks": n_blocks,
            "block_agreement": mean_pairwise_tau([list(b) for b in blocks]) if n_blocks >= 2 else float("nan"),
            "tau_blocks": per_block, "tau_blocks_mean": float(np.mean(per_block)),
            "tau_top1_all": tau_top1, "tau_top1_all_interval_90": top1_interval,
            "tau_loss_all": tau_loss, "tau_loss_all_interval_90": loss_interval,
            "top1_range": [float(top1_all.min()), float(top1_all.max())]}


def score_images(ctx: Context, data: Any, ids: Sequence[str], bn_batches: int,
                 replica: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(top-1 hits, cross-entropy), (networks, images), of the networks `ids` on every image of `data`'s validation
    split, with the run's supernet `replica` at `bn_batches`."""
    ev = supernet_evaluator(ctx, bn_batches, replica)
    specs = {a["arch_id"]: spec for a, spec in ctx.specs()}
    hits, losses = [], []
    for arch_id in ids:
        _, logits, labels = ev.predictions(specs[arch_id], data, ctx.cfg["search_seed"])
        hits.append((logits.argmax(1) == labels).float().numpy())
        losses.append(torch.nn.functional.cross_entropy(logits, labels, reduction="none").numpy())
    return np.stack(hits), np.stack(losses)


def render(rep: dict[str, Any]) -> str:
    which = f", replica {rep['replica']}" if rep.get("replica") else ""
    lines = [f"# Supernet score noise: {rep['run']}{which}", "",
             f"{rep['networks']} networks with their stand-alone ground truth; supernet {rep['supernet_epochs']} "
             f"epochs (sha256 {rep['supernet_sha256'][:12]}); {rep['images']} validation images of the search's "
             f"split in blocks of {rep['block']} (the search scores on {rep['search_val']}).", "",
             "| BatchNorm | block agreement | tau vs truth per block: mean (range) | tau top-1, all images "
             "(90 % interval) | tau -loss, all images (90 % interval) | top-1 range |", "|---|---|---|---|---|---|"]
    for bn, s in rep["settings"].items():
        what = "supernet's own statistics" if bn == "0" else f"re-estimated on {bn} batches"
        lines.append(f"| {what} | {fmt(s['block_agreement'])} | {fmt(s['tau_blocks_mean'])} "
                     f"({fmt(min(s['tau_blocks']))} to {fmt(max(s['tau_blocks']))}) | {fmt(s['tau_top1_all'])} "
                     f"({span(s['tau_top1_all_interval_90'])}) | {fmt(s['tau_loss_all'])} "
                     f"({span(s['tau_loss_all_interval_90'])}) | {s['top1_range'][0]:.3f} to "
                     f"{s['top1_range'][1]:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="a rank-fidelity run folder (state.json and supernet.pt)")
    p.add_argument("--bn-batches", type=int, nargs="+", default=[0, 8])
    p.add_argument("--block", type=int, default=None, help="images per block (default: the search's validation size)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--replica", type=int, default=0, help="which of the run's supernets (0: supernet.pt)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if not (out / "state.json").is_file():
        sys.exit(f"error: no {out / 'state.json'} (a run of benchmarks/rank_fidelity.py)")
    ctx = Context(load_state(out, {}, False), out, args.threads)
    sn = supernet_record(ctx.state, args.replica)
    if not supernet_ready(ctx, args.replica) or not Path(sn["file"]).is_file():  # ready: a record, all epochs
        sys.exit(f"error: the run in {out} has no trained supernet file for replica {args.replica} "
                 f"(rank_fidelity.py --stage supernet)")
    c = ctx.cfg
    block = args.block or c["search_val"]
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    data = ctx.search_data(c["search_train"], None)  # the search's split, all its validation images
    truth = {r["arch_id"]: r["truth_mean"] for r in build_report(ctx)["rows"] if r["truth_mean"] is not None}
    settings = {}
    for bn in args.bn_batches:
        hits, losses = score_images(ctx, data, list(truth), bn, args.replica)
        settings[str(bn)] = noise_summary(hits, losses, list(truth.values()), block)
        print(f"BN {bn}: scored {len(truth)} networks ({time.perf_counter() - start:.0f} s)", flush=True)
    first = next(iter(settings.values()))
    rep = {"run": str(out), "replica": args.replica, "supernet_sha256": sn["sha256"],
           "supernet_epochs": sn["epochs_done"],
           "networks": first["networks"], "images": first["images"], "block": block,
           "search_val": ctx.cfg["search_val"], "settings": settings, "seconds": time.perf_counter() - start}
    name = "score-noise" + (f"-r{args.replica}" if args.replica else "")
    write_json(rep, out / f"{name}.json")
    text = render(rep)
    (out / f"{name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

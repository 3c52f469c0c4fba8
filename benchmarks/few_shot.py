"""Few-shot supernets against one supernet trained on for as many steps (issue 12); reads a rank-fidelity run.

    python benchmarks/few_shot.py --source runs/rf-ids --out runs/fs --replicas 0 1 [--split s1_depth=4-5,6-7,8-10]
        [--epochs 2] [--lr 0.025] [--arms split control] [--stage train|score|report|all] [--threads 1]

For each supernet replica R of the rank-fidelity run in --source (its trained `supernet.pt` / `supernet-rR.pt`, the
parent), two arms start from the parent's weights on the parent's data and paths (its budget, platform, seed):

  split    one supernet per part of --split (`nas.evaluators.supernet.split`): the part's sub-space, its paths
           alone, --epochs epochs each (OUT/split-rR-pK.pt); a network is scored by its part's supernet
  control  the parent trained on over the whole space for parts x --epochs epochs (OUT/control-rR.pt): as many
           steps as the split arm's parts together, the same learning-rate schedule (peak --lr, the parent's
           warm-up fraction, cosine to 0)

Training writes only its files (one epoch per unit, resumed when rerun), so arms and replicas can train in separate
processes at once; `score` then scores every network of the source run with each arm's supernets as `nas search`
would (the search's validation split; BatchNorm: the supernet's own statistics and re-estimated on 8 batches) into
OUT/state.json, and `report` gives Kendall tau against the source's stand-alone mean next to the parents' own
columns (OUT/report.md, OUT/report.json). The source run is only read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.evaluators import SearchSettings, search_evaluator
from nas.evaluators.supernet import SupernetRun, file_sha256, read_supernet, train_supernet
from nas.evaluators.supernet.split import DepthSplit
from nas.evaluators.supernet.train import path_sampler, sampling_space
from search_space.spec import ArchSpec

# this script's folder is on sys.path
from rank_fidelity import (Context, build_report, covering, fmt, load_state, supernet_record, supernet_run,
                           supernet_start, view_column, write_json)
from ranking import bootstrap_interval, kendall_tau

ARMS = ("split", "control")
VIEWS = (0, 8)  # BatchNorm: the supernet's own statistics, re-estimated on 8 batches
DEFAULT_SPLIT = "s1_depth=4-5,6-7,8-10"


def view_name(bn_batches: int) -> str:
    return "own BN" if bn_batches == 0 else f"BN-{bn_batches}"


class Study:
    """The source run (read only), this study's folder and state, and its settings."""

    def __init__(self, source: Path, out: Path, settings: dict[str, Any], threads: int):
        self.src = Context(load_state(source, {}, False), source, threads)
        self.out, self.threads = out, threads
        path = out / "state.json"
        self.state = json.loads(path.read_text()) if path.is_file() else {"settings": settings, "scores": {}}
        if self.state["settings"] != settings:
            sys.exit(f"error: {out} holds a study with other settings ({self.state['settings']}); give another --out")
        self.settings = settings
        self.space = covering(self.src.space(), self.src.cfg["width_frac"], [s for _, s in self.src.specs()])
        self.split = DepthSplit.parse(settings["split"], self.space)

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(self.state, self.out / "state.json")

    def parent(self, replica: int) -> Path:
        rec = supernet_record(self.src.state, replica)
        if not rec or rec["epochs_done"] < self.src.cfg["sn_epochs"]:
            sys.exit(f"error: replica {replica} of {self.src.out} is not trained (rank_fidelity.py --stage supernet)")
        return Path(rec["file"])

    def files(self, arm: str, replica: int) -> list[Path]:
        """The arm's supernet files for `replica` (split: one per part, in part order)."""
        if arm == "control":
            return [self.out / f"control-r{replica}.pt"]
        return [self.out / f"split-r{replica}-p{k}.pt" for k in range(len(self.split.groups))]

    def run_of(self, arm: str, replica: int, part: int) -> tuple[SupernetRun, int]:
        """The training run of one file of the arm and its epochs."""
        parent = self.parent(replica)
        base = replace(supernet_run(self.src, replica), lr=self.settings["lr"], init_from=str(parent.absolute()),
                       init_sha256=file_sha256(parent))
        if arm == "control":
            return base, self.settings["epochs"] * len(self.split.groups)
        return replace(base, split=str(self.split), part=part), self.settings["epochs"]


# ------------------------------------------------------------------------------------------------- train
def train_file(study: Study, arm: str, replica: int, part: int) -> None:
    path = study.files(arm, replica)[part]
    run, epochs = study.run_of(arm, replica, part)
    start = supernet_start(path, run, epochs, study.src.ds)
    if start is None:
        return
    run, resume, data = start
    init = read_supernet(run.init_from) if resume is None else None  # type: ignore[arg-type]
    space = sampling_space(study.space, run, data.task.num_classes)
    sampler = path_sampler(run, space, study.src.profile if run.budget_ms is not None else None)
    what = f"{arm} r{replica}" + (f" part {part} ({study.split.label(part)})" if arm == "split" else "")
    print(f"{what}: {epochs} epochs x {len(data.train)} images from {Path(run.init_from).name}, peak lr {run.lr:g}",
          flush=True)
    per_epoch, start = len(data.train) // run.batch_size, time.perf_counter()

    def progress(step: int, total: int, text: str) -> None:
        if step % per_epoch == 0:
            print(f"{what}: {text} ({time.perf_counter() - start:.0f} s)", flush=True)

    result = train_supernet(run, epochs, data, path, space=study.space, resume=resume, threads=study.threads,
                            sampler=sampler, progress=progress, init=init)
    print(f"{what}: done, {result.seconds:.0f} s training, last training accuracy "
          f"{result.history[-1]['train_accuracy']:.3f}", flush=True)


# ------------------------------------------------------------------------------------------------- score
def column(arm: str, replica: int, bn_batches: int) -> str:
    return f"{arm}-r{replica}-{'nobn' if bn_batches == 0 else f'bn{bn_batches}'}"


def score_stage(study: Study, arms: list[str], replicas: list[int]) -> None:
    data, seed = study.src.data_at(0), study.src.cfg["search_seed"]
    specs = study.src.specs()
    for arm in arms:
        for replica in replicas:
            files = study.files(arm, replica)
            missing = [f for f in files if not f.is_file() or not read_supernet(f).complete]
            if missing:
                print(f"score {arm} r{replica}: skipped ({missing[0].name} not trained: --stage train)", flush=True)
                continue
            shas = [file_sha256(f) for f in files]
            for bn in VIEWS:
                name = column(arm, replica, bn)
                col = study.state["scores"].get(name)
                if col is None or col["sha256"] != shas:
                    col = study.state["scores"][name] = {"sha256": shas, "by_arch": {}}
                evs = [search_evaluator("supernet", SearchSettings(threads=study.threads, options=(
                    ("supernet", str(f)), ("supernet_sha256", sha), ("bn_batches", bn))))
                       for f, sha in zip(files, shas)]
                t0 = time.perf_counter()
                for arch, spec in specs:
                    if arch["arch_id"] in col["by_arch"]:
                        continue
                    ev = evs[0] if arm == "control" else evs[study.split.part_of(spec)]
                    col["by_arch"][arch["arch_id"]] = ev.evaluate(spec, data, seed=seed).score
                study.save()
                print(f"score {name}: {len(col['by_arch'])} networks ({time.perf_counter() - t0:.0f} s)", flush=True)


# ------------------------------------------------------------------------------------------------- report
def tau_against(truth: dict[str, float], scores: dict[str, float]) -> tuple[float, tuple[float, float]]:
    ids = [i for i in truth if i in scores]
    t, s = np.array([truth[i] for i in ids]), np.array([scores[i] for i in ids])
    return kendall_tau(list(s), list(t)), bootstrap_interval(lambda idx: kendall_tau(list(s[idx]), list(t[idx])),
                                                            len(ids))


def depth_tau(specs: list[tuple[dict[str, Any], ArchSpec]], scores: dict[str, float], stage: int) -> float:
    pairs = [(len(s.stages[stage].units), scores[a["arch_id"]]) for a, s in specs if a["arch_id"] in scores]
    return kendall_tau([d for d, _ in pairs], [v for _, v in pairs])


def build(study: Study, arms: list[str], replicas: list[int]) -> dict[str, Any]:
    truth = {r["arch_id"]: r["truth_mean"] for r in build_report(study.src)["rows"] if r["truth_mean"] is not None}
    specs = study.src.specs()
    src_scores = study.src.state["scores"]
    rows = []
    for arm in ["parent"] + arms:
        for replica in replicas:
            for bn in VIEWS:
                if arm == "parent":
                    got = src_scores.get(view_column(replica, bn) if (replica, bn) != (0, 0) else "supernet-nobn")
                    scores = {k: v["score"] for k, v in (got or {}).items()}
                else:
                    scores = dict((study.state["scores"].get(column(arm, replica, bn)) or {}).get("by_arch", {}))
                if len(set(scores) & set(truth)) < len(truth):
                    continue
                tau, interval = tau_against(truth, scores)
                rows.append({"arm": arm, "replica": replica, "bn_batches": bn, "tau": tau, "interval_90": interval,
                             "depth_tau": [depth_tau(specs, scores, s) for s in range(len(study.space.stages))]})
    truth_depth = [depth_tau(specs, truth, s) for s in range(len(study.space.stages))]
    means = {}
    for arm in ["parent"] + arms:
        mine = [r for r in rows if r["arm"] == arm]
        if len(mine) == len(replicas) * len(VIEWS):
            means[arm] = {"all": float(np.mean([r["tau"] for r in mine])),
                          "own": float(np.mean([r["tau"] for r in mine if r["bn_batches"] == 0]))}
    return {"settings": study.settings, "source": str(study.src.out), "networks": len(truth), "rows": rows,
            "means": means, "truth_depth_tau": truth_depth,
            "parts": [{"part": k, "label": study.split.label(k),
                       "networks": sum(study.split.part_of(s) == k for a, s in specs if a["arch_id"] in truth)}
                      for k in range(len(study.split.groups))],
            "training": training_summary(study, arms, replicas)}


def training_summary(study: Study, arms: list[str], replicas: list[int]) -> list[dict[str, Any]]:
    out = []
    for arm in arms:
        for replica in replicas:
            for f in study.files(arm, replica):
                if f.is_file():
                    sf = read_supernet(f)
                    out.append({"file": f.name, "epochs_done": sf.epochs_done, "epochs": sf.epochs,
                                "seconds": sf.seconds, "train_accuracy": sf.history[-1]["train_accuracy"]
                                if sf.history else None})
    return out


def render(rep: dict[str, Any]) -> str:
    s = rep["settings"]
    lines = [f"# Few-shot supernets ({s['split']}) against one supernet trained on as long", "",
             f"Source: {rep['source']} ({rep['networks']} networks with their stand-alone mean). Each arm starts from "
             f"the source's trained supernet replica (the parent): split, one supernet per part, {s['epochs']} epochs "
             f"each; control, the parent over the whole space for as many steps; peak lr {s['lr']:g}, cosine.",
             "", "Parts: " + ", ".join(f"{p['label']} ({p['networks']} networks)" for p in rep["parts"]), "",
             "| arm | replica | BN | tau | 90% interval | tau of depth s0 / s1 / s2 with the score |",
             "|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        lo, hi = r["interval_90"]
        lines.append(f"| {r['arm']} | {r['replica']} | {view_name(r['bn_batches'])} | {fmt(r['tau'])} | "
                     f"{fmt(lo)} to {fmt(hi)} | {' / '.join(fmt(x) for x in r['depth_tau'])} |")
    lines.append(f"| stand-alone mean (truth) | | | | | {' / '.join(fmt(x) for x in rep['truth_depth_tau'])} |")
    lines += ["", "| arm | mean tau, own BN | mean tau, all views |", "|---|---|---|"]
    lines += [f"| {arm} | {fmt(m['own'])} | {fmt(m['all'])} |" for arm, m in rep["means"].items()]
    lines += ["", "| file | epochs | training s | last training accuracy |", "|---|---|---|---|"]
    lines += [f"| {t['file']} | {t['epochs_done']}/{t['epochs']} | {t['seconds']:.0f} | "
              f"{fmt(t['train_accuracy'])} |" for t in rep["training"]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", required=True, help="a rank-fidelity run's folder (its supernets are the parents)")
    p.add_argument("--out", required=True, help="this study's folder (files, state.json, report.md)")
    p.add_argument("--replicas", type=int, nargs="+", default=[0])
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    p.add_argument("--split", default=DEFAULT_SPLIT)
    p.add_argument("--epochs", type=int, default=2, help="epochs per part (the control: parts x epochs)")
    p.add_argument("--lr", type=float, default=0.025, help="peak learning rate of the fine-tuning")
    p.add_argument("--stage", choices=("train", "score", "report", "all"), default="all")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.epochs < 1 or args.lr <= 0 or args.threads < 1:
        sys.exit("error: --epochs and --threads must be at least 1, --lr positive")
    torch.set_num_threads(args.threads)
    study = Study(Path(args.source), Path(args.out), {"split": args.split, "epochs": args.epochs, "lr": args.lr},
                  args.threads)
    started = time.perf_counter()
    try:
        if args.stage in ("train", "all"):
            study.out.mkdir(parents=True, exist_ok=True)
            for replica in args.replicas:
                for arm in args.arms:
                    for part in range(len(study.files(arm, replica))):
                        train_file(study, arm, replica, part)
        if args.stage in ("score", "all"):
            score_stage(study, args.arms, args.replicas)
        if args.stage in ("report", "all"):
            rep = build(study, args.arms, args.replicas)
            write_json(rep, study.out / "report.json")
            (study.out / "report.md").write_text(render(rep))
            print(render(rep))
    except KeyboardInterrupt:
        print("\ninterrupted; finished epochs and scores are kept; rerun the same command to continue",
              file=sys.stderr)
        raise SystemExit(130) from None
    print(f"done in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()

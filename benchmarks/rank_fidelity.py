"""Rank fidelity of the accuracy evaluators (issue 12): Kendall tau of each against stand-alone training; resumable.

    python benchmarks/rank_fidelity.py --stage all [--out runs/rank-fidelity] [--threads 1]
    python benchmarks/rank_fidelity.py --stage report --out runs/rank-fidelity    # at any time, from the state
    python benchmarks/rank_fidelity.py --stage all --quick                        # smoke run (a few minutes)
    python benchmarks/rank_fidelity.py --stage all --out runs/rf-3ep --reuse runs/rank-fidelity --truth-epochs 3 \
        --jobs 2    # another ground truth for the same architectures and scores, two runs at a time
    python benchmarks/rank_fidelity.py --stage truth --out runs/rf-3ep --archs 32 --jobs 2    # 8 more networks
    python benchmarks/rank_fidelity.py --stage score --out runs/rf-3ep-s --reuse runs/rf-3ep  # their scores, beside
    python benchmarks/rank_fidelity.py --stage score --out runs/rf-3ep --scores-from runs/rf-3ep-s  # taken back

Stages; each continues from DIR/state.json, which is rewritten after every finished unit (a training run, an
evaluator's score of one architecture, a supernet epoch), so an interruption loses at most the current unit and a
rerun of the same command continues (also in another session). Settings are stored on the first run; a rerun that
gives a different one stops with one line (only --mf-rungs, which adds or drops multi-fidelity columns,
--sn-epochs, which continues the supernet and scores it again, --seeds, which adds ground-truth seeds, and a larger
--archs, which adds networks by one more stratified draw, may change).
--reuse DIR starts a new run from DIR's architectures, supernet and scores, with other ground-truth settings; a run
scored in such a copy while the original trains its ground truth hands its scores back with --scores-from (two
processes must not write one state). Two processes started in separate sessions share the CPU by session
(autogroups), whatever their nice value: `echo 19 > /proc/PID/autogroup` leaves the cores to the other.

  arch      members of the default search space (deployment input, dataset's classes) spread over the predicted
            latency range of one budget on the platform (shipped profile, no measuring): `--archs` equal latency
            bins over [lo, hi] x budget, each filled by the first seeded draw that lands in it, drawn from nested
            width-capped sub-spaces of the default space (a uniform draw is almost never this small: with the arm
            profile, 0.15 % of the default space is within 20 ms and its cheapest member takes 11.4 ms); plus the
            registered ShuffleNet v2 references that are members and within the budget. Then one epoch of the
            median network is timed at `--threads` on a small subset (images/s) and the run's duration projected.
  supernet  `nas supernet train`'s library (SupernetRun / prepare_data / train_supernet / resume_state) on the
            search's dataset, proxy input and split seed; its space: the default space with widths and head widths
            capped at what the chosen networks and the proposal reach (every chosen network is a path); its paths:
            uniform within the budget on the platform (PathSampler over that space, rejection by the profile).
            Remove DIR/supernet.pt to train it again (its scores and the throughput are then redone).
  score     every architecture scored on the search's validation split by: synflow, naswot, supernet (BN
            as `nas search` runs it: the evaluator's default bn_batches), supernet-nobn / -bn2 / -bn4 / -bn8 /
            -bn32 (the supernet's own statistics, or BN re-estimated on 2 ... 32 batches; all but the default's),
            with --sn-replicas each further replica R as supernet-rR-nobn and supernet-rR-bn8, proxy (the `train`
            evaluator as a search runs it: 1 epoch of 4000 images), mf-rK (the `train` evaluator at rung K of
            `--rungs 3 --eta 3`: nas.search.fidelity.rung gives epochs and images, the search's data_at rule the
            data); then the supernet's throughput, and how often its training updated each network
            ("supernet-trained": its training paths drawn again).
  truth     each network trained stand-alone with one fixed recipe (nas.views.train.train_network: the code of
            `nas train`, checkpointed every epoch and resumed exactly) for every seed; test accuracy on the test split.
  report    tables (architectures, tau, recipe, spread, supernet, throughput) printed and written to DIR/report.md
            and DIR/report.json.
  all       arch, supernet, score (all but multi-fidelity), truth, score (multi-fidelity), report.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from latency_models.profiles import require_profile
from nas.data import load_dataset, prepare_proxy
from nas.evaluators import SearchSettings, proxy_spec, search_evaluator
from nas.evaluators.supernet import (PathSampler, SupernetEvaluator, SupernetRun, epoch_paths, file_sha256,
                                     prepare_data, read_supernet, resume_state, train_supernet)
from nas.evaluators.supernet.distill import DEFAULT_DISTILL_WEIGHT
from nas.evaluators.supernet.evaluator import DEFAULT_BN_BATCHES
from nas.evaluators.supernet.train import PATH_DRAWS, path_sampler, sampling_space
from nas.evaluators.training import top1
from nas.search.config import SearchConfig
from nas.search.fidelity import rung
from nas.views.source import source_from_arch
from nas.views.train import (CHECKPOINT_FILE, FINAL_FILE, METRICS_FILE, Recipe, RunSetup, load_teacher,
                             prepare_out_dir, read_checkpoint, train_network)
from nas.views.train.checkpoint import read_torch
from nas.views.train.loop import CHANNELS, VAL_FRACTION
from search_space.cost import cost
from search_space.fileio import atomic_write
from search_space.references import reference_names, reference_spec
from search_space.space import SearchSpace
from search_space.spec import ArchSpec, spec_from_dict, spec_from_json

# benchmarks/ranking.py (this script's folder is on sys.path)
from ranking import bootstrap_interval, kendall_tau, mean_pairwise_tau, mean_rank, pick_quality

STATE_VERSION = 1
BN_VIEWS = (0, 2, 4, 8, 32)  # BatchNorm statistics the first supernet is scored with (0: its own)
REPLICA_VIEWS = (0, 8)  # and each further replica
PROPOSAL_STEPS = 7  # width caps 0, t/6, ..., t of the proposal's nested sub-spaces
MAX_DRAWS = 200_000

#: Settings of the real run and of --quick. Ground truth: one pass over 36,000 distinct images in batches of 64 (lr
#: 0.05 by the recipe's linear scaling: 562 steps) rather than the issue's 12k x 4 epochs (seeds 2.6 points apart):
#: more distinct images and more steps for the same CPU. Measured on the shared 2-core machine, one thread at nice 10
#: on one core (50-65 % of it): one epoch of `nas train`'s loop runs 90-140 images/s wall for a 6-MFLOP proxy
#: network (the training step alone ~325 images/s of CPU; the proxy transform, augmentation, BN re-estimation and
#: validation take the rest), so the 26 runs take ~2.5-3 h, the supernet (2000 steps of 64) 26 min, the proxy and
#: the scores ~0.2 h; multi-fidelity rung 1 adds ~1 h and the top rung (9 epochs x 36,000 images a network) ~9 h.
DEFAULTS: dict[str, Any] = {
    "platform": "arm", "budget_ms": 20.0, "dataset": "fashion-mnist", "archs": 12, "arch_seed": 0,
    "lat_range": [0.6, 1.0], "width_frac": 0.3,
    "seeds": [0, 1], "truth_train": 36000, "truth_epochs": 1, "truth_batch": 64, "truth_lr": None,
    "truth_val": 1000, "truth_test": None,
    "sn_train": 32000, "sn_epochs": 4, "sn_budget_paths": True, "sn_replicas": 1, "sn_teacher": None,
    "sn_distill_weight": None, "sn_path_draw": None,
    "search_train": None, "search_val": None, "rungs": 3, "eta": 3, "mf_rungs": [1, 2],
    "throughput_n": 30, "timing_examples": 2048,
}
QUICK: dict[str, Any] = {
    "archs": 3, "truth_train": 512, "truth_val": 200, "truth_test": 1000, "sn_train": 640, "sn_epochs": 1,
    "search_train": 128, "search_val": 200, "mf_rungs": [1], "throughput_n": 4, "timing_examples": 256,
}
#: more columns / a longer supernet (resumed; its scores are then redone) / more ground-truth seeds (each run is
#: kept under its seed; the report uses the current list) / more architectures (never fewer: see choose_archs) /
#: more supernet replicas (each trained into its own file and scored as its own columns)
MUTABLE = ("mf_rungs", "sn_epochs", "seeds", "archs", "sn_replicas")


# ------------------------------------------------------------------------------------------------- state
def _plain(x: Any) -> Any:
    """JSON form of what json does not know: numpy numbers as numbers, anything else (a Path) as text."""
    return x.item() if isinstance(x, np.generic) else str(x)


def write_json(obj: Any, path: Path) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=1, default=_plain) + "\n"))


def save_state(state: dict[str, Any], out: Path) -> None:
    write_json(state, out / "state.json")


def load_state(out: Path, given: dict[str, Any], quick: bool, reuse: Path | None = None) -> dict[str, Any]:
    """The state in `out` (settings given again must match the stored ones) or a new one from the given settings
    (or from `reuse`'s state, see reused_state)."""
    path = out / "state.json"
    if reuse is not None and not path.is_file():
        state = reused_state(reuse, out, given)
        save_state(state, out)
        return state
    if path.is_file():
        state = json.loads(path.read_text())
        merge_settings(state["config"], given, MUTABLE, f"the run in {out}",
                       "drop the option to continue it, or give another --out")
        return state
    cfg = {**DEFAULTS, **(QUICK if quick else {}), **{k: v for k, v in given.items() if v is not None}, "quick": quick}
    search = SearchConfig(platform=cfg["platform"], budget_ms=cfg["budget_ms"], rungs=cfg["rungs"], eta=cfg["eta"])
    cfg["search_train"] = cfg["search_train"] or search.train_examples
    cfg["search_val"] = cfg["search_val"] or search.val_examples
    cfg.update(search_seed=search.seed, proxy_resolution=search.proxy_resolution, resolution=search.resolution,
               search_epochs=search.epochs)
    out.mkdir(parents=True, exist_ok=True)
    state = {"version": STATE_VERSION, "config": cfg, "archs": [], "timing": None, "truth": {}, "supernet": None,
             "scores": {}, "score_meta": {}, "throughput": None}
    save_state(state, out)
    return state


def merge_settings(cfg: dict[str, Any], given: dict[str, Any], changeable: tuple[str, ...], run: str,
                   hint: str) -> None:
    """Put the given settings (None: not given) into the stored `cfg`; one that differs and is not `changeable`
    stops with one line naming `run` and `hint`."""
    for key, value in given.items():
        if value is None or cfg.get(key) == value:
            continue
        if key not in changeable:
            sys.exit(f"error: --{key.replace('_', '-')} {value} differs from {run} ({cfg.get(key)}); {hint}")
        if key == "archs" and value < cfg[key]:
            sys.exit(f"error: --archs {value}: {run} has {cfg[key]}; architectures can be added, not taken away")
        cfg[key] = value


#: Settings of the ground truth alone: a run started with --reuse may change these (and the MUTABLE ones: a longer
#: supernet continues the copied file, its scores are then redone).
TRUTH_SETTINGS = ("seeds", "truth_train", "truth_epochs", "truth_batch", "truth_lr", "truth_val", "truth_test")
#: Settings of the supernet's training alone: a run started with --reuse may change these; it then trains its
#: supernets again (the copied ones, their scores and throughput are left behind) and keeps the ground truth.
SUPERNET_SETTINGS = ("sn_teacher", "sn_distill_weight", "sn_path_draw")


def read_state(folder: Path, option: str) -> dict[str, Any]:
    """Another run's state, only to read; a missing one stops with one line naming `option`."""
    path = folder / "state.json"
    if not path.is_file():
        sys.exit(f"error: {option}: no {path}")
    return json.loads(path.read_text())


def reused_state(source: Path, out: Path, given: dict[str, Any]) -> dict[str, Any]:
    """A new state for `out` holding `source`'s architectures, supernet (its file copied into `out`), scores and
    throughput, with the ground truth to train again under the given truth settings: the evaluators' columns do not
    depend on the ground truth, so another recipe or more seeds need not redo them. Given other supernet settings
    (SUPERNET_SETTINGS) instead, the supernets are trained again and their columns scored again, and the ground truth
    and the other columns stay (unless truth settings change too)."""
    old = read_state(source, f"--reuse {source}")
    if source.resolve() == out.resolve():
        sys.exit("error: --reuse names the run's own folder; give another --out")
    cfg = dict(old["config"])
    merge_settings(cfg, given, TRUTH_SETTINGS + MUTABLE + SUPERNET_SETTINGS, f"the reused run in {source}",
                   "--reuse keeps everything but the ground truth's and the supernet's settings, --mf-rungs, "
                   "--sn-epochs and --archs")
    changed = {k for k in set(cfg) | set(old["config"]) if cfg.get(k) != old["config"].get(k)}
    out.mkdir(parents=True, exist_ok=True)
    if changed & set(SUPERNET_SETTINGS):
        kept = {k: v for k, v in old["scores"].items() if not k.startswith("supernet")}
        meta = {k: v for k, v in old["score_meta"].items() if not k.startswith("supernet")}
        new_truth = bool(changed & set(TRUTH_SETTINGS))
        return {**old, "config": cfg, "supernet": None, "replicas": {}, "scores": kept, "score_meta": meta,
                "throughput": None, "coverage": None, "reused_from": str(source),
                "trained_here": ["supernet", "truth"] if new_truth else ["supernet"],
                **({"truth": {}, "recipe": None, "timing": None} if new_truth else {})}

    def copied(record: dict[str, Any] | None) -> dict[str, Any] | None:
        if not record:
            return record
        target = out / Path(record["file"]).name
        if not target.exists():  # a copy: --sn-epochs may continue it here, which must leave the source as it was
            shutil.copy2(record["file"], target)
        return {**record, "file": str(target)}

    replicas = {r: copied(record) for r, record in (old.get("replicas") or {}).items()}
    same_rate = all(cfg.get(k) == old["config"].get(k) for k in ("truth_batch", "truth_lr"))
    return {**old, "config": cfg, "supernet": copied(old.get("supernet")), "replicas": replicas, "truth": {},
            "recipe": None, "trained_here": ["truth"],
            "timing": old.get("timing") if same_rate else None, "reused_from": str(source)}


#: Settings that the evaluators' scores do not depend on (a --reuse copy may differ in these and still hand its
#: scores back with --scores-from).
NOT_SCORED = TRUTH_SETTINGS + ("mf_rungs", "archs", "sn_epochs", "sn_replicas")


def take_scores(state: dict[str, Any], source: Path) -> int:
    """Copy into `state` the scores that `source` (a --reuse copy of this run, scoring beside this run's ground
    truth: two processes must not write one state) has and `state` lacks, for this run's architectures; the copy
    must have the same score settings and supernet file. How many scores were taken."""
    other = read_state(source, f"--scores-from {source}")
    cfg = state["config"]
    differ = sorted(k for k in set(cfg) | set(other["config"])
                    if k not in NOT_SCORED and cfg.get(k) != other["config"].get(k))
    if differ:
        sys.exit(f"error: --scores-from {source}: its scores were made with another --{differ[0].replace('_', '-')} "
                 f"({other['config'].get(differ[0])}, here {cfg.get(differ[0])})")
    ours = {a["arch_id"] for a in state["archs"]}
    taken = 0
    for name, by_arch in other["scores"].items():
        if name.startswith("supernet") and other["score_meta"].get(name, {}).get("supernet_sha256") != \
                column_sha(state, name):
            continue  # scored by another supernet file
        mine = state["scores"].setdefault(name, {})
        for arch_id, score in by_arch.items():
            if arch_id in ours and arch_id not in mine:
                mine[arch_id] = score
                taken += 1
        state["score_meta"].setdefault(name, other["score_meta"].get(name, {}))
    return taken


class Context:
    """What the stages share: the state, its folder, threads, and (loaded once) dataset, profile and data."""

    def __init__(self, state: dict[str, Any], out: Path, threads: int):
        self.state, self.out, self.threads = state, out, threads
        self.cfg = state["config"]
        self._data: dict[int, Any] = {}
        self._ds: Any = None
        self._profile: Any = None
        self._teacher: Any = None

    def save(self) -> None:
        save_state(self.state, self.out)

    @property
    def ds(self) -> Any:
        if self._ds is None:
            self._ds = load_dataset(self.cfg["dataset"])
        return self._ds

    @property
    def teacher(self) -> Any:
        """The network the supernets distil from (sn_teacher; None: they train on the labels alone)."""
        if self._teacher is None and self.cfg.get("sn_teacher"):
            self._teacher = load_teacher(self.cfg["sn_teacher"])
        return self._teacher

    @property
    def profile(self) -> Any:
        if self._profile is None:
            self._profile = require_profile(self.cfg["platform"])
        return self._profile

    def search_config(self) -> SearchConfig:
        c = self.cfg
        return SearchConfig(platform=c["platform"], budget_ms=c["budget_ms"], train_examples=c["search_train"],
                            val_examples=c["search_val"], rungs=c["rungs"], eta=c["eta"], seed=c["search_seed"])

    def data_at(self, index: int) -> Any:
        """The search's proxy data at multi-fidelity rung `index` (nas.search.trial.SearchContext.data_at's rule)."""
        if index not in self._data:
            c = self.cfg
            r = rung(self.search_config(), index)
            self._data[index] = self.search_data(min(r.train_examples, len(self.ds.train)), c["search_val"])
        return self._data[index]

    def search_data(self, max_train: int | None, max_val: int | None) -> Any:
        """The search's proxy data (its resolution and split seed) limited to these many images (None: all)."""
        c = self.cfg
        return prepare_proxy(self.ds, resolution=c["proxy_resolution"], channels=3, max_train=max_train,
                             max_val=max_val, seed=c["search_seed"])

    def space(self) -> SearchSpace:
        """The search's space: the default space at the deployment input and the dataset's classes."""
        return SearchSpace.default().with_fixed(resolution=self.cfg["resolution"], num_classes=self.ds.num_classes,
                                                in_channels=3)

    def specs(self) -> list[tuple[dict[str, Any], ArchSpec]]:
        return [(a, spec_from_dict(a["spec"])) for a in self.state["archs"]]


# ------------------------------------------------------------------------------------------------- arch
def width_capped(space: SearchSpace, frac: float) -> SearchSpace:
    """`space` with every stage's widest width and the head widths cut to `frac` of their range (depths and unit
    choices kept): a sub-space, so each of its members is a member of `space`."""
    stages = tuple(replace(r, width_high=r.width_low + int(round(frac * (r.width_high - r.width_low) / r.width_step))
                           * r.width_step) for r in space.stages)
    heads = space.head_widths[:max(1, math.ceil(frac * len(space.head_widths)))]
    return replace(space, stages=stages, head_widths=heads)


def covering(space: SearchSpace, frac: float, specs: list[ArchSpec]) -> SearchSpace:
    """The smallest width-capped sub-space of `space` holding width_capped(space, frac) and every spec in `specs`."""
    sub = width_capped(space, frac)
    stages = tuple(replace(r, width_high=max([s.width_high] + [sp.stages[i].width for sp in specs]))
                   for i, (r, s) in enumerate(zip(space.stages, sub.stages)))
    top = max([max(sub.head_widths)] + [sp.head_width for sp in specs])
    return replace(space, stages=stages, head_widths=tuple(h for h in space.head_widths if h <= top))


def arch_record(name: str, spec: ArchSpec, profile: Any, task: Any, ref: bool, bin_: int | None) -> dict[str, Any]:
    est = profile.estimate(spec)
    return {"name": name, "arch_id": spec.arch_id, "reference": ref, "bin": bin_, "latency_ms": est.latency_ms,
            "predictor": est.predictor, "error_rmspe": est.error_rmspe, "flops_m": cost(spec).flops_m,
            "proxy_flops_m": cost(proxy_spec(spec, task)).flops_m, "params_m": cost(spec).params_m,
            "spec": json.loads(spec.to_json())}


def choose_archs(ctx: Context) -> None:
    """Stratified members within the budget plus the references that are members (stored; a rerun keeps them). A
    run whose `archs` grew draws the missing ones as one more stratified draw over the same latency range (its own
    random stream, named r<k>binNN), so the architectures already trained keep their results."""
    drawn = [a for a in ctx.state["archs"] if not a["reference"]]
    more = ctx.cfg["archs"] - len(drawn)
    if ctx.state["archs"] and more <= 0:
        return
    k = len({a.get("draw", 0) for a in drawn})  # draws so far (records before growth was possible: draw 0)
    rng = np.random.default_rng(ctx.cfg["arch_seed"] if k == 0 else [ctx.cfg["arch_seed"], k])
    chosen, draws = stratified_draw(ctx, more, rng, {a["arch_id"] for a in ctx.state["archs"]})
    task = ctx.data_at(0).task
    prefix = "bin" if k == 0 else f"r{k}bin"
    archs = [{**arch_record(f"{prefix}{i:02d}", spec, ctx.profile, task, False, i), "draw": k}
             for i, spec in enumerate(chosen)]
    if k == 0:
        space, budget = ctx.space(), ctx.cfg["budget_ms"]
        for name in reference_names():
            spec = reference_spec(name)
            if not isinstance(spec, ArchSpec):
                continue
            spec = spec.with_classes(ctx.ds.num_classes)
            if space.contains(spec) and ctx.profile.estimate(spec).latency_ms <= budget and \
                    spec.arch_id not in {a["arch_id"] for a in archs}:
                archs.append(arch_record(name, spec, ctx.profile, task, True, None))
    ctx.state["archs"] += archs
    ctx.state["arch_draws"] = ctx.state.get("arch_draws", 0) + draws
    ctx.save()
    print(f"chose {len(archs)} architectures ({draws} draws): " + ", ".join(
        f"{a['name']} {a['latency_ms']:.1f} ms" for a in archs), flush=True)


def stratified_draw(ctx: Context, count: int, rng: np.random.Generator,
                    taken: set[str]) -> tuple[list[ArchSpec], int]:
    """One member per latency bin (`count` equal bins over lat_range x budget, by the platform's profile), drawn from
    the width-capped proposal sub-spaces, none of them in `taken`; (members by bin, draws made)."""
    c, profile, space = ctx.cfg, ctx.profile, ctx.space()
    lo, hi = c["lat_range"]
    edges = np.linspace(lo * c["budget_ms"], hi * c["budget_ms"], count + 1)
    proposals = [width_capped(space, f) for f in np.linspace(0.0, c["width_frac"], PROPOSAL_STEPS)]
    chosen: list[ArchSpec | None] = [None] * count
    draws = 0
    while any(x is None for x in chosen):
        if draws >= MAX_DRAWS:
            empty = [f"{edges[i]:.1f}-{edges[i + 1]:.1f} ms" for i, x in enumerate(chosen) if x is None]
            sys.exit(f"error: no member drawn in {', '.join(empty)} after {draws} draws; narrow --lat-range")
        batch = [proposals[rng.integers(len(proposals))].sample(rng) for _ in range(64)]
        draws += len(batch)
        for spec, est in zip(batch, profile.estimates(batch)):
            k = int(np.searchsorted(edges, est.latency_ms, side="right")) - 1
            k = min(k, count - 1) if est.latency_ms <= edges[-1] else -1
            if k >= 0 and chosen[k] is None and spec.arch_id not in taken:
                chosen[k] = spec
                taken.add(spec.arch_id)
    return [x for x in chosen if x is not None], draws


def truth_recipe(ctx: Context) -> Recipe:
    c = ctx.cfg
    return Recipe(epochs=c["truth_epochs"], batch_size=c["truth_batch"], lr=c["truth_lr"])


def truth_data(ctx: Context, seed: int, train_examples: int | None) -> Any:
    """nas.views.train.prepare_data's split (seeded by the run's seed) with the validation images capped at
    truth_val (the per-epoch validation is only a progress figure; the ground truth is the test accuracy)."""
    c = ctx.cfg
    return prepare_proxy(ctx.ds, resolution=c["proxy_resolution"], channels=CHANNELS, val_fraction=VAL_FRACTION,
                         max_train=train_examples, max_val=c["truth_val"], max_test=c["truth_test"], seed=seed)


def time_one_epoch(ctx: Context) -> None:
    """Images/s of one epoch of the median network (by proxy MFLOPs) at --threads on a small subset."""
    if ctx.state["timing"]:
        return
    arch, spec = sorted(ctx.specs(), key=lambda a: a[0]["proxy_flops_m"])[len(ctx.state["archs"]) // 2]
    n = ctx.cfg["timing_examples"]
    run_dir = ctx.out / "timing-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    prepare_out_dir(run_dir, resume=False)
    recipe = truth_recipe(ctx)
    setup = RunSetup(source=source_from_arch(spec, arch["name"]), dataset=ctx.ds.spec,
                     resolution=ctx.cfg["proxy_resolution"], seed=0, train_examples=n,
                     recipe=replace(recipe, epochs=1).resolved(ctx.ds.spec, ctx.cfg["proxy_resolution"]))
    data = truth_data(ctx, 0, n)
    cpu = time.process_time()
    result = train_network(setup, data, run_dir, threads=ctx.threads)
    cpu = time.process_time() - cpu
    shutil.rmtree(run_dir, ignore_errors=True)
    epoch = result.history[0]
    images = len(data.train) // recipe.batch_size * recipe.batch_size
    ctx.state["timing"] = {"arch": arch["name"], "proxy_flops_m": arch["proxy_flops_m"], "images": images,
                           "epoch_seconds": epoch.seconds, "cpu_seconds": cpu, "images_per_s": images / epoch.seconds,
                           "threads": ctx.threads}
    ctx.save()
    print(f"timing: one epoch of {arch['name']} ({arch['proxy_flops_m']:.1f} proxy MFLOPs) on {images} images at "
          f"{ctx.threads} thread(s): {epoch.seconds:.1f} s = {images / epoch.seconds:.0f} images/s (wall, epoch "
          f"incl. its validation); process CPU {cpu:.1f} s for the whole run", flush=True)
    print(projection(ctx), flush=True)


def projection(ctx: Context) -> str:
    """A rough duration of every stage from the timed images/s (per-image cost taken as the median network's;
    supernet steps counted at twice a stand-alone image, as measured for a width-capped supernet)."""
    c, t = ctx.cfg, ctx.state["timing"]
    rate = t["images_per_s"]
    n = len(ctx.state["archs"])
    train = c["truth_train"] or int(len(ctx.ds.train) * (1 - VAL_FRACTION))
    truth = n * len(c["seeds"]) * c["truth_epochs"] * train / rate
    sn = 2 * c["sn_epochs"] * c["sn_train"] / rate
    sc = ctx.search_config()
    proxy = n * rung(sc, 0).epochs * rung(sc, 0).train_examples / rate
    mf = {k: n * rung(sc, k).epochs * min(rung(sc, k).train_examples, len(ctx.ds.train)) / rate
          for k in c["mf_rungs"]}
    parts = [("truth", truth), ("supernet", sn), ("proxy", proxy)] + [(f"mf-r{k}", v) for k, v in mf.items()]
    total = sum(v for _, v in parts)
    return "projected (training images only, at the timed rate): " + ", ".join(
        f"{k} {v / 3600:.2f} h" for k, v in parts) + f"; total {total / 3600:.2f} h"


# ------------------------------------------------------------------------------------------------- truth
def truth_stage(ctx: Context, jobs: int = 1) -> None:
    """Every (architecture, seed) run not yet in the state, architecture-major (an interrupted run leaves whole
    architectures: the report ranks only those with every seed); with jobs > 1 that many runs at once in worker
    processes (one --threads each), each recorded in the
    state by this process as it finishes."""
    c = ctx.cfg
    ctx.state["recipe"] = truth_recipe(ctx).resolved(ctx.ds.spec, c["proxy_resolution"]).to_dict()
    pending = [(i, seed) for i, (arch, _) in enumerate(ctx.specs()) for seed in c["seeds"]
               if f"{arch['arch_id']}/s{seed}" not in ctx.state["truth"]]
    if jobs <= 1 or len(pending) <= 1:
        for i, seed in pending:
            record_truth(ctx, i, seed, train_truth(ctx, i, seed))
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx.save()
    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"))
    try:
        running = {pool.submit(_truth_worker, str(ctx.out), i, seed, ctx.threads): (i, seed) for i, seed in pending}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i, seed = running.pop(future)
                record_truth(ctx, i, seed, future.result())
    except BaseException:  # Ctrl-C: without this the pool would go on through every pending run before exiting
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()  # each run is checkpointed every epoch: a rerun resumes it
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _truth_worker(out: str, index: int, seed: int, threads: int) -> dict[str, Any]:
    """One ground-truth run in a worker process of truth_stage (the state is only read here)."""
    torch.set_num_threads(threads)
    ctx = Context(load_state(Path(out), {}, False), Path(out), threads)
    return train_truth(ctx, index, seed)


def train_truth(ctx: Context, index: int, seed: int) -> dict[str, Any]:
    """Train architecture `index` stand-alone with the truth recipe and `seed` (resuming its checkpoint); what the
    finished run reached."""
    c = ctx.cfg
    arch, spec = ctx.specs()[index]
    run_dir = truth_dir(ctx, arch, seed)
    setup = RunSetup(source=source_from_arch(spec, arch["name"]), dataset=ctx.ds.spec,
                     resolution=c["proxy_resolution"], seed=seed, train_examples=c["truth_train"],
                     recipe=truth_recipe(ctx).resolved(ctx.ds.spec, c["proxy_resolution"]))
    if not (run_dir / FINAL_FILE).is_file():
        checkpoint = None
        if (run_dir / CHECKPOINT_FILE).is_file():
            recorded, checkpoint = read_checkpoint(run_dir)
            if (recorded.source.spec.arch_id, recorded.recipe, recorded.seed, recorded.train_examples) != \
                    (spec.arch_id, setup.recipe, seed, setup.train_examples):
                sys.exit(f"error: {run_dir} holds another training run; remove it or give another --out")
            print(f"truth {arch['name']} seed {seed}: resuming after epoch {checkpoint['epochs_done']}",
                  flush=True)
        else:
            prepare_out_dir(run_dir, resume=False)
        train_network(setup, truth_data(ctx, seed, c["truth_train"]), run_dir, checkpoint=checkpoint,
                      threads=ctx.threads)
    return finished_run(run_dir)


def truth_dir(ctx: Context, arch: dict[str, Any], seed: int) -> Path:
    return ctx.out / "truth" / f"{arch['name']}-{arch['arch_id']}-s{seed}"


def record_truth(ctx: Context, index: int, seed: int, rec: dict[str, Any]) -> None:
    arch = ctx.state["archs"][index]
    ctx.state["truth"][f"{arch['arch_id']}/s{seed}"] = rec
    ctx.save()
    print(f"truth {arch['name']:20s} {arch['latency_ms']:5.1f} ms seed {seed}: test "
          f"{rec['test_accuracy']:.4f} ({rec['seconds']:.0f} s)", flush=True)


def finished_run(run_dir: Path) -> dict[str, Any]:
    """What a finished `nas train` run reached: from metrics.json, or from final.pt when an interruption came
    between the two writes."""
    if (run_dir / METRICS_FILE).is_file():
        m = json.loads((run_dir / METRICS_FILE).read_text())
        return {"test_accuracy": m["final"]["test_accuracy"], "val_accuracy": m["final"]["val_accuracy"],
                "seconds": m["seconds"], "train_examples": m["examples"]["train"],
                "test_examples": m["examples"]["test"], "epochs": m["final"]["epochs"]}
    final = read_torch(run_dir / FINAL_FILE)
    history = final.get("history") or [{}]
    return {"test_accuracy": final["test_accuracy"], "val_accuracy": history[-1].get("val_accuracy"),
            "seconds": final["seconds"], "train_examples": json.loads(final["task"])["train_examples"],
            "test_examples": final["test_examples"], "epochs": final["epochs_done"]}


# ------------------------------------------------------------------------------------------------- supernet
def supernet_run(ctx: Context, replica: int = 0) -> SupernetRun:
    c = ctx.cfg
    paths = dict(platform=c["platform"], budget_ms=c["budget_ms"]) if c["sn_budget_paths"] else {}
    if ctx.teacher is not None:
        paths.update(teacher=str(ctx.teacher.path), teacher_sha256=ctx.teacher.sha256,
                     distill_weight=c["sn_distill_weight"])
    if c.get("sn_path_draw"):
        paths.update(path_draw=c["sn_path_draw"])
    return SupernetRun(dataset=ctx.ds.spec, proxy_resolution=c["proxy_resolution"], train_examples=c["sn_train"],
                       val_examples=c["search_val"], seed=c["search_seed"], replica=replica,
                       resolution=c["resolution"], **paths)


def supernet_record(state: dict[str, Any], replica: int) -> dict[str, Any] | None:
    """What the state holds about supernet `replica` (0: DIR/supernet.pt; None before it was trained)."""
    return state["supernet"] if replica == 0 else (state.get("replicas") or {}).get(str(replica))


def supernet_ready(ctx: Context, replica: int) -> bool:
    sn = supernet_record(ctx.state, replica)
    return bool(sn) and sn["epochs_done"] >= ctx.cfg["sn_epochs"]


def supernet_stage(ctx: Context) -> None:
    """Train (or continue) DIR/supernet.pt and each further replica's DIR/supernet-rR.pt to sn_epochs."""
    for replica in range(ctx.cfg.get("sn_replicas", 1)):
        train_replica(ctx, replica)


def supernet_start(path: Path, run: SupernetRun, epochs: int, ds: Any) -> tuple[SupernetRun, Any, Any] | None:
    """How to train the supernet file `path` to `epochs` epochs of `run`: (run, resume, data), with a resume when
    the file holds fewer epochs of the same run; None when it holds them all (exits when it holds another run)."""
    if not path.is_file():
        return run, None, prepare_data(run, ds)[0]
    sf = read_supernet(path)  # memory-mapped: only the record is read here, resume_state reads the weights
    if SupernetRun.from_dict(sf.run) != run:
        sys.exit(f"error: {path} was trained with other settings; remove it or give another --out")
    if sf.epochs_done >= epochs:
        return None
    run, resume, data, _ = resume_state(path, epochs, {}, ds.spec)
    print(f"{path.name}: resuming after epoch {resume.epochs_done}", flush=True)
    return run, resume, data


def train_replica(ctx: Context, replica: int) -> None:
    """Train (or continue) one supernet file to sn_epochs; every epoch is a unit (the file is rewritten each
    epoch). Replicas differ only in their initial weights, batch order and paths (SupernetRun.replica)."""
    c = ctx.cfg
    path = ctx.out / ("supernet.pt" if replica == 0 else f"supernet-r{replica}.pt")
    run = supernet_run(ctx, replica)
    space = covering(ctx.space(), c["width_frac"], [s for _, s in ctx.specs()])
    start = supernet_start(path, run, c["sn_epochs"], ctx.ds)
    if start is None:
        record_supernet(ctx, path, space, None, replica)
        return
    run, resume, data = start
    sampler = path_sampler(run, sampling_space(space, run, data.task.num_classes),
                           ctx.profile if run.budget_ms is not None else None)
    paths = f"within {run.budget_ms:g} ms on {run.platform}" if run.budget_ms is not None else "uniform"
    print(f"supernet{f' replica {replica}' if replica else ''}: {len(data.train)} images x {c['sn_epochs']} epochs, "
          f"batch {run.batch_size}, space "
          f"{describe_space(space)}, paths {paths}", flush=True)
    per_epoch = len(data.train) // run.batch_size
    start = wall = time.perf_counter()

    def progress(step: int, total: int, text: str) -> None:
        nonlocal start
        if step % per_epoch == 0:
            print(f"supernet {text} ({time.perf_counter() - start:.0f} s)", flush=True)
            start = time.perf_counter()

    result = train_supernet(run, c["sn_epochs"], data, path, space=space, resume=resume, threads=ctx.threads,
                            sampler=sampler, progress=progress, teacher=ctx.teacher)
    record_supernet(ctx, path, space, time.perf_counter() - wall, replica)
    print(f"supernet: {result.epochs_done} epochs, {result.seconds:.0f} s training, {result.params_m:.1f} M "
          f"parameters", flush=True)


def reuse_line(source: str, trained_here: list[str]) -> str:
    """What a --reuse copy took from `source` and what it trained itself."""
    if trained_here == ["truth"]:
        return (f"Architectures, supernet and evaluator scores reused from {source} (--reuse); only the ground truth "
                f"below was trained for this run.")
    truth = "ground truth, " if "truth" not in trained_here else ""
    both = " and the ground truth" if "truth" in trained_here else ""
    return (f"Architectures, {truth}and the other evaluators' scores reused from {source} (--reuse); the supernets "
            f"(trained with other settings){both} were trained for this run.")


def distilled(run: dict[str, Any]) -> str:
    """How a supernet's training used a teacher ('' without one)."""
    if not run.get("teacher"):
        return ""
    return (f", distilled from {run['teacher']} (sha256 {run['teacher_sha256'][:12]}) at weight "
            f"{run['distill_weight']:g}")


def describe_space(space: SearchSpace) -> str:
    return ("widths " + "/".join(f"{r.width_low}-{r.width_high}" for r in space.stages) + ", depths "
            + "/".join(f"{r.depth_low}-{r.depth_high}" for r in space.stages) + ", heads "
            + "/".join(str(h) for h in space.head_widths))


def record_supernet(ctx: Context, path: Path, space: SearchSpace, wall: float | None, replica: int = 0) -> None:
    sf = read_supernet(path)
    old = supernet_record(ctx.state, replica) or {}
    hist = list(sf.history)
    record = {
        "file": str(path), "sha256": file_sha256(path), "epochs_done": sf.epochs_done, "epochs": sf.epochs,
        "seconds": sf.seconds, "wall_seconds": (old.get("wall_seconds") or 0.0) + (wall or 0.0),
        "steps": sf.step, "batch_size": sf.run.get("batch_size"), "train_examples": sf.task.train_examples,
        "space": describe_space(space), "run": sf.run, "history": hist,
        "paths_accepted": sum(h.get("paths", 0) for h in hist), "paths_drawn": sum(h.get("draws", 0) for h in hist),
        "last_train_accuracy": hist[-1]["train_accuracy"] if hist else None,
        "file_mb": path.stat().st_size / 1e6}
    if replica == 0:
        ctx.state["supernet"] = record
    else:
        ctx.state.setdefault("replicas", {})[str(replica)] = record
    ctx.save()


def training_coverage(ctx: Context) -> None:
    """How often the supernet's training updated each network's weights (stored per supernet file): the paths it was
    trained on drawn again (nas.evaluators.supernet.epoch_paths, the training's own generators), and for each network
    the mean over its units and its head of the fraction of steps whose path held that unit at that width or wider
    (widths are nested channel slices and depth skips trailing units, so a narrow unit early in a stage is trained on
    almost every step; variants and kernels share their weights and do not count)."""
    sn = ctx.state["supernet"]
    done = ctx.state.get("coverage") or {}
    archs = [a for a in ctx.state["archs"] if a["arch_id"] not in done.get("by_arch", {})]
    if not sn or sn["epochs_done"] < ctx.cfg["sn_epochs"] or (done.get("supernet_sha256") == sn["sha256"]
                                                               and not archs):
        return
    sf = read_supernet(sn["file"])
    run = SupernetRun.from_dict(sf.run)
    sampler = path_sampler(run, sf.space)  # the training's own sampler: its platform's profile and budget
    per_epoch = sn["train_examples"] // run.batch_size
    paths = [p for e in range(sf.epochs_done) for p in itertools.islice(epoch_paths(run, sampler, e), per_epoch)]
    widths = np.array([[s.width for s in p.stages] for p in paths])
    depths = np.array([[len(s.units) for s in p.stages] for p in paths])
    heads = np.array([p.head_width for p in paths])

    def coverage(spec: ArchSpec) -> float:
        parts = [float(np.mean((widths[:, i] >= s.width) & (depths[:, i] > j)))
                 for i, s in enumerate(spec.stages) for j in range(len(s.units))]
        return float(np.mean(parts + [float(np.mean(heads >= spec.head_width))]))

    ctx.state["coverage"] = {"supernet_sha256": sn["sha256"], "paths": len(paths),
                             "by_arch": {a["arch_id"]: coverage(s) for a, s in ctx.specs()}}
    ctx.save()
    print(f"training coverage over {len(paths)} paths: " + ", ".join(
        f"{a['name']} {ctx.state['coverage']['by_arch'][a['arch_id']]:.2f}" for a in ctx.state["archs"]), flush=True)


# ------------------------------------------------------------------------------------------------- scores
def supernet_column(name: str) -> tuple[int, int]:
    """(replica, BN recalibration batches) of a supernet column: `supernet` replica 0 with the evaluator's default,
    `supernet-bnN` N batches, `supernet-nobn` 0 (the supernet's own running statistics); `supernet-rR-nobn` and
    `supernet-rR-bnN` the same for replica R (view_column names them)."""
    parts = name.split("-")[1:]
    replica = int(parts.pop(0)[1:]) if parts and parts[0].startswith("r") else 0
    if not parts:
        return replica, DEFAULT_BN_BATCHES
    return replica, 0 if parts[0] == "nobn" else int(parts[0].removeprefix("bn"))


def column_sha(state: dict[str, Any], name: str) -> str | None:
    """The sha256 of the supernet file that supernet column `name` is scored with (None: not trained yet)."""
    return (supernet_record(state, supernet_column(name)[0]) or {}).get("sha256")


def view_column(replica: int, bn_batches: int) -> str:
    """The column of supernet `replica` scored with BatchNorm re-estimated on `bn_batches` (0: its own statistics):
    for the first supernet `supernet` when that is the evaluator's default."""
    if replica == 0 and bn_batches == DEFAULT_BN_BATCHES:
        return "supernet"
    view = "nobn" if bn_batches == 0 else f"bn{bn_batches}"
    return f"supernet-{view}" if replica == 0 else f"supernet-r{replica}-{view}"


def supernet_columns(ctx: Context) -> list[str]:
    """The first supernet with the evaluator's default and every other BN_VIEWS; each further replica with its own
    statistics and on 8 batches."""
    first = ["supernet"] + [view_column(0, n) for n in BN_VIEWS if n != DEFAULT_BN_BATCHES]
    return first + [view_column(r, n) for r in range(1, ctx.cfg.get("sn_replicas", 1)) for n in REPLICA_VIEWS]


def supernet_evaluator(ctx: Context, bn_batches: int = DEFAULT_BN_BATCHES, replica: int = 0) -> SupernetEvaluator:
    sn = supernet_record(ctx.state, replica)
    settings = SearchSettings(threads=ctx.threads, options=(("supernet", sn["file"]), ("supernet_sha256", sn["sha256"]),
                                                            ("bn_batches", bn_batches)))
    return search_evaluator("supernet", settings)  # type: ignore[return-value]


def scorer(ctx: Context, name: str) -> tuple[Callable[[ArchSpec], dict[str, Any]], dict[str, Any]] | None:
    """(score one spec, what the column is) for evaluator column `name`; None when it cannot run yet."""
    seed = ctx.cfg["search_seed"]
    if name.startswith("supernet"):
        replica, bn_batches = supernet_column(name)
        if not supernet_ready(ctx, replica):
            print(f"score {name}: skipped (the supernet is not trained yet: --stage supernet)", flush=True)
            return None
        ev = supernet_evaluator(ctx, bn_batches, replica)
        data = ctx.data_at(0)
        meta = {"evaluator": ev.describe(), "supernet_sha256": supernet_record(ctx.state, replica)["sha256"]}
        return (lambda spec: result_of(ev.evaluate(spec, data, seed=seed))), meta
    if name in ("synflow", "naswot"):
        ev = search_evaluator(name, SearchSettings(threads=ctx.threads))
        data = ctx.data_at(0)
        return (lambda spec: result_of(ev.evaluate(spec, data, seed=seed))), {"evaluator": ev.describe()}
    index = 0 if name == "proxy" else int(name.removeprefix("mf-r"))
    r = rung(ctx.search_config(), index)
    ev = search_evaluator("train", SearchSettings(threads=ctx.threads, epochs=r.epochs))
    data = ctx.data_at(index)
    meta = {"evaluator": ev.describe(), "rung": index, "epochs": r.epochs, "train_examples": len(data.train)}
    return (lambda spec: result_of(ev.evaluate(spec, data, seed=seed))), meta


def result_of(r: Any) -> dict[str, Any]:
    return {"score": r.score, "epochs": r.epochs, "train_examples": r.train_examples}


def stale_scores(meta: dict[str, Any] | None, name: str, state: dict[str, Any]) -> str | None:
    """Why a stored supernet column no longer holds what `name` means (another supernet file, other BN batches);
    None when it still does or is not a supernet column."""
    if not name.startswith("supernet") or not meta:
        return None
    if meta.get("supernet_sha256") not in (None, column_sha(state, name)):
        return "the supernet changed"
    if meta["evaluator"]["config"].get("bn_batches") != supernet_column(name)[1]:
        return "the evaluator's BN batches changed"
    return None


def score_stage(ctx: Context, names: list[str]) -> None:
    training_coverage(ctx)  # first: minutes (~100k latency estimates redraw 8000 paths); the columns take hours
    scores, meta = ctx.state["scores"], ctx.state["score_meta"]
    for name in names:
        stale = stale_scores(meta.get(name), name, ctx.state)
        if stale:
            print(f"score {name}: {stale}; scoring again", flush=True)
            scores.pop(name, None)
        todo = [(a, s) for a, s in ctx.specs() if a["arch_id"] not in scores.get(name, {})]
        if todo:
            made = scorer(ctx, name)
            if made is None:
                continue
            score, meta[name] = made
            for arch, spec in todo:
                start = time.perf_counter()
                out = score(spec)
                out["seconds"] = time.perf_counter() - start
                scores.setdefault(name, {})[arch["arch_id"]] = out
                ctx.save()
                print(f"score {name:13s} {arch['name']:20s} {out['score']:.4g} ({out['seconds']:.1f} s)", flush=True)
        sn = ctx.state["supernet"]
        if name == "supernet" and sn and sn["epochs_done"] >= ctx.cfg["sn_epochs"]:
            throughput(ctx)


def throughput(ctx: Context) -> None:
    """Candidates per minute of the supernet evaluator at --threads: random members within the budget (uniform
    over the supernet's space, as its paths), after one warm-up candidate; a few also timed by phase."""
    done = ctx.state["throughput"]
    if done and done.get("supernet_sha256") == ctx.state["supernet"]["sha256"]:
        return
    c = ctx.cfg
    ev = supernet_evaluator(ctx)
    data = ctx.data_at(0)
    space = covering(ctx.space(), c["width_frac"], [s for _, s in ctx.specs()])
    sampler = PathSampler(space, ctx.profile, c["budget_ms"])
    rng = np.random.default_rng([c["arch_seed"], 7])
    specs = [sampler.draw(rng) for _ in range(c["throughput_n"] + 1)]
    seed = c["search_seed"]
    ev.evaluate(specs[0], data, seed=seed)  # warm-up: file mapping, cached inputs
    took, cpu = [], time.process_time()
    for spec in specs[1:]:
        start = time.perf_counter()
        ev.evaluate(spec, data, seed=seed)
        took.append(time.perf_counter() - start)
    cpu = (time.process_time() - cpu) / len(took)  # the process's own CPU time: what an unshared core would take
    phases = {"extract_and_bn_recalibration": 0.0, "validation": 0.0}  # the evaluator's own path (stem cached)
    few = specs[1:1 + min(5, len(specs) - 1)]
    with torch.inference_mode():
        x_bn, x_val, y_val = ev._inputs(data, seed)  # the evaluator's cached inputs (benchmark-only peek)
        for spec in few:
            t0 = time.perf_counter()
            _, body, stem_val = ev.scored(spec, data, seed)
            t1 = time.perf_counter()
            top1(body, stem_val, y_val, ev.config.eval_batch_size)
            t2 = time.perf_counter()
            for k, v in zip(phases, (t1 - t0, t2 - t1)):
                phases[k] += v / len(few)
    per = float(np.mean(took))
    parallel = parallel_throughput(ctx.out, [s.to_json() for s in specs[1:]], seed, workers=2)
    ctx.state["throughput"] = {
        "candidates": len(took), "threads": ctx.threads, "seconds_mean": per, "seconds_median": float(np.median(took)),
        "per_minute": 60.0 / per, "per_minute_2_workers": 2 * 60.0 / per, "phases_s": phases,
        "cpu_seconds_mean": cpu, "per_minute_cpu": 60.0 / cpu, "per_minute_2_workers_cpu": 2 * 60.0 / cpu,
        "bn_images": len(x_bn), "val_images": len(x_val), "supernet_sha256": ctx.state["supernet"]["sha256"],
        "measured_2_workers": parallel}
    ctx.save()
    print(f"throughput: {len(took)} candidates, {per:.2f} s each at {ctx.threads} thread(s) = {60 / per:.0f}/min "
          f"({cpu:.2f} s of CPU each = {60 / cpu:.0f}/min on an unshared core); ~{120 / per:.0f}/min "
          f"({120 / cpu:.0f}/min by CPU time) on 2 cores with 2 worker processes (assumed, not measured); phases " +
          ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()), flush=True)
    print(f"throughput measured with {parallel['workers']} worker processes at once: {parallel['candidates']} "
          f"candidates in {parallel['seconds']:.1f} s = {parallel['per_minute']:.0f}/min", flush=True)


def parallel_throughput(out: Path, spec_jsons: list[str], seed: int, workers: int) -> dict[str, Any]:
    """Candidates per minute with `workers` processes scoring at once (one thread each, as `nas search --workers`
    runs them): each warms up on its first candidate, then all start together (a barrier) on their share of
    `spec_jsons`; wall clock from the first start to the last end."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    spawn = mp.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        barrier = manager.Barrier(workers)
        shares = [spec_jsons[i::workers] for i in range(workers)]
        spans = list(pool.map(_score_share, [str(out)] * workers, shares, [seed] * workers, [barrier] * workers))
    n = sum(k for _, _, k in spans)
    seconds = max(e for _, e, _ in spans) - min(b for b, _, _ in spans)
    return {"workers": workers, "candidates": n, "seconds": seconds, "per_minute": 60.0 * n / seconds}


def _score_share(out: str, spec_jsons: list[str], seed: int, barrier: Any) -> tuple[float, float, int]:
    """One worker of parallel_throughput: (start, end, candidates scored) after a warm-up candidate."""
    torch.set_num_threads(1)
    ctx = Context(load_state(Path(out), {}, False), Path(out), 1)
    ev, data = supernet_evaluator(ctx), ctx.data_at(0)
    specs = [spec_from_json(j) for j in spec_jsons]
    ev.evaluate(specs[0], data, seed=seed)
    barrier.wait()
    start = time.time()
    for spec in specs:
        ev.evaluate(spec, data, seed=seed)
    return start, time.time(), len(specs)


# ------------------------------------------------------------------------------------------------- report
def cheap_columns(ctx: Context) -> list[str]:
    """The columns scored in minutes (all but multi-fidelity)."""
    return ["synflow", "naswot"] + supernet_columns(ctx) + ["proxy"]


def columns(ctx: Context) -> list[str]:
    return cheap_columns(ctx) + [f"mf-r{k}" for k in ctx.cfg["mf_rungs"]]


def ensemble_columns(ctx: Context) -> dict[str, list[str]]:
    """Ensembles of the supernet replicas (with two or more): `supernet-mean`, the mean of each replica's score with
    the evaluator's default BN (what a candidate's score would be given every replica's file); `supernet-ens` and
    `supernet-ens-views`, each network's mean rank among these networks (0..1) over the replicas' default columns, and
    over every replica with its own statistics and on 8 batches (views whose scores lie on other scales): benchmark
    measures of whether the replicas' errors average out, not scores a search could compute for one candidate."""
    replicas = ctx.cfg.get("sn_replicas", 1)
    if replicas < 2:
        return {}
    default = [view_column(r, DEFAULT_BN_BATCHES) for r in range(replicas)]
    return {"supernet-mean": default, "supernet-ens": default,
            "supernet-ens-views": [view_column(r, n) for r in range(replicas) for n in REPLICA_VIEWS]}


def ensemble_of_scores(name: str) -> bool:
    """Whether ensemble column `name` averages its members' scores (`supernet-mean`) rather than their ranks."""
    return name == "supernet-mean"


def ensemble_scores(rows: list[dict[str, Any]], name: str, members: list[str]) -> list[float | None]:
    """An ensemble column's score of each row (None where a member has not scored it): the members' mean score for
    `supernet-mean`, their mean rank for the others."""
    if not ensemble_of_scores(name):
        return rank_mean(rows, members)
    return [float(np.mean([r["scores"][m] for m in members])) if all(r["scores"].get(m) is not None for m in members)
            else None for r in rows]


def rank_mean(rows: list[dict[str, Any]], members: list[str]) -> list[float | None]:
    """Each row's mean over `members` of its rank among the rows scored by every member (0 lowest, 1 highest; ties
    share their mean rank); None for a row a member has not scored."""
    scored = [i for i, r in enumerate(rows) if all(r["scores"].get(m) is not None for m in members)]
    out: list[float | None] = [None] * len(rows)
    for i, value in zip(scored, mean_rank([[rows[i]["scores"][m] for i in scored] for m in members])):
        out[i] = value
    return out


def truth_train_examples(state: dict[str, Any]) -> int | None:
    """How many training images the ground-truth runs had (as a finished run recorded it; None before one)."""
    return next(iter(state["truth"].values()), {}).get("train_examples")


def seed_accuracies(state: dict[str, Any], arch_id: str) -> list[float | None]:
    """The ground truth's test accuracy of one network for each of the run's seeds (None: not finished)."""
    return [state["truth"].get(f"{arch_id}/s{s}", {}).get("test_accuracy") for s in state["config"]["seeds"]]


def build_report(ctx: Context) -> dict[str, Any]:
    c, st = ctx.cfg, ctx.state
    seeds = c["seeds"]
    rows = []
    cov = st.get("coverage") or {}
    coverage = cov.get("by_arch", {}) if cov.get("supernet_sha256") == (st["supernet"] or {}).get("sha256") else {}
    for a in st["archs"]:
        accs = seed_accuracies(st, a["arch_id"])
        done = [x for x in accs if x is not None]
        rows.append({"name": a["name"], "arch_id": a["arch_id"], "latency_ms": a["latency_ms"], "flops_m": a["flops_m"],
                     "proxy_flops_m": a["proxy_flops_m"], "truth": accs,
                     "truth_mean": float(np.mean(done)) if len(done) == len(seeds) else None,
                     "truth_std": float(np.std(done, ddof=1)) if len(done) == len(seeds) and len(done) > 1 else None,
                     "scores": {n: st["scores"].get(n, {}).get(a["arch_id"], {}).get("score") for n in columns(ctx)},
                     "coverage": coverage.get(a["arch_id"]), "draw": a.get("draw", 0)})
    ensembles = ensemble_columns(ctx)
    for name, members in ensembles.items():
        for r, value in zip(rows, ensemble_scores(rows, name, members)):
            r["scores"][name] = value
    complete = [r for r in rows if r["truth_mean"] is not None]

    def seed_tau(idx: np.ndarray) -> float:
        return mean_pairwise_tau([[complete[k]["truth"][i] for k in idx] for i in range(len(seeds))])

    ceiling = seed_tau(np.arange(len(complete))) if len(complete) >= 2 else float("nan")
    ceiling_interval = bootstrap_interval(seed_tau, len(complete))
    taus = []
    for n in columns(ctx) + list(ensembles):
        both = [r for r in complete if r["scores"][n] is not None]
        tau = kendall_tau([r["scores"][n] for r in both], [r["truth_mean"] for r in both]) if len(both) >= 2 \
            else float("nan")
        interval = bootstrap_interval(lambda idx, both=both, n=n: kendall_tau(
            [both[k]["scores"][n] for k in idx], [both[k]["truth_mean"] for k in idx]), len(both))
        secs = [sum(column_seconds(st, m) for m in ensembles[n])] if n in ensembles else \
            [v["seconds"] for v in st["scores"].get(n, {}).values()]
        meta = st["score_meta"].get(n, {}) if n not in ensembles else {"members": ensembles[n]}
        taus.append({"evaluator": n, "archs": len(both), "tau": tau, "tau_interval_90": interval,
                     "tau_vs_flops": tau_of(both, lambda r, n=n: r["scores"][n], lambda r: r["flops_m"]),
                     "tau_vs_coverage": tau_of(both, lambda r, n=n: r["scores"][n], lambda r: r["coverage"]),
                     "added": added_tau(both, lambda r, n=n: r["scores"][n]),
                     "ratio_to_ceiling": tau / ceiling if ceiling > 0 else float("nan"),  # NaN > 0 is False
                     "pick": pick_quality([r["scores"][n] for r in both], [r["truth_mean"] for r in both])
                     if both else None,
                     "seconds_per_arch": float(np.mean(secs)) if secs else None,
                     "fidelity": fidelity_note(ctx, n, meta)})
    flops_tau = tau_of(complete, lambda r: r["flops_m"], lambda r: r["truth_mean"])
    flops_interval = bootstrap_interval(lambda idx: tau_of([complete[k] for k in idx], lambda r: r["flops_m"],
                                                           lambda r: r["truth_mean"]), len(complete))
    diffs = [abs(r["truth"][0] - r["truth"][1]) for r in complete] if len(seeds) >= 2 else []
    stds = [r["truth_std"] for r in complete if r["truth_std"] is not None]
    truth_secs = [v["seconds"] for v in st["truth"].values()]
    by_name = {t["evaluator"]: t["tau"] for t in taus}
    replicas = c.get("sn_replicas", 1)
    replica_taus = {str(n): [by_name.get(view_column(r, n), float("nan")) for r in range(replicas)]
                    for n in sorted({DEFAULT_BN_BATCHES, *REPLICA_VIEWS})} if replicas > 1 else {}
    # with replicas the target is read on their mean (what a supernet trained with this recipe gives, not one run)
    sn_tau = float(np.mean(replica_taus[str(DEFAULT_BN_BATCHES)])) if replica_taus else by_name.get("supernet",
                                                                                                     float("nan"))
    return {
        "config": c, "rows": rows, "taus": taus, "ceiling_tau": ceiling, "ceiling_interval_90": ceiling_interval,
        "complete_archs": len(complete), "flops_tau": flops_tau, "flops_interval_90": flops_interval,
        "truth_range": truth_range(st, complete),
        "coverage_tau": tau_of(complete, lambda r: r["coverage"], lambda r: r["truth_mean"]),
        "coverage_paths": cov.get("paths") if coverage else None,
        "recipe": st.get("recipe") or truth_recipe(ctx).resolved(c["dataset"], c["proxy_resolution"]).to_dict(),
        "truth_train_examples": truth_train_examples(st),
        "spread": {"mean_abs_seed_diff": float(np.mean(diffs)) if diffs else None,
                   "max_abs_seed_diff": float(np.max(diffs)) if diffs else None,
                   "mean_std": float(np.mean(stds)) if stds else None,
                   "seconds_per_run": float(np.mean(truth_secs)) if truth_secs else None},
        "timing": st["timing"], "supernet": {k: v for k, v in (st["supernet"] or {}).items() if k != "history"},
        "throughput": st["throughput"], "reused_from": st.get("reused_from"),
        "trained_here": st.get("trained_here") or ["truth"], "replica_taus": replica_taus,
        "target": {"supernet_tau": sn_tau, "needs": "tau >= 0.6 and >= 80 % of the ceiling",
                   "met": bool(sn_tau >= 0.6 and sn_tau >= 0.8 * ceiling) if not math.isnan(sn_tau) and
                   not math.isnan(ceiling) else None},
    }


def truth_range(state: dict[str, Any], complete: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The stand-alone means a pick is judged against: the best, the median, and the hand design's (the reference
    network of the run; None when it has no truth yet)."""
    if not complete:
        return None
    means = [r["truth_mean"] for r in complete]
    refs = {a["arch_id"] for a in state["archs"] if a.get("reference")}
    ref = next((r for r in complete if r["arch_id"] in refs), None)
    return {"best": float(np.max(means)), "median": float(np.median(means)),
            "reference": {"name": ref["name"], "truth_mean": ref["truth_mean"]} if ref else None}


def column_seconds(state: dict[str, Any], name: str) -> float:
    """Mean seconds per network of a scored column (NaN before any score)."""
    secs = [v["seconds"] for v in state["scores"].get(name, {}).values()]
    return float(np.mean(secs)) if secs else float("nan")


def added_tau(rows: list[dict[str, Any]], score: Callable[[dict[str, Any]], Any]) -> dict[str, Any] | None:
    """tau and its interval over the networks of the later draws alone (a run that grew its --archs): networks no
    figure was seen on when the run was grown, so a column's tau there is a check on its tau over the first ones."""
    later = [r for r in rows if r["draw"] >= 1]
    if len(later) < 2:
        return None
    return {"archs": len(later), "tau": tau_of(later, score, lambda r: r["truth_mean"]),
            "tau_interval_90": bootstrap_interval(lambda idx: tau_of([later[k] for k in idx], score,
                                                                     lambda r: r["truth_mean"]), len(later))}


def tau_of(rows: list[dict[str, Any]], x: Callable[[dict[str, Any]], Any], y: Callable[[dict[str, Any]], Any]) -> float:
    """Kendall tau between x(row) and y(row) over the rows where both are known (NaN under two such rows)."""
    pairs = [(x(r), y(r)) for r in rows if x(r) is not None and y(r) is not None]
    return kendall_tau([a for a, _ in pairs], [b for _, b in pairs]) if len(pairs) >= 2 else float("nan")


def fidelity_note(ctx: Context, name: str, meta: dict[str, Any]) -> str:
    if "members" in meta:
        return ("mean score of " if ensemble_of_scores(name) else "mean rank over ") + ", ".join(meta["members"])
    if name == "proxy" or name.startswith("mf-r"):
        r = rung(ctx.search_config(), 0 if name == "proxy" else int(name.removeprefix("mf-r")))
        return f"rung {r.index}: {r.epochs} epoch(s) x {meta.get('train_examples', r.train_examples)} images"
    if name.startswith("supernet"):
        replica, n = supernet_column(name)
        return (f"inherited weights, BN re-estimated on {n} batches" if n else
                "inherited weights, supernet's BN statistics") + (f", replica {replica}" if replica else "")
    return {"synflow": "no training", "naswot": "no training"}.get(name, "")


def added_cell(added: dict[str, Any] | None) -> str:
    if not added:
        return "-"
    return f"{fmt(added['tau'])} ({span(added['tau_interval_90'])}, {added['archs']} archs)"


def pick_cells(pick: dict[str, float] | None) -> str:
    """The two table cells of a column's pick: its top-scored network's truth (its rank by truth), the top-k mean."""
    if not pick:
        return "- | -"
    return f"{pick['pick']:.4f} ({pick['pick_rank']:.0f}) | {pick['top_k']:.4f}"


def picks_line(rng: dict[str, Any] | None, archs: int) -> str:
    """What a pick is judged against: the best and median stand-alone mean, and the hand design's."""
    if not rng:
        return ""
    ref = rng.get("reference")
    return (f" A column's pick: the network it scores highest, its stand-alone mean and its rank among the {archs} by "
            f"that mean (1 = the best); top-5: the mean stand-alone accuracy of its five highest; against the best "
            f"{rng['best']:.4f}, the median {rng['median']:.4f}"
            + (f" and {ref['name']} {ref['truth_mean']:.4f}." if ref else "."))


def fmt(x: Any, spec: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def span(interval: Any) -> str:
    """An interval as 'lo to hi' ('-' when missing or undefined)."""
    if not interval or any(x is None or math.isnan(x) for x in interval):
        return "-"
    return f"{interval[0]:.2f} to {interval[1]:.2f}"


def render(rep: dict[str, Any]) -> str:
    c = rep["config"]
    cols = [t["evaluator"] for t in rep["taus"]]
    lines = [f"# Rank fidelity: {c['platform']} at {c['budget_ms']:g} ms, {c['dataset']}"
             + (" (--quick)" if c.get("quick") else ""), ""]
    head = ["arch", "arch_id", "pred ms", "MFLOPs", "proxy MFLOPs", "supernet-trained",
            "stand-alone mean ± std"] + cols
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rep["rows"], key=lambda r: r["latency_ms"]):
        truth = f"{fmt(r['truth_mean'], '.4f')} ± {fmt(r['truth_std'], '.4f')}" if r["truth_mean"] is not None else \
            " / ".join(fmt(x, ".4f") for x in r["truth"])
        cells = [r["name"], r["arch_id"], f"{r['latency_ms']:.2f}", f"{r['flops_m']:.1f}", f"{r['proxy_flops_m']:.1f}",
                 fmt(r.get("coverage"), ".0%"), truth] + [
                     fmt(r["scores"][n], ".4f" if not n.endswith(("flow", "wot")) else ".4g") for n in cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Kendall tau against the stand-alone mean over {rep['complete_archs']} architectures; ceiling "
              f"(seed-to-seed tau of the stand-alone training, {len(c['seeds'])} seeds): "
              f"**{fmt(rep['ceiling_tau'])}** (90 % interval {span(rep.get('ceiling_interval_90'))}). Intervals: "
              f"the central 90 % of tau over 2000 resamplings of the architectures with replacement (how far a "
              f"tau over this few networks moves with other networks of the same range)."
              + picks_line(rep.get("truth_range"), rep["complete_archs"]), "",
              "| evaluator | archs | tau | 90 % interval | / ceiling | tau over the added networks (interval) | "
              "tau vs MFLOPs | tau vs supernet-trained | its pick: truth (rank) | top-5: mean truth | s per arch | "
              "fidelity |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    if "flops_tau" in rep:  # the trivial baseline every evaluator has to beat: bigger is better
        lines.append(f"| MFLOPs (no evaluator) | {rep['complete_archs']} | {fmt(rep['flops_tau'])} | "
                     f"{span(rep.get('flops_interval_90'))} | | | 1 | | | | | the deployment network's FLOPs |")
    for t in rep["taus"]:
        lines.append(f"| {t['evaluator']} | {t['archs']} | {fmt(t['tau'])} | {span(t.get('tau_interval_90'))} | "
                     f"{fmt(t['ratio_to_ceiling'], '.0%')} | {added_cell(t.get('added'))} | "
                     f"{fmt(t.get('tau_vs_flops'))} | "
                     f"{fmt(t.get('tau_vs_coverage'))} | {pick_cells(t.get('pick'))} | "
                     f"{fmt(t['seconds_per_arch'], '.1f')} | {t['fidelity']} |")
    if rep.get("coverage_paths"):
        lines += ["", f"supernet-trained: how often the supernet's training updated a network's weights (the mean "
                  f"over its units and head of the share of the {rep['coverage_paths']} training paths that held the "
                  f"unit at its width or wider). The stand-alone accuracy against it: tau "
                  f"{fmt(rep.get('coverage_tau'))}; a score that follows it more than the accuracy does ranks how "
                  f"well the supernet trained a network rather than how good the network is."]
    reps = rep.get("replica_taus") or {}
    if reps:
        count = len(next(iter(reps.values())))
        lines += ["", f"The supernet trained {count} times with the same recipe (replicas: other initial weights, "
                  f"batch order and paths over the same split; tau of each against the stand-alone mean):", "",
                  "| BN statistics | " + " | ".join(f"replica {r}" for r in range(count)) + " | mean | range |",
                  "|---|" + "---|" * (count + 2)]
        for n, values in reps.items():
            what = "own" if n == "0" else f"re-estimated on {n} batches"
            lines.append(f"| {what}{' (default)' if int(n) == DEFAULT_BN_BATCHES else ''} | "
                         + " | ".join(fmt(v) for v in values) + f" | {fmt(float(np.mean(values)))} | "
                         f"{fmt(float(np.max(values)) - float(np.min(values)))} |")
    tg = rep["target"]
    lines += ["", f"Target (supernet tau >= 0.6 and >= 80 % of the ceiling): "
              f"{'met' if tg['met'] else 'not met' if tg['met'] is not None else 'pending'} "
              f"(supernet tau {fmt(tg['supernet_tau'])}" + (", the mean over its replicas with the default BN"
                                                             if reps else "") + ")", ""]
    rc, sp = rep["recipe"], rep["spread"]
    if rep.get("reused_from"):
        lines += [reuse_line(rep["reused_from"], rep["trained_here"]), ""]
    lines.append(f"Ground truth recipe (nas.views.train.train_network): {rc.get('epochs')} epoch(s) over "
                 f"{rep['truth_train_examples'] or c['truth_train'] or 'all'} training images at "
                 f"{c['proxy_resolution']} px, batch {rc.get('batch_size')}, {rc.get('optimizer', 'sgd')} lr "
                 f"{rc.get('lr')}, weight decay {rc.get('weight_decay')}, augment {rc.get('augment')}, seeds "
                 f"{c['seeds']}; test accuracy on {c['truth_test'] or 'all'} test images. Seed-to-seed spread: mean "
                 f"|seed0 - seed1| {fmt(sp['mean_abs_seed_diff'], '.4f')}, max {fmt(sp['max_abs_seed_diff'], '.4f')}, "
                 f"mean std {fmt(sp['mean_std'], '.4f')}; {fmt(sp['seconds_per_run'], '.0f')} s per run.")
    if rep["timing"]:
        t = rep["timing"]
        lines.append(f"Timed first: one epoch of {t['arch']} ({t['proxy_flops_m']:.1f} proxy MFLOPs) on {t['images']} "
                     f"images at {t['threads']} thread(s): {t['images_per_s']:.0f} images/s (wall).")
    sn = rep["supernet"]
    if sn:
        lines.append(f"Supernet: {sn['epochs_done']}/{sn['epochs']} epochs over {sn['train_examples']} images "
                     f"({sn['steps']} steps of {sn['batch_size']}), space {sn['space']}, paths "
                     + (f"{sn['run'].get('path_draw', 'uniform')} within {sn['run']['budget_ms']:g} ms on "
                        f"{sn['run']['platform']} "
                        f"({sn['paths_accepted']} of {sn['paths_drawn']} drawn)" if sn["run"].get("budget_ms")
                        else "uniform") + distilled(sn["run"])
                     + f"; training {sn['seconds']:.0f} s ({sn['seconds'] / 60:.1f} min) at "
                     f"{c['proxy_resolution']} px; last epoch's training accuracy of the sampled paths "
                     f"{fmt(sn.get('last_train_accuracy'))}; file {sn['file_mb']:.0f} MB.")
    tp = rep["throughput"]
    if tp:
        lines.append(f"Throughput (supernet evaluator, trained supernet): {tp['seconds_mean']:.2f} s per candidate at "
                     f"{tp['threads']} thread(s) over {tp['candidates']} random members within the budget = "
                     f"{tp['per_minute']:.0f}/min; "
                     + (f"{tp['measured_2_workers']['per_minute']:.0f}/min measured with 2 worker processes at once "
                        f"({tp['measured_2_workers']['candidates']} candidates in "
                        f"{tp['measured_2_workers']['seconds']:.0f} s)" if tp.get("measured_2_workers") else
                        f"~{tp['per_minute_2_workers']:.0f}/min on 2 cores with 2 worker processes (assumed linear)")
                     + (f"; by the process's CPU time ({tp['cpu_seconds_mean']:.2f} s each, what unshared cores "
                        f"would give) {tp['per_minute_cpu']:.0f}/min, ~{tp['per_minute_2_workers_cpu']:.0f}/min on 2 "
                        f"cores" if "cpu_seconds_mean" in tp else "") + ". Wall-clock phases: "
                     + ", ".join(f"{k} {v:.2f} s" for k, v in tp["phases_s"].items())
                     + f" ({tp['bn_images']} BN images, {tp['val_images']} validation images).")
    return "\n".join(lines) + "\n"


def report_stage(ctx: Context, show: bool = True) -> None:
    """Write DIR/report.md and DIR/report.json from the state (whatever is finished); print them when `show`."""
    rep = build_report(ctx)
    text = render(rep)
    atomic_write(ctx.out / "report.md", lambda p: p.write_text(text))
    write_json(rep, ctx.out / "report.json")
    if show:
        print(text, flush=True)
        print(f"wrote {ctx.out / 'report.md'} and {ctx.out / 'report.json'}", flush=True)


# ------------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=("arch", "truth", "supernet", "score", "report", "all"), default="all")
    p.add_argument("--out", default=None, help="state folder (default runs/rank-fidelity, with --quick "
                   "runs/rank-fidelity-quick)")
    p.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    p.add_argument("--threads", type=int, default=1, help="torch threads (not part of the stored settings)")
    p.add_argument("--jobs", type=int, default=1, help="ground-truth runs trained at once, in worker processes of "
                   "--threads each (not part of the stored settings)")
    p.add_argument("--reuse", default=None, metavar="DIR", help="start a new --out from DIR's architectures, "
                   "supernet and scores; only the ground truth (its seeds and --truth-* settings) is trained again")
    p.add_argument("--scores-from", default=None, metavar="DIR", help="take the scores that DIR (a --reuse copy of "
                   "this run, scored beside its ground truth) has and this run lacks")
    p.add_argument("--platform", default=None)
    p.add_argument("--budget", default=None, help="latency budget, e.g. 20ms")
    p.add_argument("--archs", type=int, default=None, help="stratified architectures (references are added); a run may "
                   "grow them: the new ones are one more stratified draw")
    p.add_argument("--arch-seed", type=int, default=None)
    p.add_argument("--lat-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="latency range of the bins as fractions of the budget (default 0.6 1.0)")
    p.add_argument("--width-frac", type=float, default=None, help="widest width cap of the proposal sub-spaces "
                   "(fraction of each width range; default 0.3)")
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--truth-train", type=int, default=None, help="training images of the stand-alone runs "
                   "(default: all but the validation split)")
    p.add_argument("--truth-epochs", type=int, default=None)
    p.add_argument("--truth-batch", type=int, default=None)
    p.add_argument("--truth-lr", type=float, default=None)
    p.add_argument("--sn-train", type=int, default=None, help="supernet training images")
    p.add_argument("--sn-epochs", type=int, default=None)
    p.add_argument("--sn-replicas", type=int, default=None, help="independently trained supernets (default 1): "
                   "replica R >= 1 is DIR/supernet-rR.pt, other initial weights, batch order and paths over the same "
                   "split, scored as columns supernet-rR and supernet-rR-bn8; the report adds their ensemble")
    p.add_argument("--sn-teacher", default=None, metavar="DIR", help="the supernets distil from this finished `nas "
                   "train` run (same proxy task and split; default: none)")
    p.add_argument("--sn-distill-weight", type=float, default=None, help="share of the supernet's loss that is the "
                   "teacher's (default 0.5 with --sn-teacher)")
    p.add_argument("--sn-path-draw", choices=PATH_DRAWS, default=None, help="how the supernet's paths are drawn "
                   "(nas supernet train --path-draw; default uniform)")
    p.add_argument("--sn-uniform-paths", action="store_true", help="supernet paths uniform over its space "
                   "(default: within the budget)")
    p.add_argument("--mf-rungs", type=int, nargs="*", default=None, help="multi-fidelity rungs to score at "
                   "(default 1 2; 2 is the top rung of --rungs 3)")
    p.add_argument("--throughput-n", type=int, default=None)
    p.add_argument("--remeasure-throughput", action="store_true", help="measure the supernet's throughput again "
                   "(with --stage score or all; best on an idle machine)")
    return p.parse_args(argv)


def budget_ms(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().lower().removesuffix("ms"))
    except ValueError:
        sys.exit(f"error: --budget {text}: give milliseconds, e.g. 20ms")
    if value <= 0:
        sys.exit(f"error: --budget {text}: must be positive")
    return value


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads < 1 or args.jobs < 1:
        sys.exit("error: --threads and --jobs must be at least 1")
    out = Path(args.out or ("runs/rank-fidelity-quick" if args.quick else "runs/rank-fidelity"))
    given = {"platform": args.platform, "budget_ms": budget_ms(args.budget), "archs": args.archs,
             "arch_seed": args.arch_seed, "lat_range": args.lat_range, "width_frac": args.width_frac,
             "seeds": args.seeds, "truth_train": args.truth_train, "truth_epochs": args.truth_epochs,
             "truth_batch": args.truth_batch, "truth_lr": args.truth_lr, "sn_train": args.sn_train,
             "sn_epochs": args.sn_epochs, "sn_budget_paths": False if args.sn_uniform_paths else None,
             "sn_replicas": args.sn_replicas,
             "sn_path_draw": args.sn_path_draw,
             "sn_teacher": str(Path(args.sn_teacher).absolute()) if args.sn_teacher else None,
             "sn_distill_weight": args.sn_distill_weight if args.sn_distill_weight is not None or not args.sn_teacher
             else DEFAULT_DISTILL_WEIGHT,
             "mf_rungs": args.mf_rungs, "throughput_n": args.throughput_n}
    if args.mf_rungs is not None and any(k < 1 for k in args.mf_rungs):
        sys.exit("error: --mf-rungs: rungs start at 1 (rung 0 is the `proxy` column)")
    if args.stage == "report" and not (out / "state.json").is_file():
        sys.exit(f"error: nothing to report: no {out / 'state.json'}")
    torch.set_num_threads(args.threads)
    ctx = Context(load_state(out, given, args.quick, Path(args.reuse) if args.reuse else None), out, args.threads)
    if args.scores_from:
        print(f"took {take_scores(ctx.state, Path(args.scores_from))} scores from {args.scores_from}", flush=True)
    if args.stage != "report":  # a report only reads (another process may be writing the state meanwhile)
        ctx.save()  # a changed --mf-rungs / --sn-epochs, scores taken
    mf = [f"mf-r{k}" for k in ctx.cfg["mf_rungs"]]
    if args.remeasure_throughput:
        ctx.state["throughput"] = None
    started = time.perf_counter()
    try:
        if args.stage != "report":
            choose_archs(ctx)
        if args.stage in ("arch", "all"):
            time_one_epoch(ctx)
        if args.stage in ("supernet", "all"):
            supernet_stage(ctx)
            report_stage(ctx, show=False)
        if args.stage == "score":
            score_stage(ctx, cheap_columns(ctx) + mf)
        if args.stage == "all":
            score_stage(ctx, cheap_columns(ctx))
            report_stage(ctx, show=False)
        if args.stage in ("truth", "all"):
            truth_stage(ctx, args.jobs)
            report_stage(ctx, show=False)
        if args.stage == "all":
            score_stage(ctx, mf)
        if args.stage != "arch":
            report_stage(ctx)
    except KeyboardInterrupt:
        print(f"\ninterrupted; every finished unit is kept in {out / 'state.json'}; rerun the same command to "
              f"continue", file=sys.stderr)
        raise SystemExit(130) from None
    print(f"done in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()

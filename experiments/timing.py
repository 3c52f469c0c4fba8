"""Timing the configurations of a table side by side: rounds, each in its own shuffled order; medians.

Every configuration of a table is prepared once (built, exported, loaded), then each of `rounds` rounds
visits all of them in a seeded shuffled order and times each one (warm-up, then timed runs; see
`Backend.time`), so slow drift of the machine touches every configuration alike. A configuration's latency
is the median of its per-round medians. Platforms that cannot be measured here get the profile's prediction
instead (one row per configuration, round 0).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from experiments.context import Context
from experiments.target import Target
from latency_models.backends.torch_cpu import torch_threads
from latency_models.features import feature_matrix
from latency_models.measure import MeasureSettings, backend_for
from latency_models.predictors.roofline import RooflinePredictor
from latency_models.timings import now_iso
from search_space.cost import cost
from search_space.microbench import MicroSpec
from search_space.progress import ProgressFn
from search_space.spec import ArchSpec, BaselineSpec

Spec = ArchSpec | BaselineSpec | MicroSpec

#: Columns of the raw measurement table, in order (one row per configuration and round).
RAW_COLUMNS = ("experiment", "table", "group", "config", "position", "round", "order", "source", "platform",
               "runtime", "batch", "resolution", "flops_m", "params_m", "mac_m", "latency_ms", "iqr_ms", "cv",
               "min_ms", "samples", "noisy", "measured_at")


@dataclass(frozen=True)
class Item:
    """One configuration of a table: the network, the paper's row it reproduces, and where it sits.

    `group` is the column of the paper's table it belongs to (x1, c=64, 56x56 c=64, 40M): speeds are
    normalised to the group's first row. `whole` says the network has an input and output stage (a real
    network) rather than being a stack of blocks. `paper_value` is the paper's speed (`paper_unit`).
    """

    table: str
    group: str
    config: str
    spec: Spec
    position: int
    whole: bool = False
    paper_value: float | None = None
    paper_unit: str = ""
    paper_batch: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.table, self.group, self.config


def _cost_columns(spec: Spec) -> dict[str, float]:
    c = cost(spec)
    return {"flops_m": c.flops_m, "params_m": c.params_m, "mac_m": c.mac_m}


def _base_row(experiment: str, item: Item, target: Target, batch: int) -> dict[str, Any]:
    p = target.platform
    return {"experiment": experiment, "table": item.table, "group": item.group, "config": item.config,
            "position": item.position, "source": target.source, "platform": p.name, "runtime": p.runtime,
            "batch": batch, "resolution": item.spec.resolution, **_cost_columns(item.spec)}


def _module_target(spec: Spec) -> Any:
    """What a backend prepares: a network spec as is, a micro-benchmark as its inference-form module."""
    if isinstance(spec, (ArchSpec, BaselineSpec)):
        return spec
    from search_space.build import build_model

    return build_model(spec, form="inference", seed=0)


def measure_items(experiment: str, items: Sequence[Item], target: Target, *, rounds: int, repeats: int | None,
                  warmup: int | None, seed: int = 0, progress: ProgressFn | None = None) -> pd.DataFrame:
    """Time every item in `rounds` rounds, tables one after another, items of a table interleaved."""
    platform = target.platform
    backend = backend_for(platform)
    settings = MeasureSettings.of(platform, warmup, repeats)
    batch = platform.batch
    tables = list(dict.fromkeys(i.table for i in items))
    total = rounds * len(items)
    rows: list[dict[str, Any]] = []
    done = 0
    threads = torch_threads(platform.threads) if platform.runtime != "cuda" else contextlib.nullcontext()
    with threads:
        for t_index, table in enumerate(tables):
            members = [i for i in items if i.table == table]
            with contextlib.ExitStack() as stack:
                prepared = []
                for item in members:
                    if progress is not None:
                        progress(done, total, f"{table}: preparing {item.group} {item.config}")
                    shape = (batch, item.spec.in_channels, item.spec.resolution, item.spec.resolution)
                    prepared.append(stack.enter_context(
                        backend.prepare(_module_target(item.spec), shape, platform, f"{item.group} {item.config}")))
                for r in range(1, rounds + 1):
                    order = np.random.default_rng([seed, t_index, r]).permutation(len(members))
                    for visit, k in enumerate(order):
                        item = members[int(k)]
                        if progress is not None:
                            progress(done, total, f"{table} round {r}: {item.group} {item.config}")
                        t = backend.time(prepared[int(k)], settings.warmup, settings.repeats, settings.threshold)
                        rows.append({**_base_row(experiment, item, target, batch), "round": r, "order": visit,
                                     "latency_ms": t.latency_ms, "iqr_ms": t.iqr_ms, "cv": t.cv, "min_ms": t.min_ms,
                                     "samples": t.samples, "noisy": t.noisy, "measured_at": now_iso()})
                        done += 1
    if progress is not None:
        progress(total, total, "done")
    return pd.DataFrame(rows, columns=list(RAW_COLUMNS))


def predict_latency(target: Target, spec: Spec, batch: int, whole: bool) -> float:
    """The profile's latency (ms) of one forward pass of `batch` inputs; a block stack carries no per-network
    constant (the published profiles were fit that way: Tables 1-4 have no input or output stage)."""
    assert target.profile is not None
    pred = target.profile.predictor()
    if isinstance(pred, RooflinePredictor):
        ms = float(pred.predict_features(feature_matrix([spec], batch))[0])
        return ms if whole else ms - pred.intercept_ms
    return float(pred.predict([spec])[0])


def predict_items(experiment: str, items: Sequence[Item], target: Target, batch_of: Callable[[Item], int]) \
        -> pd.DataFrame:
    """One predicted row per item (round 0) at the batch `batch_of(item)`."""
    rows = []
    for item in items:
        batch = batch_of(item)
        ms = predict_latency(target, item.spec, batch, item.whole)
        rows.append({**_base_row(experiment, item, target, batch), "round": 0, "order": 0, "latency_ms": ms,
                     "iqr_ms": np.nan, "cv": np.nan, "min_ms": np.nan, "samples": 0, "noisy": False,
                     "measured_at": ""})
    return pd.DataFrame(rows, columns=list(RAW_COLUMNS))


def run_items(ctx: Context, items: Sequence[Item]) -> pd.DataFrame:
    """The context's experiment over `items`: measured rows (its config's rounds, repeats, warm-up) on a local
    platform; otherwise the profile's predictions at the paper's batch of each row (whole networks at the
    platform's batch), the setting the published profiles were fit on."""
    cfg, target, experiment = ctx.config, ctx.target, ctx.config.name
    if target.measured:
        return measure_items(experiment, items, target, rounds=cfg.rounds, repeats=cfg.repeats, warmup=cfg.warmup,
                             seed=ctx.settings.seed, progress=ctx.progress)
    return predict_items(experiment, items, target,
                         lambda i: target.platform.batch if i.whole else i.paper_batch)


def median_latency(raw: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: median over rounds of the round medians (`latency_ms`), the number of rounds and the
    rounds' spread (max/min - 1), in the items' order."""
    keys = ["table", "group", "config"]
    g = raw.groupby(keys, sort=False)["latency_ms"]
    out = g.median().rename("latency_ms").to_frame()
    out["rounds"] = g.size()
    out["round_spread"] = g.max() / g.min() - 1
    return out.reset_index()

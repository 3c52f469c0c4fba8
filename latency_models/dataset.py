"""From timings files to training sets: repeated rounds averaged, drift detected and corrected, units parsed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from latency_models.predictors.base import TrainingSet
from latency_models.timings import LAYER_FIELDS, Timings, TimingsError
from search_space.block_io import block_from_dict
from search_space.layers import Layer
from search_space.spec import spec_from_json

#: Spread of the drift reference (max/min - 1) above which a run's drift is reported as significant.
DRIFT_FLAG = 0.03


@dataclass(frozen=True)
class Drift:
    """How the machine's speed moved during a measurement, seen through the re-timed drift reference."""

    n: int
    spread: float  # max/min - 1 of the reference's latency over the run
    round_ratio: float  # median of the reference in the last round / in the first
    flagged: bool

    def to_dict(self) -> dict[str, float]:
        return {"n": self.n, "spread": self.spread, "round_ratio": self.round_ratio, "flagged": self.flagged}


def drift_of(frame: pd.DataFrame) -> Drift | None:
    """The drift seen by the drift-reference rows of a timings table (None if it has none)."""
    ref = frame[frame["role"] == "drift_ref"]
    if len(ref) < 2:
        return None
    lat = ref["latency_ms"].astype(float)
    by_round = ref.groupby("round")["latency_ms"].median()
    spread = float(lat.max() / lat.min() - 1)
    ratio = float(by_round.iloc[-1] / by_round.iloc[0])
    return Drift(len(ref), spread, ratio, spread > DRIFT_FLAG)


def reference_speed_ms(*frames: pd.DataFrame) -> float | None:
    """The drift reference's median latency over timings tables (the speed their rows are put on), or None."""
    refs = [f.loc[f["role"] == "drift_ref", "latency_ms"].astype(float) for f in frames]
    values = np.concatenate([r.to_numpy() for r in refs]) if refs else np.zeros(0)
    return float(np.median(values)) if len(values) else None


def drift_factors(frame: pd.DataFrame, speed_ms: float | None = None) -> np.ndarray:
    """Per row: the drift reference's latency at that time over `speed_ms` (default: its median over this table;
    1 where the table has no reference).

    A row timed beside the reference (paired timing) uses that pairing: its `ratio_to_ref` (the ratio of the two
    networks' fastest runs, which the machine's load disturbs least) when it has one, else the reference's
    `ref_ms`; a layer row takes the factor of its network's row (same network, same round); other rows
    interpolate the drift reference's timings over time. Dividing a latency by its factor puts every row on the
    speed at which the reference takes `speed_ms` (several files fit together share one: `reference_speed_ms`).
    """
    ref = frame[frame["role"] == "drift_ref"]
    if len(ref) < 2:
        return np.ones(len(frame))
    t_ref = pd.to_datetime(ref["measured_at"]).astype("int64").to_numpy(dtype=float)
    v_ref = ref["latency_ms"].astype(float).to_numpy()
    order = np.argsort(t_ref)
    t = pd.to_datetime(frame["measured_at"]).astype("int64").to_numpy(dtype=float)
    at = np.interp(t, t_ref[order], v_ref[order])
    speed = speed_ms if speed_ms else float(np.median(v_ref))
    paired = _floats(frame["ref_ms"])
    factor = np.where(np.isfinite(paired), paired, at) / speed
    ratio = _floats(frame["ratio_to_ref"])
    has = np.isfinite(ratio) & (frame["kind"] == "network").to_numpy()
    factor[has] = frame["latency_ms"].astype(float).to_numpy()[has] / (ratio[has] * speed)
    keys = list(zip(frame["arch_id"].astype(str), frame["round"].astype(int)))
    by_network = {keys[i]: factor[i] for i in np.flatnonzero(has & (frame["role"] != "drift_ref").to_numpy())}
    for i in np.flatnonzero((frame["kind"] == "layer").to_numpy()):
        factor[i] = by_network.get(keys[i], factor[i])
    return factor


def _floats(column: pd.Series) -> np.ndarray:
    return column.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def network_table(timings: Iterable[Timings], correct_drift: bool = True) -> pd.DataFrame:
    """One row per measured (network, round): spec_json, name, round, latency_ms (drift-corrected if asked: on the
    reference's median speed over all the files)."""
    timings = list(timings)
    speed = reference_speed_ms(*(t.frame for t in timings))
    parts = []
    for t in timings:
        frame = t.frame
        factor = drift_factors(frame, speed) if correct_drift else np.ones(len(frame))
        frame = frame.assign(latency_ms=frame["latency_ms"].astype(float) / factor)
        nets = frame[(frame["kind"] == "network") & (frame["role"] != "drift_ref")]
        parts.append(nets[["spec_json", "name", "round", "batch", "latency_ms", "role"]])
    if not parts:
        return pd.DataFrame(columns=["spec_json", "name", "round", "batch", "latency_ms", "role"])
    return pd.concat(parts, ignore_index=True)


def training_set(timings: list[Timings], correct_drift: bool = True) -> TrainingSet:
    """Networks (mean over rounds) and units (median over repeats) of one platform's timings files."""
    batches = {int(b) for t in timings for b in t.frame["batch"].dropna().unique()}
    if len(batches) > 1:
        raise TimingsError(f"timings mix batch sizes {sorted(batches)}; fit one platform (one batch) at a time")
    nets = network_table(timings, correct_drift)
    grouped = nets.groupby("spec_json")["latency_ms"].mean()
    specs = tuple(spec_from_json(s) for s in grouped.index)
    units = []
    for t in timings:
        rows = t.units()
        if len(rows):
            med = rows.groupby(["spec_json", "h_in", "w_in"])["latency_ms"].median()
            for (key, h, w), ms in med.items():
                units.append((block_from_dict(json.loads(key)), int(h), int(w), float(ms)))
    return TrainingSet(specs, grouped.to_numpy(dtype=float), batch=batches.pop() if batches else 1,
                       units=tuple(units), layers=layer_timings(timings, correct_drift))


def layer_timings(timings: Iterable[Timings], correct_drift: bool = True) -> tuple[tuple[str, Layer, float], ...]:
    """(network arch_id, layer, ms) of every layer row, drift-corrected like the networks and averaged over rounds."""
    timings = list(timings)
    speed = reference_speed_ms(*(t.frame for t in timings))
    out = []
    for t in timings:
        frame = t.frame
        if not (frame["kind"] == "layer").any():
            continue
        factor = drift_factors(frame, speed) if correct_drift else np.ones(len(frame))
        rows = frame.assign(latency_ms=frame["latency_ms"].astype(float) / factor)
        rows = rows[rows["kind"] == "layer"]
        mean = rows.groupby(["arch_id", "name", "spec_json"])["latency_ms"].mean()
        for (arch_id, name, key), ms in mean.items():
            k = json.loads(key)
            layer = Layer(name=str(name), block="", **{f: k[f] for f in LAYER_FIELDS})
            out.append((str(arch_id), layer, float(ms)))
    return tuple(out)


def repeat_noise(nets: pd.DataFrame) -> tuple[float, float, int]:
    """(median, 90th percentile, n) of |m1/m2 - 1| over networks measured in two rounds."""
    wide = nets.pivot_table(index="spec_json", columns="round", values="latency_ms", aggfunc="mean")
    if wide.shape[1] < 2:
        return float("nan"), float("nan"), 0
    both = wide.dropna(subset=list(wide.columns[:2]))
    r = np.abs(both.iloc[:, 0] / both.iloc[:, 1] - 1)
    return float(r.median()), float(r.quantile(0.9)), len(r)

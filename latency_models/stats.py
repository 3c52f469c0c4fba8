"""Robust statistics of repeated latency runs: median, IQR, robust CV and a noise flag (all in ms)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np

#: A timing whose robust CV is above this is flagged `noisy` (re-timed, and marked if it stays noisy).
NOISE_CV_THRESHOLD = 0.05
#: How many extra timings a noisy measurement gets before it is kept and marked noisy.
NOISE_RETRIES = 2
#: IQR of a normal distribution in units of its standard deviation (IQR / 1.349 estimates sigma).
IQR_PER_SIGMA = 1.349


@dataclass(frozen=True)
class Timing:
    """Statistics of `samples` timed runs of one forward pass, in milliseconds.

    latency_ms: median of the per-run times; iqr_ms: interquartile range (p75 - p25); min_ms: fastest run;
    cv: robust coefficient of variation, IQR / 1.349 / median (the normal-consistent sigma estimate over the
    median, so one slow outlier run does not flag a run, but a spread-out distribution does); noisy: cv above
    the threshold used; attempts: how many timings were taken (re-timed when noisy, the least noisy kept).
    """

    latency_ms: float
    iqr_ms: float
    cv: float
    min_ms: float
    samples: int
    noisy: bool
    attempts: int = 1
    samples_ms: tuple[float, ...] | None = field(default=None, repr=False, compare=False)

    def to_dict(self, with_samples: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_samples:
            d.pop("samples_ms")
        elif d["samples_ms"] is not None:
            d["samples_ms"] = list(d["samples_ms"])
        return d


def summarize(samples_ms: Iterable[float], threshold: float = NOISE_CV_THRESHOLD, keep_samples: bool = False) -> Timing:
    """Timing statistics of per-run times (ms); raises ValueError on no samples or non-positive values."""
    arr = np.asarray(list(samples_ms), dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no timed runs to summarize")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("run times must be positive, finite milliseconds")
    p25, med, p75 = (float(v) for v in np.percentile(arr, [25, 50, 75]))
    iqr = p75 - p25
    cv = robust_cv(med, iqr)
    return Timing(latency_ms=med, iqr_ms=iqr, cv=cv, min_ms=float(arr.min()), samples=int(arr.size),
                  noisy=bool(cv > threshold), samples_ms=tuple(float(v) for v in arr) if keep_samples else None)


def robust_cv(median_ms: float, iqr_ms: float) -> float:
    """IQR / 1.349 / median: the CV of a normal distribution with that median and IQR, robust to outliers."""
    return float(iqr_ms / IQR_PER_SIGMA / median_ms) if median_ms > 0 else math.inf


def least_noisy(timings: Sequence[Timing]) -> Timing:
    """The timing with the lowest CV (ties: the faster one), with `attempts` = how many were taken."""
    if not timings:
        raise ValueError("no timings")
    best = min(timings, key=lambda t: (t.cv, t.latency_ms))
    return replace(best, attempts=len(timings))


def repeat_noise(first_ms: Sequence[float], second_ms: Sequence[float]) -> tuple[float, float]:
    """Median and 90th percentile of |m1/m2 - 1| over paired measurements of the same networks."""
    a, b = np.asarray(first_ms, dtype=np.float64), np.asarray(second_ms, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("need two equally long, non-empty sequences of latencies")
    rel = np.abs(a / b - 1.0)
    return float(np.median(rel)), float(np.percentile(rel, 90))


def scaled(t: Timing, factor: float) -> Timing:
    """The timing with every time multiplied by `factor` (its CV and noise flag unchanged)."""
    return replace(t, latency_ms=t.latency_ms * factor, iqr_ms=t.iqr_ms * factor, min_ms=t.min_ms * factor,
                   samples_ms=None if t.samples_ms is None else tuple(v * factor for v in t.samples_ms))

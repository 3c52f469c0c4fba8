"""Rank-correlation helpers shared by the evaluator benchmarks (evaluator_budget.py, rank_fidelity.py)."""

from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np
from scipy.stats import rankdata


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall tau-b of two equally long score lists (a pair tied in either list is neither concordant nor
    discordant, and the normalisation discounts ties as tau-b does; without ties it is plain Kendall tau).
    NaN for fewer than 2 items or when one list is constant."""
    if len(a) != len(b):
        raise ValueError(f"kendall_tau: lists of {len(a)} and {len(b)} items")
    n, conc, disc, ties_a, ties_b = len(a), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            sa, sb = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
            ties_a += sa == 0
            ties_b += sb == 0
            conc += sa * sb > 0
            disc += sa * sb < 0
    pairs = n * (n - 1) // 2
    denom = math.sqrt((pairs - ties_a) * (pairs - ties_b))
    return float((conc - disc) / denom) if denom > 0 else float("nan")


def mean_pairwise_tau(columns: Sequence[Sequence[float]]) -> float:
    """Mean Kendall tau-b over all pairs of columns (e.g. one column of accuracies per training seed): with two
    columns it is their tau; NaN with fewer than two."""
    taus = [kendall_tau(x, y) for x, y in itertools.combinations(columns, 2)]
    return float(np.mean(taus)) if taus else float("nan")


def mean_rank(columns: Sequence[Sequence[float]]) -> list[float]:
    """Each item's mean over the columns (equally long score lists) of its rank within the column, scaled to 0
    (lowest) .. 1 (highest); tied items share their mean rank. Empty for fewer than 2 items."""
    n = len(columns[0]) if columns else 0
    if n < 2:
        return []
    ranks = np.array([rankdata(c) for c in columns])
    return [float(x) for x in ((ranks - 1) / (n - 1)).mean(axis=0)]


def pick_quality(scores: Sequence[float], truth: Sequence[float], k: int = 5) -> dict[str, float]:
    """What a search that trusts `scores` would keep, judged by `truth` (equally long lists): the truth of the
    top-scored item (`pick`) and its rank by truth (`pick_rank`, 1 = the best; ties with the pick count in its
    favour), and the mean truth of the k top-scored items (`top_k`); score ties are broken by list order."""
    if len(scores) != len(truth) or not scores:
        raise ValueError(f"pick_quality: lists of {len(scores)} and {len(truth)} items")
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    best = truth[order[0]]
    return {"pick": float(best), "pick_rank": float(1 + sum(t > best for t in truth)),
            "top_k": float(np.mean([truth[i] for i in order[:k]])), "k": float(min(k, len(scores)))}


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, draws: int = 2000, level: float = 0.9,
                       seed: int = 0) -> tuple[float, float]:
    """The central `level` interval of `statistic(indices)` over `draws` resamplings of the n items with replacement
    (seeded; resamples where the statistic is NaN are dropped): how far a tau over so few items can move when other
    items of the same population are drawn. (NaN, NaN) for fewer than 3 items."""
    if n < 3:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(draws)])
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


__all__ = ["bootstrap_interval", "kendall_tau", "mean_pairwise_tau", "mean_rank", "pick_quality"]

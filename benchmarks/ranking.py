"""Rank-correlation helpers shared by the evaluator benchmarks (evaluator_budget.py, rank_fidelity.py)."""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np


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


__all__ = ["kendall_tau", "mean_pairwise_tau"]

"""Predictor accuracy: hit rates within ±5% / ±10%, RMSPE, Spearman rho; k-fold cross-validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from latency_models.predictors.base import Predictor, TrainingSet


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); nan for fewer than 3 points."""
    if len(a) < 3:
        return float("nan")

    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        # average ranks of ties
        _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        return (sums / counts)[inv]

    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True)
class Accuracy:
    """How close predictions are to measurements (relative errors pred/meas - 1)."""

    n: int
    within_5pct: float
    within_10pct: float
    rmspe: float
    mape: float
    max_ape: float
    spearman: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def accuracy(predicted: np.ndarray, measured: np.ndarray) -> Accuracy:
    """Hit rates, RMSPE, mean/max absolute percentage error and Spearman rho of predictions."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    rel = p / m - 1
    a = np.abs(rel)
    return Accuracy(n=len(m), within_5pct=float((a <= 0.05).mean()), within_10pct=float((a <= 0.10).mean()),
                    rmspe=float(np.sqrt((rel ** 2).mean())), mape=float(a.mean()), max_ape=float(a.max()),
                    spearman=spearman(p, m))


def kfold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Test indices of `folds` folds of a seeded permutation of range(n)."""
    perm = np.random.default_rng(seed).permutation(n)
    return [perm[i::folds] for i in range(folds)]


def cross_val_predictions(factory: Callable[[], Predictor], data: TrainingSet, folds: int = 5, seed: int = 0,
                          repeats: int = 1) -> np.ndarray:
    """Out-of-fold predictions (mean over `repeats` differently seeded k-fold splits), shape (n,)."""
    n = len(data.specs)
    out = np.zeros(n)
    for r in range(repeats):
        for test in kfold_indices(n, folds, seed + r):
            train = np.setdiff1d(np.arange(n), test)
            model = factory().fit(data.subset(train))
            out[test] += model.predict([data.specs[i] for i in test])
    return out / repeats

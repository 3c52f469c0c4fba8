"""Gradient-boosted regression trees stored as plain arrays: fit with scikit-learn, evaluated with numpy alone.

A fitted ensemble is `base + rate * sum(tree(x))`; each tree is its sklearn node arrays (children, split feature,
threshold, leaf value) as lists, so a saved predictor never stops loading after a library upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latency_models.predictors.base import PredictorError


@dataclass
class BoostedTrees:
    """A fitted ensemble (see the module docstring); `predict(X)` -> (n,)."""

    base: float = 0.0
    rate: float = 0.1
    trees: list[dict[str, np.ndarray]] = field(default_factory=list)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, n_estimators: int = 400, max_depth: int = 5,
            learning_rate: float = 0.05, subsample: float = 0.8, seed: int = 0) -> "BoostedTrees":
        """Least-squares boosting of depth-`max_depth` trees on (X, y) (scikit-learn's exact-split trees)."""
        GradientBoostingRegressor = _sklearn("GradientBoostingRegressor")
        model = GradientBoostingRegressor(n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate,
                                          subsample=subsample, random_state=seed, loss="squared_error")
        model.fit(X, y)
        trees = []
        for est in model.estimators_:
            t = est[0].tree_
            trees.append({"left": t.children_left.copy(), "right": t.children_right.copy(),
                          "feature": t.feature.copy(), "threshold": t.threshold.copy(),
                          "value": t.value[:, 0, 0].copy()})
        return cls(float(model.init_.constant_[0][0]), float(model.learning_rate), trees)

    @classmethod
    def fit_histogram(cls, X: np.ndarray, y: np.ndarray, max_iter: int = 300, max_leaf_nodes: int = 31,
                      learning_rate: float = 0.1, min_samples_leaf: int = 5, seed: int = 0) -> "BoostedTrees":
        """Least-squares boosting with scikit-learn's histogram trees (binned features: seconds for tens of
        thousands of rows); leaf values already include the learning rate."""
        HistGradientBoostingRegressor = _sklearn("HistGradientBoostingRegressor")
        model = HistGradientBoostingRegressor(max_iter=max_iter, max_leaf_nodes=max_leaf_nodes,
                                              learning_rate=learning_rate, min_samples_leaf=min_samples_leaf,
                                              early_stopping=False, random_state=seed)
        model.fit(X, y)
        trees = []
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            trees.append({"left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
                          "right": np.where(leaf, -1, nodes["right"].astype(np.int64)),
                          "feature": np.where(leaf, -2, nodes["feature_idx"].astype(np.int64)),
                          "threshold": nodes["num_threshold"].astype(float), "value": nodes["value"].astype(float)})
        return cls(float(np.ravel(model._baseline_prediction)[0]), 1.0, trees)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Every row through every tree (one vectorised pass per tree)."""
        out = np.zeros(len(X))
        rows = np.arange(len(X))
        for t in self.trees:
            node = np.zeros(len(X), dtype=np.int64)
            while True:
                leaf = t["left"][node] < 0
                if leaf.all():
                    break
                go_left = X[rows, np.maximum(t["feature"][node], 0)] <= t["threshold"][node]
                node = np.where(leaf, node, np.where(go_left, t["left"][node], t["right"][node]))
            out += t["value"][node]
        return self.base + self.rate * out

    def state(self) -> dict[str, Any]:
        return {"base": self.base, "rate": self.rate, "trees": [{k: v.tolist() for k, v in t.items()}
                                                               for t in self.trees]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "BoostedTrees":
        trees = [{k: np.asarray(v, dtype=np.int64 if k in ("left", "right", "feature") else float)
                  for k, v in t.items()} for t in state["trees"]]
        return cls(float(state["base"]), float(state["rate"]), trees)


def _sklearn(name: str) -> Any:
    try:
        import sklearn.ensemble
    except ImportError:
        raise PredictorError("fitting tree predictors needs scikit-learn: pip install scikit-learn") from None
    return getattr(sklearn.ensemble, name)

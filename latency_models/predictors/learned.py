"""Learned per-unit regressor (nn-Meter style): gradient-boosted trees on each block's shape features.

Fit on single-block timings (`nas measure --units`): the target is log(ms) of a block timed alone; the
features are its shape (type, channels, input size, stride, kernel, variant, split ratio, SE, residual)
and its cost (log multiply-adds / activation traffic / weights / op count per op group). A network is the
sum of its blocks, calibrated on whole-network timings. The trees are stored as plain arrays in the
predictor file and evaluated with numpy (scikit-learn is needed to fit, not to predict), so a saved
predictor never stops loading after a library upgrade.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from latency_models.features import N_FEATURES
from latency_models.predictors.base import PredictorError, feature_box_extrapolates
from latency_models.predictors.blocksum import BlockSumPredictor
from latency_models.predictors.lut import block_features
from search_space.blocks import ShuffleUnit
from search_space.spec import VARIANTS

BLOCK_TYPES = ("ShuffleUnit", "ConvBlock", "MaxPool", "Classifier", "InvertedResidual", "ShuffleV1Unit",
               "XceptionBlock")
SHAPE_NAMES = (tuple(f"type_{t}" for t in BLOCK_TYPES) + ("cin", "cout", "h_in", "stride", "kernel")
               + tuple(f"variant_{v}" for v in VARIANTS) + ("split_ratio", "se", "residual", "first"))


def shape_features(block: Any, h: int, w: int, batch: int) -> np.ndarray:
    """Shape and log-cost features of one block (see SHAPE_NAMES, then log1p of the per-group costs)."""
    t = type(block).__name__
    onehot = [1.0 if t == name else 0.0 for name in BLOCK_TYPES]
    conv = getattr(block, "conv", None)
    cin = getattr(block, "cin", getattr(conv, "cin", getattr(block, "channels", 0)))
    cout = block.cout
    if isinstance(block, ShuffleUnit):
        u = block.unit
        rest = [block.stride, u.kernel] + [1.0 if u.variant == v else 0.0 for v in VARIANTS] + \
               [u.split_ratio, float(u.se), float(u.residual), float(block.first)]
    else:
        src = conv if conv is not None else block
        rest = [getattr(src, "stride", 1), getattr(src, "kernel", 1)] + [0.0] * len(VARIANTS) + [0.0] * 4
    shape = np.array(onehot + [cin, cout, h] + rest, dtype=float)
    return np.concatenate([shape, np.log1p(block_features(block, h, w, batch) * 1e3)])


def _tree_arrays(tree: Any) -> dict[str, list]:
    t = tree.tree_
    return {"left": t.children_left.tolist(), "right": t.children_right.tolist(), "feature": t.feature.tolist(),
            "threshold": t.threshold.tolist(), "value": t.value[:, 0, 0].tolist()}


def _predict_trees(trees: list[dict[str, np.ndarray]], X: np.ndarray) -> np.ndarray:
    out = np.zeros(len(X))
    rows = np.arange(len(X))
    for t in trees:
        node = np.zeros(len(X), dtype=np.int64)
        while True:
            leaf = t["left"][node] < 0
            if leaf.all():
                break
            go_left = X[rows, np.maximum(t["feature"][node], 0)] <= t["threshold"][node]
            nxt = np.where(go_left, t["left"][node], t["right"][node])
            node = np.where(leaf, node, nxt)
        out += t["value"][node]
    return out


class LearnedUnitPredictor(BlockSumPredictor):
    kind = "learned"
    summary = "gradient-boosted trees on each block's shape features, summed over the network (nn-Meter style)"

    def __init__(self, n_estimators: int = 400, max_depth: int = 5, learning_rate: float = 0.05,
                 seed: int = 0) -> None:
        super().__init__()
        self.params = {"n_estimators": n_estimators, "max_depth": max_depth, "learning_rate": learning_rate,
                       "seed": seed}
        self.base = 0.0
        self.rate = learning_rate
        self.trees: list[dict[str, np.ndarray]] = []
        self.box = np.zeros((2, len(SHAPE_NAMES) + N_FEATURES))
        self.block_types: list[str] = []

    def fit_blocks(self, units: Sequence[tuple[Any, int, int, float]], batch: int) -> None:
        try:
            from sklearn.ensemble import GradientBoostingRegressor
        except ImportError:
            raise PredictorError("fitting the learned predictor needs scikit-learn: pip install scikit-learn") from None
        X = np.array([shape_features(b, h, w, batch) for b, h, w, _ in units])
        y = np.log(np.array([ms for *_, ms in units]))
        p = self.params
        model = GradientBoostingRegressor(n_estimators=p["n_estimators"], max_depth=p["max_depth"],
                                          learning_rate=p["learning_rate"], subsample=0.8,
                                          random_state=p["seed"], loss="squared_error")
        model.fit(X, y)
        self.base = float(model.init_.constant_[0][0])
        self.rate = float(model.learning_rate)
        self.trees = [{k: np.asarray(v) for k, v in _tree_arrays(est[0]).items()} for est in model.estimators_]
        self.box = np.vstack([X.min(axis=0), X.max(axis=0)])
        self.block_types = sorted({type(b).__name__ for b, *_ in units})

    def block_latency(self, block: Any, h: int, w: int) -> tuple[float, bool]:
        ms, extra = self.block_latencies([(block, h, w)])
        return float(ms[0]), bool(extra[0])

    def block_latencies(self, items: Sequence[tuple[Any, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """All blocks through the trees at once (one pass per tree for the whole batch)."""
        for block, _, _ in items:
            if type(block).__name__ not in self.block_types:
                raise PredictorError(f"the learned predictor was fit without {type(block).__name__} blocks; measure "
                                     f"such networks with --units")
        X = np.array([shape_features(b, h, w, self.batch) for b, h, w in items])
        ms = np.exp(self.base + self.rate * _predict_trees(self.trees, X))
        return ms, feature_box_extrapolates(self.box, X)

    def state(self) -> dict[str, Any]:
        return {"params": self.params, "base": self.base, "rate": self.rate,
                "trees": [{k: v.tolist() for k, v in t.items()} for t in self.trees], "box": self.box.tolist(),
                "block_types": self.block_types,
                "feature_names": list(SHAPE_NAMES), **self.calibration_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        if list(state["feature_names"]) != list(SHAPE_NAMES):
            raise ValueError("the feature set changed since this predictor was fit; refit it")
        self.params, self.base, self.rate = state["params"], float(state["base"]), float(state["rate"])
        self.trees = [{k: np.asarray(v) for k, v in t.items()} for t in state["trees"]]
        self.box = np.asarray(state["box"], dtype=float)
        self.block_types = list(state["block_types"])
        self.load_calibration(state)

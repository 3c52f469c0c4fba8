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
from latency_models.predictors.trees import BoostedTrees
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


class LearnedUnitPredictor(BlockSumPredictor):
    kind = "learned"
    summary = "gradient-boosted trees on each block's shape features, summed over the network (nn-Meter style)"

    def __init__(self, n_estimators: int = 400, max_depth: int = 5, learning_rate: float = 0.05,
                 seed: int = 0) -> None:
        super().__init__()
        self.params = {"n_estimators": n_estimators, "max_depth": max_depth, "learning_rate": learning_rate,
                       "seed": seed}
        self.model = BoostedTrees(rate=learning_rate)
        self.box = np.zeros((2, len(SHAPE_NAMES) + N_FEATURES))
        self.block_types: list[str] = []

    def fit_blocks(self, units: Sequence[tuple[Any, int, int, float]], batch: int) -> None:
        X = np.array([shape_features(b, h, w, batch) for b, h, w, _ in units])
        y = np.log(np.array([ms for *_, ms in units]))
        p = self.params
        self.model = BoostedTrees.fit(X, y, p["n_estimators"], p["max_depth"], p["learning_rate"], seed=p["seed"])
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
        ms = np.exp(self.model.predict(X))
        return ms, feature_box_extrapolates(self.box, X)

    def state(self) -> dict[str, Any]:
        return {"params": self.params, **self.model.state(), "box": self.box.tolist(),
                "block_types": self.block_types,
                "feature_names": list(SHAPE_NAMES), **self.calibration_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        if list(state["feature_names"]) != list(SHAPE_NAMES):
            raise ValueError("the feature set changed since this predictor was fit; refit it")
        self.params = state["params"]
        self.model = BoostedTrees.from_state(state)
        self.box = np.asarray(state["box"], dtype=float)
        self.block_types = list(state["block_types"])
        self.load_calibration(state)

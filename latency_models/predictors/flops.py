"""FLOPs-only baseline: latency = a + b * multiply-adds. The straw man the paper argues against."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from latency_models.predictors.base import (Predictor, TrainingSet, feature_box_extrapolates,
                                            relative_lstsq_weights)
from search_space.cost import cost
from search_space.spec import NetSpec


def flops_column(specs: Sequence[NetSpec], batch: int) -> np.ndarray:
    """M multiply-adds of one forward pass of `batch` inputs, per spec."""
    return np.array([cost(s).flops_m * batch for s in specs])


class FlopsPredictor(Predictor):
    kind = "flops"
    summary = "latency = a + b x MFLOPs (the baseline the paper shows to mislead)"

    def __init__(self) -> None:
        super().__init__()
        self.a = 0.0
        self.b = 0.0
        self.lo = 0.0
        self.hi = 0.0

    @classmethod
    def proportional(cls, flops_m: float, latency_ms: float, batch: int) -> "FlopsPredictor":
        """latency = (latency_ms / flops_m) x MFLOPs: the FLOPs baseline through a single anchor network."""
        p = cls()
        p.a, p.b, p.lo, p.hi, p.batch, p.fitted = 0.0, latency_ms / flops_m, flops_m, flops_m, batch, True
        return p

    def fit(self, data: TrainingSet) -> "FlopsPredictor":
        self.batch = data.batch
        x = flops_column(data.specs, data.batch)
        y = np.asarray(data.latency_ms, dtype=float)
        w = relative_lstsq_weights(y)
        A = np.stack([np.ones_like(x), x], axis=1) * w[:, None]
        (self.a, self.b), *_ = np.linalg.lstsq(A, y * w, rcond=None)
        self.lo, self.hi = float(x.min()), float(x.max())
        self.fitted = True
        return self

    def predict(self, specs: Sequence[NetSpec]) -> np.ndarray:
        self._check_fitted()
        return self.a + self.b * flops_column(specs, self.batch)

    def extrapolates(self, specs: Sequence[NetSpec]) -> np.ndarray:
        x = flops_column(specs, self.batch)[:, None]
        return feature_box_extrapolates(np.array([[self.lo], [self.hi]]), x)

    def state(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "flops_range_m": [self.lo, self.hi]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.a, self.b = float(state["a"]), float(state["b"])
        self.lo, self.hi = map(float, state["flops_range_m"])

"""Predictors that time blocks alone and sum them: a network is scale * sum(blocks) + offset, where the
scale and offset are fit on whole-network timings (run-time effects a block timed alone does not see)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Sequence

import json

import numpy as np

from latency_models.predictors.base import Predictor, PredictorError, TrainingSet, nnls, relative_lstsq_weights
from search_space.block_io import block_to_dict
from search_space.plan import plan
from search_space.spec import NetSpec


def block_key(block: Any, h: int, w: int) -> str:
    """Identity of a block measurement (its plan without the name, and its input size)."""
    d = block_to_dict(block)
    d.pop("name", None)
    return json.dumps([d, h, w], sort_keys=True)


def spec_block_keys(spec: NetSpec) -> set[str]:
    """`block_key` of every block of a network at its resolution."""
    keys, h, w = set(), spec.resolution, spec.resolution
    for block in plan(spec):
        keys.add(block_key(block, h, w))
        _, h, w = block.layers(h, w)
    return keys


class BlockSumPredictor(Predictor):
    """Base of per-block predictors (lookup table, learned regressor)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale, self.offset_ms = 1.0, 0.0

    @abstractmethod
    def fit_blocks(self, units: Sequence[tuple[Any, int, int, float]], batch: int) -> None:
        """Fit the per-block model on (block, input h, input w, ms) timings."""

    @abstractmethod
    def block_latency(self, block: Any, h: int, w: int) -> tuple[float, bool]:
        """(ms of one block timed alone, whether that is an extrapolation)."""

    def fit(self, data: TrainingSet) -> "BlockSumPredictor":
        if not data.units:
            raise PredictorError(f"the {self.kind} predictor needs single-block timings: measure with "
                                 f"`nas measure --units`")
        self.batch = data.batch
        self.fit_blocks(data.units, data.batch)
        self.fitted = True
        self.scale, self.offset_ms = 1.0, 0.0
        y = np.asarray(data.latency_ms, dtype=float)
        if len(y) >= 2:
            sums = np.array([self.sum_blocks(s)[0] for s in data.specs])
            wts = relative_lstsq_weights(y)
            A = np.column_stack([sums, np.ones(len(y))])
            sol, _ = nnls(A * wts[:, None], y * wts)
            self.scale, self.offset_ms = float(sol[0]), float(sol[1])
        return self

    def sum_blocks(self, spec: NetSpec) -> tuple[float, bool]:
        """(sum of the blocks' ms, whether any block was extrapolated)."""
        total, extra = 0.0, False
        h = w = spec.resolution
        for block in plan(spec):
            ms, ex = self.block_latency(block, h, w)
            total += ms
            extra |= ex
            _, h, w = block.layers(h, w)
        return total, extra

    def predict(self, specs: Sequence[NetSpec]) -> np.ndarray:
        self._check_fitted()
        return np.array([self.scale * self.sum_blocks(s)[0] + self.offset_ms for s in specs])

    def extrapolates(self, specs: Sequence[NetSpec]) -> np.ndarray:
        self._check_fitted()
        return np.array([self.sum_blocks(s)[1] for s in specs])

    def calibration_state(self) -> dict[str, float]:
        return {"scale": self.scale, "offset_ms": self.offset_ms}

    def load_calibration(self, state: dict[str, Any]) -> None:
        self.scale, self.offset_ms = float(state["scale"]), float(state["offset_ms"])

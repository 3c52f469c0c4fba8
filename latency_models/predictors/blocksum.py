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

    def covers(self, spec: NetSpec, block_types: set[str]) -> bool:
        """Whether every block type of `spec` is among `block_types`."""
        return all(type(b).__name__ in block_types for b in plan(spec))

    def fit(self, data: TrainingSet) -> "BlockSumPredictor":
        if not data.units:
            raise PredictorError(f"the {self.kind} predictor needs single-block timings: measure with "
                                 f"`nas measure --units`")
        self.batch = data.batch
        self.fit_blocks(data.units, data.batch)
        self.fitted = True
        self.scale, self.offset_ms = 1.0, 0.0
        types = {type(u[0]).__name__ for u in data.units}
        keep = [i for i, s in enumerate(data.specs) if self.covers(s, types)]  # calibrate on what it can predict
        y = np.asarray(data.latency_ms, dtype=float)[keep]
        if len(y) >= 2:
            sums = self.sum_many([data.specs[i] for i in keep])[0]
            wts = relative_lstsq_weights(y)
            A = np.column_stack([sums, np.ones(len(y))])
            sol, _ = nnls(A * wts[:, None], y * wts)
            self.scale, self.offset_ms = float(sol[0]), float(sol[1])
        return self

    def block_latencies(self, items: Sequence[tuple[Any, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """ms and extrapolation flag of many (block, h, w) at once (predictors may vectorise this)."""
        out = [self.block_latency(b, h, w) for b, h, w in items]
        return np.array([o[0] for o in out]), np.array([o[1] for o in out], dtype=bool)

    def sum_many(self, specs: Sequence[NetSpec]) -> tuple[np.ndarray, np.ndarray]:
        """(sum of the blocks' ms, any block extrapolated) per spec; each distinct block is priced once."""
        index: dict[str, int] = {}
        items: list[tuple[Any, int, int]] = []
        members: list[list[int]] = []
        for spec in specs:
            idx, h = [], spec.resolution
            w = h
            for block in plan(spec):
                key = block_key(block, h, w)
                if key not in index:
                    index[key] = len(items)
                    items.append((block, h, w))
                idx.append(index[key])
                _, h, w = block.layers(h, w)
            members.append(idx)
        ms, extra = self.block_latencies(items) if items else (np.zeros(0), np.zeros(0, bool))
        return (np.array([ms[i].sum() for i in members]), np.array([bool(extra[i].any()) for i in members]))

    def sum_blocks(self, spec: NetSpec) -> tuple[float, bool]:
        """(sum of the blocks' ms, whether any block was extrapolated)."""
        ms, extra = self.sum_many([spec])
        return float(ms[0]), bool(extra[0])

    def predict(self, specs: Sequence[NetSpec]) -> np.ndarray:
        self._check_fitted()
        return self.scale * self.sum_many(specs)[0] + self.offset_ms

    def extrapolates(self, specs: Sequence[NetSpec]) -> np.ndarray:
        self._check_fitted()
        return self.sum_many(specs)[1]

    def calibration_state(self) -> dict[str, float]:
        return {"scale": self.scale, "offset_ms": self.offset_ms}

    def load_calibration(self, state: dict[str, Any]) -> None:
        self.scale, self.offset_ms = float(state["scale"]), float(state["offset_ms"])

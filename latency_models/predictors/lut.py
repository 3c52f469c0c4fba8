"""Per-unit lookup table (Once-for-All / ProxylessNAS style) with interpolation over widths.

Fit on single-block timings (`nas measure --units`): each block (ShuffleNet v2 unit, stem conv, pool, head
conv, classifier) measured alone at its input size. A block's latency is the table entry when that exact
block was measured; otherwise it is interpolated within its *group* (same type, kernel, variant, split,
SE, residual, stride and input size; only the channel counts differ): a block-level roofline of its type
(fit on every measured block of that type) scaled by the group's median measured/roofline ratio. A block
whose group was never measured gets the type's roofline alone (and is flagged as extrapolated). A network is sum of its blocks, scaled and offset by
a fit on whole-network timings (run-time effects a block timed alone does not see).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from latency_models.features import FEATURE_NAMES, N_BASE, N_FEATURES, add_layer
from latency_models.predictors.base import PredictorError, nnls, relative_lstsq_weights
from latency_models.predictors.blocksum import BlockSumPredictor, block_key
from search_space.block_io import block_to_dict

WIDTH_FIELDS = frozenset({"cin", "cout", "cout_", "channels", "mid", "groups"})


def _strip_widths(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_widths(v) for k, v in value.items() if k not in WIDTH_FIELDS}
    return value


def block_features(block: Any, h: int, w: int, batch: int) -> np.ndarray:
    """Per-group [M multiply-adds, M activation elements, M weights, ops] of one block (len N_FEATURES)."""
    layers, _, _ = block.layers(h, w)
    f = np.zeros(N_FEATURES)
    for layer in layers:
        add_layer(f, layer, batch)
    return f


def group_key(block: Any, h: int, w: int) -> str:
    d = _strip_widths(block_to_dict(block))
    d.pop("name", None)
    return json.dumps([d, h, w], sort_keys=True)


def block_flops(f: np.ndarray) -> float:
    """Total M multiply-adds in a block feature vector (its base groups only)."""
    return float(f[:N_BASE][0::4].sum())


class UnitLUTPredictor(BlockSumPredictor):
    kind = "lut"
    summary = "sum of per-block latencies from a measured lookup table, interpolated over widths"

    def __init__(self) -> None:
        super().__init__()
        self.exact: dict[str, float] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.fallback: dict[str, list[float]] = {}

    def fit_blocks(self, units: Sequence[tuple[Any, int, int, float]], batch: int) -> None:
        by_exact: dict[str, list[float]] = defaultdict(list)
        feats = [block_features(block, h, w, batch) for block, h, w, _ in units]
        by_type: dict[str, list[int]] = defaultdict(list)
        for i, (block, h, w, ms) in enumerate(units):
            by_exact[block_key(block, h, w)].append(ms)
            by_type[type(block).__name__].append(i)
        self.exact = {k: float(np.median(v)) for k, v in by_exact.items()}
        self.fallback = {}
        for t, idx in by_type.items():
            F = np.array([feats[i] for i in idx])
            y = np.array([units[i][3] for i in idx])
            wts = relative_lstsq_weights(y)
            A = np.column_stack([F, np.ones(len(y))])
            sol, _ = nnls(A * wts[:, None], y * wts, maxiter=50 * A.shape[1])
            self.fallback[t] = sol.tolist()
        ratios: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for (block, h, w, ms), f in zip(units, feats):
            base = self._type_model(type(block).__name__, f)
            ratios[group_key(block, h, w)].append((ms / max(base, 1e-9), block_flops(f)))
        self.groups = {k: {"ratio": float(np.median([r for r, _ in v])),
                           "flops_range": [min(f for _, f in v), max(f for _, f in v)], "n": len(v)}
                       for k, v in ratios.items()}

    def _type_model(self, block_type: str, f: np.ndarray) -> float:
        coef = self.fallback.get(block_type)
        if coef is None:
            raise PredictorError(f"the lookup table has no {block_type} blocks; measure such networks with --units")
        return float(f @ np.asarray(coef[:-1]) + coef[-1])

    def block_latency(self, block: Any, h: int, w: int) -> tuple[float, bool]:
        ek = block_key(block, h, w)
        if ek in self.exact:
            return self.exact[ek], False
        f = block_features(block, h, w, self.batch)
        base = self._type_model(type(block).__name__, f)
        g = self.groups.get(group_key(block, h, w))
        if g is None:
            return base, True
        lo, hi = g["flops_range"]
        flops = block_flops(f)
        return base * g["ratio"], not (lo * 0.9 <= flops <= hi * 1.1)

    def state(self) -> dict[str, Any]:
        return {"exact": self.exact, "groups": self.groups, "fallback": self.fallback,
                "feature_names": list(FEATURE_NAMES), **self.calibration_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        if list(state["feature_names"]) != list(FEATURE_NAMES):
            raise ValueError("the feature set changed since this lookup table was fit; refit it")
        self.exact = {k: float(v) for k, v in state["exact"].items()}
        self.groups = state["groups"]
        self.fallback = state["fallback"]
        self.load_calibration(state)

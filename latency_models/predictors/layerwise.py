"""Per-layer predictor: every matrix layer priced by boosted trees fit on layers timed inside their networks.

Fit on `TrainingSet.layers` (the convolutions, depthwise, group and dense, and the fully connected layers of measured
networks, each timed inside its network by the runtime's profiler: `nas measure --layers`, or a local platform's
automatic profile) and on whole-network timings. A layer's time is predicted from its shape alone (kind, channels,
input / output size, kernel, stride, groups, alignment of its channel counts to the SIMD blocks, multiply-adds and
traffic), so it carries over to networks and families never measured, as long as their layers' kinds were. A network
is then `scale * sum(matrix layers) + the roofline's element-wise / pooling / reorder terms + a constant`, fit by
non-negative least squares on the relative error of the whole networks: what the profiler does not see one by one
(concatenation, shuffle, slices, layout reorders, per-run overhead) is priced there.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from latency_models.features import ALIGNMENTS, CONV_GROUPS, FEATURE_NAMES, SPILL_NAMES, feature_matrix
from latency_models.matrix import MATRIX_KINDS, matrix_layers
from latency_models.predictors.base import (Predictor, PredictorError, TrainingSet, feature_box_extrapolates, nnls,
                                            relative_lstsq_weights)
from latency_models.predictors.trees import BoostedTrees
from search_space.layers import Layer
from search_space.spec import NetSpec

LAYER_FEATURE_NAMES = (tuple(f"kind_{k}" for k in MATRIX_KINDS) +
                       ("log2_cin", "log2_cout", "log2_h_in", "log2_h_out", "kernel", "stride", "log2_groups",
                        "cin_mod16", "cout_mod16", "cin_mod8", "cout_mod8", "cin_mod4", "cout_mod4",
                        "cin_pad16", "cout_pad16", "log_flops", "log_act_in", "log_act_out", "log_weights"))
#: The network-level terms besides the layers: element-wise and pooling traffic and op counts, the activation
#: traffic of convolutions whose channels are not multiples of 8 / 16 (layout reorders), cache spills.
REST_NAMES = (("eltwise_act", "eltwise_count", "pool_act", "pool_count") +
              tuple(f"{g}_unaligned{a}_act" for a in ALIGNMENTS if a >= 8 for g in CONV_GROUPS) + SPILL_NAMES)
_REST_IDX = np.array([FEATURE_NAMES.index(n) for n in REST_NAMES])


def layer_shape(layer: Layer) -> tuple[Any, ...]:
    """The fields that determine a layer's time (its cache key)."""
    return (layer.kind, layer.cin, layer.cout, layer.h_in, layer.w_in, layer.h_out, layer.w_out, layer.kernel,
            layer.stride, layer.groups)


def layer_feature_row(layer: Layer, batch: int = 1) -> list[float]:
    """`LAYER_FEATURE_NAMES` of one matrix layer at `batch` inputs."""
    cin, cout, g, k = layer.cin, layer.cout, max(1, layer.groups), layer.kernel
    weights = cout * (cin // g) * k * k
    flops = batch * layer.h_out * layer.w_out * weights
    return ([1.0 if layer.kind == kind else 0.0 for kind in MATRIX_KINDS] +
            [np.log2(cin), np.log2(cout), np.log2(layer.h_in), np.log2(layer.h_out), k, layer.stride, np.log2(g),
             cin % 16 == 0, cout % 16 == 0, cin % 8 == 0, cout % 8 == 0, cin % 4 == 0, cout % 4 == 0,
             -cin % 16, -cout % 16, np.log1p(flops), np.log1p(batch * cin * layer.h_in * layer.w_in),
             np.log1p(batch * cout * layer.h_out * layer.w_out), np.log1p(weights)])


def layer_feature_matrix(layers: Sequence[Layer], batch: int = 1) -> np.ndarray:
    return np.array([layer_feature_row(layer, batch) for layer in layers], dtype=float).reshape(-1,
                                                                                               len(LAYER_FEATURE_NAMES))


class LayerwisePredictor(Predictor):
    kind = "layerwise"
    summary = ("matrix layers priced one by one by boosted trees fit on layers timed inside networks (runtime "
               "profiler), plus element-wise / reorder terms fit on whole networks")

    def __init__(self, max_iter: int = 300, max_leaf_nodes: int = 31, learning_rate: float = 0.1,
                 seed: int = 0) -> None:
        super().__init__()
        self.params = {"max_iter": max_iter, "max_leaf_nodes": max_leaf_nodes, "learning_rate": learning_rate,
                       "seed": seed}
        self.model = BoostedTrees(rate=learning_rate)
        self.coef = np.zeros(len(REST_NAMES))
        self.scale, self.intercept_ms = 1.0, 0.0
        self.box = np.zeros((2, len(LAYER_FEATURE_NAMES)))
        self.kinds: list[str] = []

    # ------------------------------------------------------------------------------------------- fitting
    def fit(self, data: TrainingSet) -> "LayerwisePredictor":
        if not data.layers:
            raise PredictorError("the layerwise predictor needs layers timed inside their networks: measure with "
                                 "`nas measure --layers` (ONNX Runtime platforms)")
        self.batch = data.batch
        layers = [layer for _, layer, _ in data.layers]
        X = layer_feature_matrix(layers, data.batch)
        y = np.log(np.array([ms for *_, ms in data.layers]))
        p = self.params
        self.model = BoostedTrees.fit_histogram(X, y, p["max_iter"], p["max_leaf_nodes"], p["learning_rate"],
                                                seed=p["seed"])
        self.box = np.vstack([X.min(axis=0), X.max(axis=0)])
        self.kinds = sorted({layer.kind for layer in layers})
        self.fitted = True
        self.scale, self.coef, self.intercept_ms = 1.0, np.zeros(len(REST_NAMES)), 0.0
        sums, rest = self._parts(list(data.specs))
        ms = np.asarray(data.latency_ms, dtype=float)
        A = np.column_stack([sums, rest, np.ones(len(ms))])
        w = relative_lstsq_weights(ms)
        sol, _ = nnls(A * w[:, None], ms * w, maxiter=50 * A.shape[1])
        self.scale, self.coef, self.intercept_ms = float(sol[0]), sol[1:-1], float(sol[-1])
        return self

    # -------------------------------------------------------------------------------------- prediction
    def layer_ms(self, layers: Sequence[Layer]) -> tuple[np.ndarray, np.ndarray]:
        """(predicted ms, extrapolated) of each matrix layer (each distinct shape through the trees once)."""
        self._check_fitted()
        index: dict[tuple[Any, ...], int] = {}
        unique: list[Layer] = []
        pos = np.empty(len(layers), dtype=np.int64)
        for i, layer in enumerate(layers):
            key = layer_shape(layer)
            if key not in index:
                index[key] = len(unique)
                unique.append(layer)
            pos[i] = index[key]
        X = layer_feature_matrix(unique, self.batch)
        ms = np.exp(self.model.predict(X)) if len(X) else np.zeros(0)
        extra = feature_box_extrapolates(self.box, X) if len(X) else np.zeros(0, bool)
        unseen = np.array([layer.kind not in self.kinds for layer in unique], dtype=bool)
        return ms[pos], (extra | unseen)[pos]

    def _parts(self, specs: list[NetSpec]) -> tuple[np.ndarray, np.ndarray]:
        """(sum of the matrix layers' ms, the REST_NAMES features) per spec."""
        per_spec = [matrix_layers(s) for s in specs]
        flat = [layer for layers in per_spec for layer in layers]
        ms, _ = self.layer_ms(flat)
        bounds = np.cumsum([0] + [len(x) for x in per_spec])
        sums = np.array([ms[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])])
        return sums, feature_matrix(specs, self.batch)[:, _REST_IDX]

    def predict(self, specs: Sequence[NetSpec]) -> np.ndarray:
        sums, rest = self._parts(list(specs))
        return self.scale * sums + rest @ self.coef + self.intercept_ms

    def extrapolates(self, specs: Sequence[NetSpec]) -> np.ndarray:
        return np.array([bool(self.layer_ms(matrix_layers(s))[1].any()) for s in specs], dtype=bool)

    def terms(self) -> dict[str, float]:
        """The network-level coefficients (scale of the layer sum, ms per unit of each rest feature, constant)."""
        return {"layer_sum_scale": self.scale, **dict(zip(REST_NAMES, map(float, self.coef))),
                "intercept_ms": self.intercept_ms}

    # ------------------------------------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        return {"params": self.params, **self.model.state(), "box": self.box.tolist(), "kinds": self.kinds,
                "layer_feature_names": list(LAYER_FEATURE_NAMES), "rest_names": list(REST_NAMES),
                "coef": self.coef.tolist(), "scale": self.scale, "intercept_ms": self.intercept_ms}

    def load_state(self, state: dict[str, Any]) -> None:
        if list(state["layer_feature_names"]) != list(LAYER_FEATURE_NAMES) or \
                list(state["rest_names"]) != list(REST_NAMES):
            raise ValueError("the feature set changed since this predictor was fit; refit it")
        self.params = state["params"]
        self.model = BoostedTrees.from_state(state)
        self.box = np.asarray(state["box"], dtype=float)
        self.kinds = list(state["kinds"])
        self.coef = np.asarray(state["coef"], dtype=float)
        self.scale, self.intercept_ms = float(state["scale"]), float(state["intercept_ms"])

"""Analytical roofline model: per op group, time = multiply-adds / throughput + memory traffic / bandwidth
+ a fixed cost per op; a network is the sum of its layers plus a constant.

All terms are linear in the unknowns, so the model is fit by non-negative least squares on relative
errors. A *design* ties features to shared coefficients (one GEMM throughput for all pointwise/group/FC
layers, one memory bandwidth for everything, ...), which is what lets it be fit from a few dozen
published micro-benchmark points; the "free" design gives every feature its own coefficient for
platforms with hundreds of measured networks.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from latency_models.features import FEATURE_NAMES, GROUPS, N_FEATURES, add_layer, feature_matrix
from latency_models.predictors.base import (Predictor, TrainingSet, feature_box_extrapolates, nnls,
                                            relative_lstsq_weights)
from search_space.cost import cost
from search_space.plan import stage_of
from search_space.spec import NetSpec

Design = Mapping[str, Mapping[str, float]]


def free_design() -> dict[str, dict[str, float]]:
    """Every feature its own coefficient."""
    return {name: {name: 1.0} for name in FEATURE_NAMES}


def tied_design(spill: str | None = None, dw_as_gemm: bool = False) -> dict[str, dict[str, float]]:
    """Few shared coefficients, physically motivated, for fitting from few points:

    gemm: multiply-adds of pointwise, group and FC layers (one GEMM throughput); conv: multiply-adds of
    dense k x k convolutions (im2col / direct); dw: depthwise multiply-adds; act: every activation element
    read or written (one memory bandwidth); gconv_act: extra traffic cost of group convolutions (G2);
    weights: every weight element read; op: fixed cost of every op (launch / dispatch / cache warm-up);
    spill (optional, a SPILL_NAMES feature): extra cost of activation traffic of layers whose feature maps
    exceed that cache-sized working set.

    dw_as_gemm: depthwise multiply-adds share the GEMM throughput instead of a term of their own. For a device
    where nothing but whole networks informs the depthwise term (the paper's GPU: its micro-benchmarks are 1x1
    and dense 3x3 convolutions only), a free `dw` term soaks up every cost the micro-benchmarks lack (the
    stem, pooling, classifier, per-forward overhead) and prices a memory-bound op by its multiply-adds; with
    it tied, depthwise costs its traffic (`act`), its op and GEMM-rate arithmetic, and the rest of a whole
    network goes to the per-network constant.
    """
    d: dict[str, dict[str, float]] = {
        "gemm": {f"{g}_flops": 1.0 for g in ("pw", "gconv", "fc")},
        "conv": {"conv_flops": 1.0},
        "dw": {"dw_flops": 1.0},
        "act": {f"{g}_act": 1.0 for g in GROUPS},
        "gconv_act": {"gconv_act": 1.0},
        "weights": {f"{g}_weights": 1.0 for g in GROUPS},
        "op": {f"{g}_count": 1.0 for g in GROUPS},
    }
    if dw_as_gemm:
        d["gemm"]["dw_flops"] = d.pop("dw")["dw_flops"]
    if spill:
        d["spill"] = {spill: 1.0}
    return d


DESIGNS = {"free": free_design, "tied": tied_design,
           "tied-spill1m": lambda: tied_design("spill1024k_act"),
           "tied-dw-as-gemm": lambda: tied_design(dw_as_gemm=True)}


def design_matrix(design: Design) -> tuple[list[str], np.ndarray]:
    """(term names, T) with T of shape (terms, N_FEATURES): coefficient vector = theta @ T."""
    names = list(design)
    T = np.zeros((len(names), N_FEATURES))
    for i, name in enumerate(names):
        for feat, mult in design[name].items():
            T[i, FEATURE_NAMES.index(feat)] = mult
    return names, T


class RooflinePredictor(Predictor):
    kind = "roofline"
    summary = "sum over layers of MFLOPs/throughput + memory traffic/bandwidth + per-op cost, per op group"

    def __init__(self, design: str | Design = "free", ridge: float = 0.0) -> None:
        super().__init__()
        self.design_name = design if isinstance(design, str) else "custom"
        self.design: dict[str, dict[str, float]] = (DESIGNS[design]() if isinstance(design, str)
                                                    else {k: dict(v) for k, v in design.items()})
        self.ridge = ridge
        self.theta = np.zeros(0)
        self.intercept_ms = 0.0
        self.train_feats = np.zeros((0, N_FEATURES))

    # ----------------------------------------------------------------------------------------- fitting
    def coefficients(self) -> np.ndarray:
        """ms per unit of each feature (length N_FEATURES)."""
        _, T = design_matrix(self.design)
        return self.theta @ T

    def fit(self, data: TrainingSet) -> "RooflinePredictor":
        self.batch = data.batch
        X = feature_matrix(list(data.specs), data.batch)
        self.fit_features(X, np.asarray(data.latency_ms, dtype=float))
        return self

    def fit_features(self, X: np.ndarray, y: np.ndarray, intercept: np.ndarray | None = None) -> None:
        """Fit on a precomputed feature matrix. `intercept` (0/1 per row) says which rows carry the
        per-network constant (e.g. 0 for micro-benchmark stacks that have no input/output stage)."""
        names, T = design_matrix(self.design)
        Z = X @ T.T
        icpt = np.ones(len(y)) if intercept is None else np.asarray(intercept, dtype=float)
        A = np.column_stack([Z, icpt])
        w = relative_lstsq_weights(y)
        Aw, yw = A * w[:, None], y * w
        if self.ridge > 0:
            scale = np.sqrt((Aw ** 2).mean(axis=0)) + 1e-12
            Aw = np.vstack([Aw, np.diag(np.sqrt(self.ridge) * scale)])
            yw = np.concatenate([yw, np.zeros(A.shape[1])])
        sol, _ = nnls(Aw, yw, maxiter=50 * A.shape[1])
        self.theta, self.intercept_ms = sol[:-1], float(sol[-1])
        self.train_feats = np.vstack([X.min(axis=0), X.max(axis=0)])
        self.fitted = True

    # -------------------------------------------------------------------------------------- prediction
    def predict_features(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return X @ self.coefficients() + self.intercept_ms

    def predict(self, specs: Sequence[NetSpec]) -> np.ndarray:
        return self.predict_features(feature_matrix(list(specs), self.batch))

    def extrapolates(self, specs: Sequence[NetSpec]) -> np.ndarray:
        return feature_box_extrapolates(self.train_feats, feature_matrix(list(specs), self.batch))

    def breakdown(self, spec: NetSpec) -> dict[str, float]:
        """Predicted ms per stage ("stem", "stage2", ..., "head") plus "overhead" (the constant)."""
        coef = self.coefficients()
        out: dict[str, float] = {}
        for layer in cost(spec).layers:
            f = np.zeros(N_FEATURES)
            add_layer(f, layer, self.batch)
            ms = float(f @ coef)
            stage = stage_of(layer.block)
            out[stage] = out.get(stage, 0.0) + ms
        out["overhead"] = self.intercept_ms
        return out

    def terms(self) -> dict[str, float]:
        """Fitted value of each design term (ms per unit), for reports."""
        names, _ = design_matrix(self.design)
        return dict(zip(names, map(float, self.theta)))

    # ----------------------------------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        # the design as an ordered list: theta[i] belongs to its i-th term (a JSON object's key order is not kept)
        return {"design_name": self.design_name, "design": [[k, v] for k, v in self.design.items()],
                "ridge": self.ridge,
                "theta": self.theta.tolist(), "intercept_ms": self.intercept_ms,
                "train_feature_range": self.train_feats.tolist(), "feature_names": list(FEATURE_NAMES)}

    def load_state(self, state: dict[str, Any]) -> None:
        if list(state["feature_names"]) != list(FEATURE_NAMES):
            raise ValueError("the feature set changed since this predictor was fit; refit it")
        self.design_name, self.ridge = state["design_name"], float(state["ridge"])
        self.design = {name: dict(terms) for name, terms in state["design"]}
        self.theta = np.asarray(state["theta"], dtype=float)
        self.intercept_ms = float(state["intercept_ms"])
        self.train_feats = np.asarray(state["train_feature_range"], dtype=float)

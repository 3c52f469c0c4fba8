"""The predictor interface: fit on (network, measured latency) pairs, vectorised predict, JSON save/load.

No pickle anywhere: a predictor is its kind plus plain numbers, so a file written today loads with any
later version of numpy or scikit-learn (nn-Meter's users lost their predictors to pickled models).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from search_space.errors import UserError
from search_space.registry import Registry
from search_space.spec import NetSpec

PREDICTOR_FORMAT = 1


class PredictorError(UserError):
    """A predictor file that cannot be read, or a predictor used before it was fit."""


@dataclass(frozen=True)
class TrainingSet:
    """Networks with their measured latency (ms per forward pass of `batch` inputs on one platform).

    `units` optionally holds single-block timings (for per-unit predictors): (block plan, input h, input
    w, latency_ms) tuples measured at the same batch. `layers` optionally holds layers timed inside their
    network (for per-layer predictors): (network arch_id, layer, latency_ms) tuples, the layer a cost-model
    `Layer` (its shape fields; name and costs may be empty).
    """

    specs: tuple[NetSpec, ...]
    latency_ms: np.ndarray
    batch: int = 1
    units: tuple[tuple[Any, int, int, float], ...] = ()
    layers: tuple[tuple[str, Any, float], ...] = ()

    def __post_init__(self) -> None:
        if len(self.specs) != len(self.latency_ms):
            raise ValueError("specs and latencies differ in length")

    def subset(self, idx: Sequence[int] | np.ndarray) -> "TrainingSet":
        """The networks at `idx`; units that belong only to the left-out networks are dropped too, so a
        per-block predictor evaluated on the left-out networks never saw their blocks."""
        idx = np.asarray(idx)
        units = self.units
        if units:
            from latency_models.predictors.blocksum import block_key, spec_block_keys

            keep = set().union(*(spec_block_keys(self.specs[i]) for i in idx)) if len(idx) else set()
            left_out = set().union(*(spec_block_keys(s) for i, s in enumerate(self.specs) if i not in set(idx.tolist())))
            units = tuple(u for u in units if (k := block_key(*u[:3])) in keep or k not in left_out)
        specs = tuple(self.specs[i] for i in idx)
        kept = {s.arch_id for s in specs}
        layers = tuple(row for row in self.layers if row[0] in kept)
        return TrainingSet(specs, self.latency_ms[idx], self.batch, units, layers)


class Predictor(ABC):
    """Predicts ms per forward pass of the platform's batch for a network spec."""

    kind: ClassVar[str]
    #: one line for users: what the predictor is and what it needs
    summary: ClassVar[str] = ""

    def __init__(self) -> None:
        self.batch = 1
        self.fitted = False

    @abstractmethod
    def fit(self, data: TrainingSet) -> "Predictor":
        """Fit on measured networks (and units, for predictors that use them); returns self."""

    @abstractmethod
    def predict(self, specs: Sequence[NetSpec]) -> np.ndarray:
        """Latency in ms of each spec, shape (len(specs),)."""

    @abstractmethod
    def extrapolates(self, specs: Sequence[NetSpec]) -> np.ndarray:
        """Boolean per spec: True where the prediction leaves the range of the data it was fit on."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Plain JSON-able numbers that define the fitted predictor."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Inverse of `state`."""

    def predict_one(self, spec: NetSpec) -> float:
        return float(self.predict([spec])[0])

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise PredictorError(f"the {self.kind} predictor has not been fit")

    # ------------------------------------------------------------------------------------------- file I/O
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"format": PREDICTOR_FORMAT, "kind": self.kind, "batch": self.batch, "state": self.state()}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))


PREDICTORS: Registry[type[Predictor]] = Registry("predictor")


def predictor_from_dict(data: dict[str, Any]) -> Predictor:
    """A fitted predictor from its `to_dict()` form."""
    if not isinstance(data, dict) or data.get("format") != PREDICTOR_FORMAT or "kind" not in data:
        raise PredictorError("not a predictor file of this version (format/kind missing)")
    pred = PREDICTORS.get(data["kind"])()
    pred.batch = int(data.get("batch", 1))
    try:
        pred.load_state(data["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PredictorError(f"malformed {data['kind']} predictor state: {exc}") from None
    pred.fitted = True
    return pred


def load_predictor(path: str | Path) -> Predictor:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PredictorError(f"cannot read predictor {path}: {exc}") from None
    return predictor_from_dict(data)


def nnls(A: np.ndarray, b: np.ndarray, maxiter: int | None = None) -> tuple[np.ndarray, float]:
    """Non-negative least squares (scipy, imported only when fitting: predicting needs numpy alone)."""
    try:
        from scipy.optimize import nnls as _nnls
    except ImportError:
        raise PredictorError("fitting predictors needs scipy: pip install scipy") from None
    return _nnls(A, b, maxiter=maxiter)


def relative_lstsq_weights(y: np.ndarray) -> np.ndarray:
    """Row weights 1/y so that least squares minimises relative (percentage) errors."""
    return 1.0 / np.maximum(y, 1e-9)


def feature_box_extrapolates(train: np.ndarray, feats: np.ndarray, slack: float = 0.1) -> np.ndarray:
    """True where any feature lies outside the training range widened by `slack` (relative), or is
    non-zero in a column that was always zero in training."""
    lo, hi = train.min(axis=0), train.max(axis=0)
    span_lo = lo - slack * np.abs(lo)
    span_hi = hi + slack * np.abs(hi)
    unseen = (hi == 0) & (lo == 0)
    outside = (feats < span_lo - 1e-12) | (feats > span_hi + 1e-12)
    outside |= unseen & (feats != 0)
    return outside.any(axis=1)

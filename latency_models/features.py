"""Per-network features for latency models: per op group, multiply-adds, activation traffic, weights, count.

Each layer of the cost model's table falls in one op group. A network's feature vector holds, for every
group, the sums of: multiply-adds (M), activation elements read + written (M, the feature-map part of the
paper's MAC), weight elements (M) and the number of ops. Batch b multiplies the first two (per-image work)
but not weights or op counts (read / launched once per batch).

The activation traffic of layers whose feature maps exceed a cache-sized working set is counted again per
threshold in `SPILL_BYTES` (memory bandwidth drops once a layer's maps no longer fit in cache).

Convolutions are counted a second time in *alignment* subsets: the layers whose channel counts are not a
multiple of 4, of 8, of 16. Optimised kernels pack channels in blocks of the SIMD width and fall back to
slow generic code otherwise; measured here, ONNX Runtime's depthwise convolution is ~10x slower per
multiply-add at 78 channels than at 76 or 80 (`benchmarks/latency_predictors.py` prints this probe).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from search_space.cost import cost
from search_space.layers import Layer
from search_space.spec import NetSpec

GROUPS = ("pw", "gconv", "dw", "conv", "fc", "eltwise", "pool")
QUANTITIES = ("flops", "act", "weights", "count")
CONV_GROUPS = ("pw", "gconv", "dw", "conv")
ALIGNMENTS = (4, 8, 16)
BASE_NAMES = tuple(f"{g}_{q}" for g in GROUPS for q in QUANTITIES)
ALIGN_NAMES = tuple(f"{g}_unaligned{a}_{q}" for a in ALIGNMENTS for g in CONV_GROUPS for q in QUANTITIES)
#: Working-set thresholds (bytes of a layer's float32 input + output feature maps for the whole batch):
#: activation traffic of layers above each is counted again, so a fit can price cache spills.
SPILL_BYTES = (256 * 1024, 1024 * 1024, 4 * 1024 * 1024)
SPILL_NAMES = tuple(f"spill{t // 1024}k_act" for t in SPILL_BYTES)
FEATURE_NAMES = BASE_NAMES + ALIGN_NAMES + SPILL_NAMES
N_BASE = len(BASE_NAMES)
N_SPILL_START = N_BASE + len(ALIGN_NAMES)
N_FEATURES = len(FEATURE_NAMES)
_KIND_GROUP = {"pwconv": "pw", "gconv": "gconv", "dwconv": "dw", "conv": "conv", "fc": "fc",
               "maxpool": "pool", "avgpool": "pool", "gap": "pool"}


def layer_group(layer: Layer) -> str:
    """The op group of a layer (element-wise and data-movement kinds are 'eltwise')."""
    return _KIND_GROUP.get(layer.kind, "eltwise")


def weight_elements(layer: Layer) -> int:
    """Weight elements a layer reads (conv/FC weights; 0 for element-wise ops)."""
    if layer.kind == "fc":
        return layer.cin * layer.cout
    if layer.kind in ("pwconv", "gconv", "dwconv", "conv"):
        return layer.cout * (layer.cin // layer.groups) * layer.kernel * layer.kernel
    return 0


def layer_slots(layer: Layer) -> list[int]:
    """Offsets in the feature vector where a layer's 4 quantities are added (its group, alignment subsets)."""
    group = layer_group(layer)
    slots = [GROUPS.index(group) * len(QUANTITIES)]
    if group in CONV_GROUPS:
        for i, a in enumerate(ALIGNMENTS):
            if layer.cin % a or layer.cout % a:
                slots.append(N_BASE + (i * len(CONV_GROUPS) + CONV_GROUPS.index(group)) * len(QUANTITIES))
    return slots


def layer_features(layer: Layer, batch: int = 1) -> np.ndarray:
    """The 4 quantities of one layer at `batch`: M multiply-adds, M activation elements, M weights, 1."""
    w = weight_elements(layer)
    act = layer.mac - w
    return np.array([layer.flops * batch / 1e6, act * batch / 1e6, w / 1e6, 1.0])


def add_layer(out: np.ndarray, layer: Layer, batch: int) -> None:
    """Add one layer's features (group, alignment subsets, cache spills) to a feature vector in place."""
    f = layer_features(layer, batch)
    for g in layer_slots(layer):
        out[g:g + 4] += f
    act_bytes = f[1] * 1e6 * 4
    for i, t in enumerate(SPILL_BYTES):
        if act_bytes > t:
            out[N_SPILL_START + i] += f[1]


@lru_cache(maxsize=16384)
def _features(spec: NetSpec, batch: int) -> np.ndarray:
    out = np.zeros(N_FEATURES)
    for layer in cost(spec).layers:
        add_layer(out, layer, batch)
    out.setflags(write=False)
    return out


def network_features(spec: NetSpec, batch: int = 1) -> np.ndarray:
    """Feature vector (len N_FEATURES) of one forward pass of `batch` inputs (cached: specs are immutable)."""
    return _features(spec, batch)


def feature_matrix(specs: list[NetSpec], batch: int = 1) -> np.ndarray:
    """Features of many networks, shape (len(specs), N_FEATURES)."""
    out = np.empty((len(specs), N_FEATURES))
    for i, spec in enumerate(specs):
        out[i] = network_features(spec, batch)
    return out

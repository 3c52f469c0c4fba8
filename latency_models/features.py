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
    """The op group of a layer (element-wise and data-movement kinds are 'eltwise').

    The rest of Table 8 (DenseNet, IGCV2/3, CondenseNet, NASNet-A, PNASNet-5) brings no layer kind of its own;
    none of these families was in the calibration of a shipped profile, so a profile prices their operators as
    it prices the same kinds in ShuffleNet / MobileNet-style networks. What that assumes:
    - dense concatenation (DenseNet / CondenseNet write [x, new] out again in every layer) and the cells'
      concatenations ("concat"): eltwise traffic (every element read and written once) plus one op, like
      ShuffleNet v2's concat; nothing for the number of inputs or the growing copy beyond its traffic.
    - a pre-activation BatchNorm that cannot be folded ("mul": per-channel scale and shift): eltwise, the rate
      of a ReLU or an add.
    - 1x1 group convolutions (IGCV2: 4 groups, IGCV3: 2, CondenseNet: 4 / 8) and CondenseNet's 3x3 group
      convolutions ("gconv"): the GEMM rate for their multiply-adds plus the group-convolution traffic term,
      as fitted on ShuffleNet v1's and Table 2's 1x1 group convolutions; a 3x3 group conv is priced as a 1x1 one.
    - channel permutations (the IGCV permutations, CondenseNet's permutation and index layers, gathers
      included: "shuffle"): eltwise traffic, like ShuffleNet v1's channel shuffle.
    - separable convolutions in cells: their 3x3 / 5x5 / 7x7 depthwise parts are "dw" (priced per
      multiply-add, so a 7x7 depthwise costs 49/9 of a 3x3 one on the same map; no kernel-size term), the 1x1
      parts "pw"; the adds combining cell branches are eltwise.
    - average / max pooling branches (3x3 stride 1 or 2, count_include_pad=False; DenseNet's 2x2 transitions;
      the 1x1 stride-2 subsampling of NASNet's factorized reduction) are "pool": their traffic plus one op, like
      the stem max-pool; the factorized reduction's shifted copy is not priced on its own.
    A fixed cost per op is what the paper's G3 charges against these fragmented networks; a profile whose fit
    gives the per-op term 0 (the shipped ARM profile) prices fragmentation only through traffic.
    """
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

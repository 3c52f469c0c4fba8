"""Layers timed inside their network: ONNX Runtime's per-node profile matched to the cost model's layers.

The runtime's profiler times every node of the optimised graph (`Backend.profile_nodes`). The convolution-like
layers of the cost model (pointwise, depthwise, dense and group convolutions, fully connected layers, SE layers
included) each become one node of a matrix operator there (Conv, FusedConv with its fused activation / bias / sum,
Gemm); `match_layers` pairs them. The element-wise and data-movement nodes (concatenation, channel shuffle, slices,
layout reorders, pooling) are not matched one by one: the runtime rewrites them too freely (a merged concat + shuffle
+ split becomes Reshape / Transpose / Concat / Slice nodes, NCHWc layouts add reorders), so a predictor prices them
from network-level timings instead.

Matching: a node named by the exporter after its module path (`/7/main/main.1/conv/Conv`) belongs to plan block 7;
within the block, a node takes the first unused layer of the same signature: kernel, input and output size, depthwise
or not, and channel counts equal to the layer's or padded up to the next multiple of the SIMD block (ONNX Runtime's
NCHWc layout computes 58 channels as 64 and reorders back). Nodes without a block in their name, or whose block has
no such layer, are matched against all unused layers.
"""

from __future__ import annotations

import re
from typing import Sequence

from latency_models.backends.base import NodeTiming
from latency_models.matrix import matrix_layers
from search_space.layers import Layer
from search_space.plan import plan
from search_space.spec import NetSpec

#: ONNX Runtime operator types of those nodes (after its graph optimisations).
MATRIX_OPS = ("Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul")
#: Channel padding the runtime may add (NCHWc blocks of up to 16 floats on AVX-512).
MAX_PAD = 16
_BLOCK = re.compile(r"^/(\d+)/")


def _channels(shape: tuple[int, ...]) -> int:
    """Channels of an activation shape: NCHW (N, C, H, W), NCHWc (N, C/b, H, W, b) or (N, C)."""
    if len(shape) == 5:
        return shape[1] * shape[4]
    return shape[1] if len(shape) >= 2 else 0


def _close(true: int, seen: int) -> bool:
    return true <= seen < true + MAX_PAD


def fits(layer: Layer, node: NodeTiming) -> bool:
    """Whether `node` can be the runtime's operator of `layer` (see the module docstring)."""
    if not node.inputs or not node.outputs:
        return False
    x, y = node.inputs[0], node.outputs[0]
    if node.op in ("Gemm", "FusedGemm", "MatMul", "FusedMatMul"):  # (N, cin) -> (N, cout); weights not listed
        return layer.kind == "fc" and len(x) == 2 and len(y) == 2 and (x[1], y[1]) == (layer.cin, layer.cout)
    w = node.inputs[1] if len(node.inputs) > 1 else ()
    if len(w) != 4 or len(x) < 4 or len(y) < 4:
        return False
    depthwise = layer.kind == "dwconv"
    return (w[2] == layer.kernel and x[2] == layer.h_in and y[2] == layer.h_out and (w[1] == 1) == depthwise
            and _close(layer.cin, _channels(x)) and _close(layer.cout, _channels(y)))


def match_layers(spec: NetSpec, nodes: Sequence[NodeTiming]) -> list[tuple[Layer, NodeTiming]]:
    """(layer, node) pairs of `spec`'s matrix layers and the profiled nodes that ran them (see the module
    docstring); layers without a node are left out."""
    layers = matrix_layers(spec)
    blocks = [b.name for b in plan(spec)]
    by_block: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        by_block.setdefault(layer.block, []).append(i)
    used: set[int] = set()
    out = []
    for node in nodes:
        if node.op not in MATRIX_OPS:
            continue
        m = _BLOCK.match(node.name)
        block = blocks[int(m.group(1))] if m and int(m.group(1)) < len(blocks) else None
        found = None
        for pool in ((by_block.get(block, []) if block else []), range(len(layers))):
            found = next((i for i in pool if i not in used and fits(layers[i], node)), None)
            if found is not None:
                break
        if found is not None:
            used.add(found)
            out.append((layers[found], node))
    return out

"""Cost model: multiply-adds ("FLOPs" as the paper uses the word), parameters, MAC and fragments."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from search_space.layers import COMPUTE_KINDS, CONV_KINDS, POOL_KINDS, Layer
from search_space.plan import plan, stage_of
from search_space.spec import NetSpec


@dataclass(frozen=True)
class CostReport:
    """Whole-network cost at the spec's input size (batch 1) with the per-layer table behind it.

    flops_m: million multiply-adds of convolutions and FC layers. params_m: million trainable parameters of
    the training form (conv weights, BN affine, biases; the reference implementation's count). mac_m:
    million elements of memory access (G1: feature maps read + written + weights) summed over all layers of
    the inference form. fragments: convolution and pooling operators (G3).
    """

    flops_m: float
    params_m: float
    mac_m: float
    fragments: int
    layers: tuple[Layer, ...]

    @property
    def flops(self) -> int:
        return sum(layer.flops for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def by_stage(self) -> dict[str, dict[str, float]]:
        """Per stage ("stem", "stage2", ..., "head"): MFLOPs, M params, M MAC, layers."""
        out: dict[str, dict[str, float]] = {}
        for layer in self.layers:
            row = out.setdefault(stage_of(layer.block), {"flops_m": 0.0, "params_m": 0.0, "mac_m": 0.0, "layers": 0})
            row["flops_m"] += layer.flops / 1e6
            row["params_m"] += layer.params / 1e6
            row["mac_m"] += layer.mac / 1e6
            row["layers"] += 1
        return out

    def by_kind(self) -> dict[str, dict[str, float]]:
        """Per layer kind: count, MFLOPs, M MAC."""
        out: dict[str, dict[str, float]] = {}
        for layer in self.layers:
            row = out.setdefault(layer.kind, {"count": 0, "flops_m": 0.0, "mac_m": 0.0})
            row["count"] += 1
            row["flops_m"] += layer.flops / 1e6
            row["mac_m"] += layer.mac / 1e6
        return out

    def block_fragments(self) -> dict[str, int]:
        """G3 fragments (conv / pooling / FC operators) per block."""
        out: dict[str, int] = {}
        for layer in self.layers:
            if layer.kind in COMPUTE_KINDS or layer.kind in POOL_KINDS:
                out[layer.block] = out.get(layer.block, 0) + 1
        return out

    def summary(self) -> dict[str, float | int]:
        return {"flops_m": self.flops_m, "params_m": self.params_m, "mac_m": self.mac_m, "fragments": self.fragments}


def network_layers(spec: NetSpec) -> tuple[Layer, ...]:
    """Every layer executed by the inference form of `spec` at its resolution, in order."""
    layers: list[Layer] = []
    h = w = spec.resolution
    for block in plan(spec):
        block_layers, h, w = block.layers(h, w)
        layers.extend(block_layers)
    return tuple(layers)


@lru_cache(maxsize=4096)
def cost(spec: NetSpec) -> CostReport:
    """Cost of `spec` at its own resolution and class count (cached: specs are immutable)."""
    layers = network_layers(spec)
    frag = sum(1 for layer in layers if layer.kind in CONV_KINDS or layer.kind in POOL_KINDS or layer.kind == "fc")
    return CostReport(
        flops_m=sum(layer.flops for layer in layers) / 1e6,
        params_m=sum(layer.params for layer in layers) / 1e6,
        mac_m=sum(layer.mac for layer in layers) / 1e6,
        fragments=frag,
        layers=layers,
    )

"""Block plans: the concrete shapes of every block of a network, from which cost and modules are derived.

A family turns its spec into a tuple of blocks (`plan`). Each block knows its convolutions and how data
flows through it, and lists the layers it executes at a given input size (`layers`). The PyTorch modules
(search_space/modules.py) are built from the same blocks, so cost and network cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from search_space.layers import (Conv, Layer, act_layers, conv_layer, conv_out, eltwise_layer, fc_layer, gap_layer,
                                 pool_layer)
from search_space.spec import UnitSpec, split_channels


@runtime_checkable
class Block(Protocol):
    """What every block plan offers: a name, its output channels and its layers at an input size."""

    name: str

    @property
    def cout(self) -> int: ...

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        """Layers executed for an (h, w) input (batch 1), and the output (h, w)."""
        ...


def conv_chain_layers(prefix: str, block: str, convs: tuple[Conv, ...], h: int, w: int) -> tuple[list[Layer], int, int]:
    """Layers of convolutions applied in sequence (each with its activation)."""
    out: list[Layer] = []
    for i, conv in enumerate(convs):
        name = f"{prefix}.conv{i}"
        layer = conv_layer(name, block, conv, h, w)
        out.append(layer)
        h, w = layer.h_out, layer.w_out
        out.extend(act_layers(name, block, conv.act, conv.cout, h, w))
    return out, h, w


def se_layers(prefix: str, block: str, channels: int, mid: int, h: int, w: int) -> list[Layer]:
    """Squeeze-and-excitation: global pool, FC (1x1 conv, bias) + ReLU, FC + sigmoid, channel-wise scale."""
    return [
        gap_layer(f"{prefix}.pool", block, channels, h, w),
        fc_layer(f"{prefix}.fc1", block, channels, mid),
        eltwise_layer(f"{prefix}.relu", "relu", block, mid, 1, 1),
        fc_layer(f"{prefix}.fc2", block, mid, channels),
        eltwise_layer(f"{prefix}.sigmoid", "sigmoid", block, channels, 1, 1),
        Layer(f"{prefix}.scale", "mul", block, channels, channels, h, w, h, w, mac=2 * h * w * channels + channels),
    ]


def mix_groups(n_a: int, n_b: int) -> tuple[int, int, int]:
    """Blocked interleave of two channel groups: (groups, a per group, b per group).

    The output is [a-block 0, b-block 0, a-block 1, b-block 1, ...] with g = gcd(n_a, n_b) blocks; for
    equal halves this is exactly the 2-group channel shuffle of ShuffleNet ([a0, b0, a1, b1, ...]).
    """
    g = math.gcd(n_a, n_b)
    return g, n_a // g, n_b // g


def mix_permutation(n_a: int, n_b: int) -> list[int]:
    """Index of the concat([a, b]) channel that lands at each output position of the blocked interleave."""
    g, ra, rb = mix_groups(n_a, n_b)
    perm: list[int] = []
    for i in range(g):
        perm.extend(range(i * ra, (i + 1) * ra))
        perm.extend(range(n_a + i * rb, n_a + (i + 1) * rb))
    return perm


@dataclass(frozen=True)
class ConvBlock:
    """A single convolution (stem, head, or a plain layer of a baseline)."""

    name: str
    conv: Conv

    @property
    def cout(self) -> int:
        return self.conv.cout

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        layer = conv_layer(self.name, self.name, self.conv, h, w)
        return [layer] + act_layers(self.name, self.name, self.conv.act, self.cout, layer.h_out, layer.w_out), \
            layer.h_out, layer.w_out


@dataclass(frozen=True)
class MaxPool:
    """3x3 / stride 2 max-pooling (padding 1)."""

    name: str
    channels: int
    kernel: int = 3
    stride: int = 2

    @property
    def cout(self) -> int:
        return self.channels

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        layer = pool_layer(self.name, "maxpool", self.name, self.channels, h, w, self.kernel, self.stride)
        return [layer], layer.h_out, layer.w_out


@dataclass(frozen=True)
class Classifier:
    """Global average pooling followed by a fully connected classifier."""

    name: str
    cin: int
    num_classes: int

    @property
    def cout(self) -> int:
        return self.num_classes

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        pool = gap_layer(f"{self.name}.pool", self.name, self.cin, h, w)
        return [pool, fc_layer(f"{self.name}.fc", self.name, self.cin, self.num_classes)], 1, 1


@dataclass(frozen=True)
class ShuffleUnit:
    """A ShuffleNet v2 unit (Fig. 3c basic, 3d down-sampling) with the variants of `UnitSpec`.

    Basic unit (`first=False`): channel split into identity (c - c') and branch (c'), branch convs at c'
    channels, concat, channel mixing. First unit of a stage (`first=True`): no split; a main branch
    (c' = ratio * cout outputs) and a side branch (DW + 1x1, cout - c' outputs) both read the whole input,
    with the stage's stride. The output mixing is the blocked interleave of `mix_groups`.
    """

    name: str
    cin: int
    cout_: int
    stride: int
    unit: UnitSpec
    first: bool

    @property
    def cout(self) -> int:
        return self.cout_

    @property
    def branch_channels(self) -> int:
        """c': channels produced by the main branch (and, for a basic unit, consumed by it)."""
        return split_channels(self.cout_, self.unit.split_ratio)

    @property
    def identity_channels(self) -> int:
        """Channels the main branch does not produce: the identity part (basic) or the side branch (first)."""
        return self.cout_ - self.branch_channels

    @property
    def se_channels(self) -> int:
        """Width of the SE bottleneck: half the branch channels (Appendix Table 2 notes)."""
        return max(1, self.branch_channels // 2)

    @property
    def residual(self) -> bool:
        return self.unit.residual and not self.first

    def main_branch(self) -> tuple[Conv, ...]:
        """Convolutions of the main branch, in order."""
        k, s, mid = self.unit.kernel, self.stride, self.branch_channels
        cin = self.cin if self.first else mid
        last_act = None if self.residual else "relu"  # the residual variant applies ReLU after the add
        if self.unit.variant == "xception":
            convs = (Conv(cin, cin, k, s, cin, None), Conv(cin, mid, 1),
                     Conv(mid, mid, k, 1, mid, None), Conv(mid, mid, 1),
                     Conv(mid, mid, k, 1, mid, None), Conv(mid, mid, 1, act=last_act))
            return convs
        pre = (Conv(cin, cin, 3, 1, cin, None),) if self.unit.variant == "v2_star" else ()
        return pre + (Conv(cin, mid, 1), Conv(mid, mid, k, s, mid, None), Conv(mid, mid, 1, act=last_act))

    def side_branch(self) -> tuple[Conv, ...]:
        """Convolutions of the side (shortcut) branch of a first unit; empty for a basic unit."""
        if not self.first:
            return ()
        k, s = self.unit.kernel, self.stride
        return (Conv(self.cin, self.cin, k, s, self.cin, None), Conv(self.cin, self.identity_channels, 1))

    def mix(self) -> tuple[int, int]:
        """(channels of the first concat input, channels of the second) for the output mixing."""
        return self.identity_channels, self.branch_channels

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        out: list[Layer] = []
        main, ho, wo = conv_chain_layers(f"{n}.main", n, self.main_branch(), h, w)
        if self.first:
            side, _, _ = conv_chain_layers(f"{n}.side", n, self.side_branch(), h, w)
            out.extend(side)
        out.extend(main)
        c_b = self.branch_channels
        if self.unit.se:
            out.extend(se_layers(f"{n}.se", n, c_b, self.se_channels, ho, wo))
        if self.residual:
            out.append(eltwise_layer(f"{n}.add", "add", n, c_b, ho, wo, inputs=2))
            out.append(eltwise_layer(f"{n}.add.relu", "relu", n, c_b, ho, wo))
        # Merged Concat + Channel Shuffle (+ the next unit's Split, a free view): one copy of the output.
        out.append(Layer(f"{n}.concat_shuffle", "concat_shuffle", n, self.cout_, self.cout_, ho, wo, ho, wo,
                         mac=2 * ho * wo * self.cout_))
        return out, ho, wo

    def fragments(self) -> int:
        """G3 fragments: individual convolution or pooling operations in the block."""
        return len(self.main_branch()) + len(self.side_branch()) + (3 if self.unit.se else 0)


def spatial_sizes(blocks: tuple[Block, ...], resolution: int) -> list[tuple[int, int]]:
    """Input (h, w) of each block for a square input."""
    sizes = []
    h = w = resolution
    for b in blocks:
        sizes.append((h, w))
        _, h, w = b.layers(h, w)
    return sizes


__all__ = ["Block", "ConvBlock", "MaxPool", "Classifier", "ShuffleUnit", "mix_groups", "mix_permutation",
           "conv_chain_layers", "se_layers", "spatial_sizes", "conv_out"]

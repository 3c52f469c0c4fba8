"""Interleaved group convolution baselines of Table 8: IGCV2 (Xie et al. 2018) and IGCV3-D (Sun et al. 2018).

Both replace dense 1x1 convolutions by products of group convolutions with a channel permutation between them,
the permutation making the product dense again (IGCV2's complementary condition, IGCV3's loose one over
super-channels). The permutation cannot be folded into a group convolution (a group convolution's outputs are
contiguous per group), so it runs as its own op in both forms: a "shuffle" layer (read + write of the map), as
ShuffleNet v1's. The section 4 remark of the ShuffleNet v2 paper is about exactly these networks: "IGCv2 and
IGCv3 are slow. This is due to usage of too many convolution groups".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from search_space.baselines import (MOBILENET_V1_LAYERS, MOBILENET_V2_LAST, _conv_layers, channel_shuffle,
                                    round_to_multiple)
from search_space.blocks import Block, Classifier, ConvBlock
from search_space.layers import Conv, Layer, eltwise_layer
from search_space.modules import conv_chain, infer_chain
from search_space.spec import BaselineSpec

# -------------------------------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class IGCV2Block:
    """IGCV2 block (L = 3) in place of a depthwise-separable layer: W1, W2, permutation, W3.

    W1: 3x3 channel-wise conv (stride) + BN + ReLU; W2: 1x1 group conv cin -> cout with `groups` groups + BN (linear);
    P: the `groups`-group interleave; W3: 1x1 group conv cout -> cout with `groups` groups + BN + ReLU. With
    cout / groups >= groups every W3 group reads channels of every W2 group, so each output depends on every
    input (the complementary condition). The permutations before W2 and after W3 in IGCV2's product are free:
    a channel-wise convolution commutes with a permutation, so they fold into the neighbouring weights.
    """

    name: str
    cin: int
    cout_: int
    stride: int
    groups: int

    @property
    def cout(self) -> int:
        return self.cout_

    def convs(self) -> tuple[Conv, Conv, Conv]:
        """(W1 channel-wise, W2 group, W3 group)."""
        c, o, g = self.cin, self.cout_, self.groups
        return (Conv(c, c, 3, self.stride, c), Conv(c, o, 1, groups=g, act=None), Conv(o, o, 1, groups=g))

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        w1, w2, w3 = self.convs()
        out, h1, w1_ = _conv_layers(f"{n}.w1", n, w1, h, w)
        l2, h2, w2_ = _conv_layers(f"{n}.w2", n, w2, h1, w1_)
        out += l2 + [eltwise_layer(f"{n}.permute", "shuffle", n, self.cout_, h2, w2_)]
        l3, ho, wo = _conv_layers(f"{n}.w3", n, w3, h2, w2_)
        return out + l3, ho, wo


@dataclass(frozen=True)
class IGCV3Unit:
    """IGCV3 block: MobileNet v2's inverted residual with 1x1 group convolutions and permutations.

    1x1 group conv cin -> hidden (`groups` groups) + BN (linear), the `groups`-group permutation, 3x3 DW (stride)
    + BN + ReLU6, 1x1 group conv -> cout (`groups` groups) + BN (linear), the cout/2-group permutation (the
    released code's `permutation(linear_out, num_filter / 2)`); identity add when the stride is 1 and cin == cout.
    `hidden` is t x cin unless given (the released code sizes a stage's first expansion from another width).
    The expansion conv exists also for t = 1 (the first unit).
    """

    name: str
    cin: int
    cout_: int
    stride: int
    expand: int
    groups: int = 2
    hidden_: int = 0

    @property
    def cout(self) -> int:
        return self.cout_

    @property
    def hidden(self) -> int:
        return self.hidden_ or self.cin * self.expand

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.cin == self.cout_

    def convs(self) -> tuple[Conv, Conv, Conv]:
        """(expansion group conv, depthwise, projection group conv)."""
        c, m, g = self.cin, self.hidden, self.groups
        return (Conv(c, m, 1, groups=g, act=None), Conv(m, m, 3, self.stride, m, "relu6"),
                Conv(m, self.cout_, 1, groups=g, act=None))

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        pw1, dw, pw2 = self.convs()
        out, h1, w1 = _conv_layers(f"{n}.conv1", n, pw1, h, w)
        out.append(eltwise_layer(f"{n}.permute1", "shuffle", n, self.hidden, h1, w1))
        l2, h2, w2 = _conv_layers(f"{n}.conv2", n, dw, h1, w1)
        l3, ho, wo = _conv_layers(f"{n}.conv3", n, pw2, h2, w2)
        out += l2 + l3 + [eltwise_layer(f"{n}.permute2", "shuffle", n, self.cout_, ho, wo)]
        if self.residual:
            out.append(eltwise_layer(f"{n}.add", "add", n, self.cout_, ho, wo, inputs=2))
        return out, ho, wo


# ---------------------------------------------------------------------------------------------- planners

#: IGCV2 (see `igcv2_plan`): group count of W2 and W3, and the widening of MobileNet v1's widths.
IGCV2_GROUPS = 4
IGCV2_WIDEN = 4 / 3

#: IGCV3-D [28] (its code's table): (expansion t, output channels c, repeats n, first stride s, stage).
IGCV3_D_SETTINGS: tuple[tuple[int, int, int, int, str], ...] = (
    (1, 16, 1, 1, "stem"), (6, 24, 4, 2, "stage1"), (6, 32, 6, 2, "stage2"), (6, 64, 8, 2, "stage3"),
    (6, 96, 6, 1, "stage3"), (6, 160, 6, 2, "stage4"), (6, 320, 1, 1, "stage4"),
)
IGCV3_GROUPS = 2


def even_width(value: float) -> int:
    """int(round(value)), plus one when odd (the released IGCV3 code's width rule: 2 groups everywhere)."""
    v = max(2, int(round(value)))
    return v + v % 2


def igcv2_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """IGCV2-alpha for ImageNet [27]: MobileNet v1's layout with IGCV2 blocks; a reconstruction.

    IGCV2's ImageNet networks are compared with MobileNet v1 at the same width multipliers (0.25 / 0.5 / 1.0:
    46 / 156 / 564 MFLOPs, 0.5 / 1.3 / 4.1 M parameters against MobileNet's 41 / 149 / 569 and 0.5 / 1.3 / 4.2).
    Assumed, since the block's group counts are not in Table 8:
    - MobileNet v1's frame (3x3/2 conv, 13 layers with its strides, global pooling, FC) with every
      depthwise-separable layer replaced by `IGCV2Block` (L = 3: channel-wise 3x3, two 1x1 group convs, one
      permutation), BN after every conv, ReLU after W1 and W3.
    - 4 groups in W2 and W3 (the ShuffleNet v2 paper: "too many convolution groups (4 or 8 in [27,28])").
    - Widths: MobileNet v1's widths x alpha x 4/3, rounded to a multiple of 16 (= groups^2, so each W3 group
      reads an equal share of every W2 group): two grouped 1x1 convs cost half a dense one, and widening by
      about sqrt(2) restores MobileNet's multiply-adds, which is where IGCV2's own figures sit.
    """
    g = IGCV2_GROUPS
    unit = g * g

    def width(c: float) -> int:
        return round_to_multiple(c * spec.width_mult * IGCV2_WIDEN, unit)

    c = width(32)
    blocks: list[Block] = [ConvBlock("stem.conv0", Conv(spec.in_channels, c, 3, 2))]
    for i, (w0, stride, stage) in enumerate(MOBILENET_V1_LAYERS):
        cout = width(w0)
        blocks.append(IGCV2Block(f"{stage}.block{i}", c, cout, stride, g))
        c = cout
    blocks.append(Classifier("head.classifier", c, spec.num_classes))
    return tuple(blocks)


def igcv3_d_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """IGCV3-D for ImageNet [28], as its released code (homles11/IGCV3, symbols/igcv3.py) builds it.

    MobileNet v2's frame with IGCV3-D's deeper stage repeats (1, 4, 6, 8, 6, 6, 1 instead of 1, 2, 3, 4, 3, 3, 1),
    every bottleneck an `IGCV3Unit` (2 groups in both 1x1 convolutions, ReLU6 after the depthwise conv only),
    3x3/2 stem conv + BN + ReLU6, 1x1 conv to 1280 + BN + ReLU6, global pooling, FC. Width rules of that code:
    every width int(round(c x m)) made even; the expansion of a stage's first block is t x round(c' x m), c' the
    previous stage's already scaled width (equal to t x c' at m = 1); the last conv is int(1280 x m) + 1 above
    m = 1. At m = 1 this is IGCV3-D as released: 3,491,688 parameters, 313 MFLOPs (paper 318).
    Table 8's "IGCV3-D (0.7)" at 210 MFLOPs is registered at m = 0.8: these rules give 167.7 MFLOPs / 2.45 M
    parameters at m = 0.7 (the "0.7x" of IGCV3's README is a parameter reduction: 0.7 x 3.5 M) and 216 / 2.76 M
    at m = 0.8, the complexity (and the 2.8 M parameters) the paper reports for it.
    """
    m = spec.width_mult
    c = even_width(32 * m)
    blocks: list[Block] = [ConvBlock("stem.conv0", Conv(spec.in_channels, c, 3, 2, act="relu6"))]
    first_in = c
    index = 0
    for t, w0, repeats, stride, stage in IGCV3_D_SETTINGS:
        cout = even_width(w0 * m)
        for r in range(repeats):
            hidden = round((first_in if r == 0 else c) * t)
            blocks.append(IGCV3Unit(f"{stage}.block{index}", c, cout, stride if r == 0 else 1, t, IGCV3_GROUPS,
                                    hidden))
            c = cout
            index += 1
        first_in = round(c * m)  # the released code's `in_c`: the scaled width scaled again ...
        if first_in % 2:
            first_in = c + 1  # ... and, when odd, replaced by the width plus one
    last = int(MOBILENET_V2_LAST * m) + 1 if m > 1.0 else MOBILENET_V2_LAST
    blocks.append(ConvBlock("head.conv", Conv(c, last, 1, act="relu6")))
    blocks.append(Classifier("head.classifier", last, spec.num_classes))
    return tuple(blocks)


PLANNERS = {"igcv2": igcv2_plan, "igcv3_d": igcv3_d_plan}

# ----------------------------------------------------------------------------------------------- modules


class IGCV2BlockModule(nn.Module):
    """IGCV2 block (training form; `inference()` folds BN into W1, W2, W3; the permutation stays)."""

    def __init__(self, block: IGCV2Block, convs: nn.Sequential | None = None):
        super().__init__()
        self.block = block
        self.convs = conv_chain(block.convs()) if convs is None else convs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w1, w2, w3 = self.convs
        return w3(channel_shuffle(w2(w1(x)), self.block.groups))

    def inference(self) -> "IGCV2BlockModule":
        return IGCV2BlockModule(self.block, infer_chain(self.convs))


class IGCV3UnitModule(nn.Module):
    """IGCV3 block (training form; `inference()` folds BN into the three convolutions)."""

    def __init__(self, block: IGCV3Unit, convs: nn.Sequential | None = None):
        super().__init__()
        self.block = block
        self.convs = conv_chain(block.convs()) if convs is None else convs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pw1, dw, pw2 = self.convs
        y = pw2(dw(channel_shuffle(pw1(x), self.block.groups)))
        y = channel_shuffle(y, self.block.cout_ // 2)
        return y + x if self.block.residual else y

    def inference(self) -> "IGCV3UnitModule":
        return IGCV3UnitModule(self.block, infer_chain(self.convs))


MODULE_BUILDERS = {
    IGCV2Block: lambda b, plain=False: IGCV2BlockModule(b),
    IGCV3Unit: lambda b, plain=False: IGCV3UnitModule(b),
}

__all__ = ["IGCV2Block", "IGCV3Unit", "igcv2_plan", "igcv3_d_plan", "PLANNERS", "MODULE_BUILDERS", "even_width"]

"""Hand-designed baselines of Table 8: MobileNet v1, MobileNet v2, ShuffleNet v1 (g groups), light Xception.

`baseline_plan(spec)` turns a `BaselineSpec` into a tuple of blocks (the same `Block` protocol as ShuffleNet v2),
so `cost()`, `build_model()` and latency predictors treat every family alike. Plain convolutions reuse
`ConvBlock` / `MaxPool` / `Classifier`; the three block types of their own (`InvertedResidual`,
`ShuffleV1Unit`, `XceptionBlock`) list every executed op in `layers()` and get a PyTorch module each
(listed in `MODULE_BUILDERS`, where search_space.modules looks them up).

Block names follow Table 5's stages by output stride at 224x224: "stem" (1/2 and 1/4, incl. the max-pool),
"stage1" (56x56, MobileNets only), "stage2" (28x28), "stage3" (14x14), "stage4" (7x7), "head".
All MFLOPs below are multiply-adds of convolutions and the FC layer (as in the paper).
The rest of Table 8 lives in `FAMILY_MODULES` (DenseNet and CondenseNet, IGCV2 and IGCV3-D, NASNet-A and
PNASNet-5); `baseline_plan` and `module_builders` dispatch to them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from search_space.blocks import Block, Classifier, ConvBlock, MaxPool, conv_chain_layers
from search_space.layers import Conv, Layer, act_layers, conv_layer, eltwise_layer, pool_layer
from search_space.modules import conv_chain, infer_chain
from search_space.spec import BaselineSpec, SpecError

# ------------------------------------------------------------------------------------------- channel rules


def round_to_multiple(value: float, multiple: int) -> int:
    """Nearest multiple of `multiple`, at least one `multiple` (ShuffleNet v1 widths and group counts)."""
    return max(multiple, int(round(value / multiple)) * multiple)


def scaled(channels: int, width_mult: float) -> int:
    """Channels scaled by a width multiplier and rounded to the nearest integer (at least 1)."""
    return max(1, int(round(channels * width_mult)))


# ------------------------------------------------------------------------------------------------ blocks


def _conv_layers(name: str, block: str, conv: Conv, h: int, w: int) -> tuple[list[Layer], int, int]:
    """One convolution and its activation: layers and output (h, w)."""
    layer = conv_layer(name, block, conv, h, w)
    return [layer] + act_layers(name, block, conv.act, conv.cout, layer.h_out, layer.w_out), layer.h_out, layer.w_out


@dataclass(frozen=True)
class InvertedResidual:
    """MobileNet v2 bottleneck: 1x1 expand (t x cin) + ReLU6, 3x3 DW (stride) + ReLU6, 1x1 linear projection.

    No expand convolution when t = 1; identity add when stride is 1 and cin == cout.
    """

    name: str
    cin: int
    cout_: int
    stride: int
    expand: int

    @property
    def cout(self) -> int:
        return self.cout_

    @property
    def hidden(self) -> int:
        """Channels of the expanded (depthwise) feature map: t x cin."""
        return self.cin * self.expand

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.cin == self.cout_

    def convs(self) -> tuple[Conv, ...]:
        """Convolutions in order (expand, depthwise, project)."""
        hid = self.hidden
        expand = (Conv(self.cin, hid, 1, act="relu6"),) if self.expand != 1 else ()
        return expand + (Conv(hid, hid, 3, self.stride, hid, "relu6"), Conv(hid, self.cout_, 1, act=None))

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        out, ho, wo = conv_chain_layers(f"{self.name}.main", self.name, self.convs(), h, w)
        if self.residual:
            out.append(eltwise_layer(f"{self.name}.add", "add", self.name, self.cout_, ho, wo, inputs=2))
        return out, ho, wo


@dataclass(frozen=True)
class ShuffleV1Unit:
    """ShuffleNet v1 unit (its Fig. 2b/2c) with `groups` groups in the pointwise convolutions.

    Branch: 1x1 group conv (cin -> mid) + ReLU, channel shuffle (g groups), 3x3 DW (stride), 1x1 group conv
    (mid -> branch_out), no activation. Stride 1: add the input, ReLU. Stride 2: 3x3/2 average pool of the
    input, concat [pool, branch] (branch_out = cout - cin), ReLU. `dense_first`: the first 1x1 is an ordinary
    convolution (stage 2's first unit, whose input has only the stem's channels); no shuffle follows it,
    since permuting the outputs of a dense convolution only relabels its filters.
    """

    name: str
    cin: int
    cout_: int
    stride: int
    groups: int
    mid: int
    dense_first: bool = False

    @property
    def cout(self) -> int:
        return self.cout_

    @property
    def branch_out(self) -> int:
        """Channels the branch produces: cout (stride 1, added) or cout - cin (stride 2, concatenated)."""
        return self.cout_ if self.stride == 1 else self.cout_ - self.cin

    @property
    def first_groups(self) -> int:
        return 1 if self.dense_first else self.groups

    @property
    def shuffles(self) -> bool:
        """Whether a channel shuffle follows the first 1x1 (only after a grouped one with g > 1)."""
        return self.first_groups > 1

    def convs(self) -> tuple[Conv, Conv, Conv]:
        """(first 1x1, 3x3 DW, second 1x1)."""
        return (Conv(self.cin, self.mid, 1, groups=self.first_groups),
                Conv(self.mid, self.mid, 3, self.stride, self.mid, None),
                Conv(self.mid, self.branch_out, 1, groups=self.groups, act=None))

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        pw1, dw, pw2 = self.convs()
        out, h1, w1 = _conv_layers(f"{n}.main.conv0", n, pw1, h, w)
        if self.shuffles:
            out.append(eltwise_layer(f"{n}.shuffle", "shuffle", n, self.mid, h1, w1))
        dw_layers, h2, w2 = _conv_layers(f"{n}.main.conv1", n, dw, h1, w1)
        pw2_layers, ho, wo = _conv_layers(f"{n}.main.conv2", n, pw2, h2, w2)
        out.extend(dw_layers + pw2_layers)
        if self.stride == 1:
            out.append(eltwise_layer(f"{n}.add", "add", n, self.cout_, ho, wo, inputs=2))
        else:
            out.append(pool_layer(f"{n}.shortcut.avgpool", "avgpool", n, self.cin, h, w, 3, self.stride))
            out.append(Layer(f"{n}.concat", "concat", n, self.cout_, self.cout_, ho, wo, ho, wo,
                             mac=2 * ho * wo * self.cout_))
        out.append(eltwise_layer(f"{n}.relu", "relu", n, self.cout_, ho, wo))
        return out, ho, wo


@dataclass(frozen=True)
class XceptionBlock:
    """Light Xception block: three separable convolutions (3x3 DW + 1x1) in a bottleneck, plus a shortcut.

    Main path: DW(cin, stride) -> 1x1 cin->mid + ReLU -> DW(mid) -> 1x1 mid->mid + ReLU -> DW(mid) ->
    1x1 mid->cout (no activation); BN after every conv. Shortcut: identity, or a 1x1 stride-s projection
    (BN, no activation) when the shape changes (as in Xception's entry flow). Add, then ReLU; that ReLU is the
    pre-activation of the next block's first separable conv, so every separable conv is preceded by a ReLU
    as in Xception. Receptive field of the block: 7 (three 3x3), as the paper notes in section 4.
    """

    name: str
    cin: int
    cout_: int
    stride: int
    mid: int

    @property
    def cout(self) -> int:
        return self.cout_

    @property
    def projects(self) -> bool:
        return self.stride != 1 or self.cin != self.cout_

    def convs(self) -> tuple[Conv, ...]:
        """The six convolutions of the main path, in order."""
        c, m = self.cin, self.mid
        return (Conv(c, c, 3, self.stride, c, None), Conv(c, m, 1),
                Conv(m, m, 3, 1, m, None), Conv(m, m, 1),
                Conv(m, m, 3, 1, m, None), Conv(m, self.cout_, 1, act=None))

    def shortcut(self) -> tuple[Conv, ...]:
        """The projection (1x1, stride) when the shape changes; empty for an identity shortcut."""
        return (Conv(self.cin, self.cout_, 1, self.stride, act=None),) if self.projects else ()

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        out, ho, wo = conv_chain_layers(f"{n}.main", n, self.convs(), h, w)
        proj, _, _ = conv_chain_layers(f"{n}.proj", n, self.shortcut(), h, w)
        out.extend(proj)
        out.append(eltwise_layer(f"{n}.add", "add", n, self.cout_, ho, wo, inputs=2))
        out.append(eltwise_layer(f"{n}.relu", "relu", n, self.cout_, ho, wo))
        return out, ho, wo


# ---------------------------------------------------------------------------------------------- planners

#: MobileNet v1 [13] Table 1: (output channels, stride, stage) of the 13 depthwise-separable layers.
MOBILENET_V1_LAYERS: tuple[tuple[int, int, str], ...] = (
    (64, 1, "stem"), (128, 2, "stage1"), (128, 1, "stage1"), (256, 2, "stage2"), (256, 1, "stage2"),
    (512, 2, "stage3"), (512, 1, "stage3"), (512, 1, "stage3"), (512, 1, "stage3"), (512, 1, "stage3"),
    (512, 1, "stage3"), (1024, 2, "stage4"), (1024, 1, "stage4"),
)

#: MobileNet v2 [14] Table 2: (expansion t, output channels c, repeats n, first stride s, stage).
MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int, str], ...] = (
    (1, 16, 1, 1, "stem"), (6, 24, 2, 2, "stage1"), (6, 32, 3, 2, "stage2"), (6, 64, 4, 2, "stage3"),
    (6, 96, 3, 1, "stage3"), (6, 160, 3, 2, "stage4"), (6, 320, 1, 1, "stage4"),
)
MOBILENET_V2_LAST = 1280

#: ShuffleNet v1 [15] Table 1: stage-2 output channels at 1x per group count (stages 3, 4 double it).
SHUFFLENET_V1_WIDTHS: dict[int, int] = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
STAGE_DEPTHS = (4, 8, 4)

#: Light Xception at 1x (see `xception_plan`): stem width, stage widths, bottleneck = width // 4.
XCEPTION_STEM = 24
XCEPTION_WIDTHS = (128, 256, 512)


def mobilenet_v1_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """MobileNet v1: 3x3/2 conv (32), 13 depthwise-separable layers (DW 3x3 + 1x1, BN + ReLU each), GAP, FC.

    Every width is int(c x width_mult), as in the MobileNet paper's width multiplier.
    """
    wm = spec.width_mult
    c = max(1, int(32 * wm))
    blocks: list[Block] = [ConvBlock("stem.conv0", Conv(spec.in_channels, c, 3, 2))]
    for i, (width, stride, stage) in enumerate(MOBILENET_V1_LAYERS):
        cout = max(1, int(width * wm))
        blocks.append(ConvBlock(f"{stage}.sep{i}.dw", Conv(c, c, 3, stride, c)))
        blocks.append(ConvBlock(f"{stage}.sep{i}.pw", Conv(c, cout, 1)))
        c = cout
    blocks.append(Classifier("head.classifier", c, spec.num_classes))
    return tuple(blocks)


def mobilenet_v2_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """MobileNet v2: 3x3/2 conv (32) + ReLU6, 17 inverted residuals, 1x1 conv (1280) + ReLU6, GAP, FC.

    Channel rule, chosen to match the paper's "(our impl.)" MFLOPs (all six Table 8 points within 3%):
    every width is round(c x width_mult) (no divisor), except that the first bottleneck (t = 1) keeps at least
    its 16 channels, and the last 1x1 conv keeps 1280 channels for width_mult <= 1 (scaled above 1, as in
    the MobileNet v2 paper). The reference code's make_divisible(c x width_mult, 8) rule does not fit the
    small models: 30.6 / 41.8 / 151.0 / 153.9 MFLOPs for 0.15x / 0.4x@160 / 0.6x / 0.75x@192 (paper: 39 / 43 /
    141 / 145), i.e. -22% / -3% / +7% / +6%; scaling the 1280 conv for every width as well fits no better.
    """
    wm = spec.width_mult
    c = scaled(32, wm)
    blocks: list[Block] = [ConvBlock("stem.conv0", Conv(spec.in_channels, c, 3, 2, act="relu6"))]
    index = 0
    for row, (t, width, repeats, stride, stage) in enumerate(MOBILENET_V2_SETTINGS):
        cout = max(width, scaled(width, wm)) if row == 0 else scaled(width, wm)
        for r in range(repeats):
            blocks.append(InvertedResidual(f"{stage}.block{index}", c, cout, stride if r == 0 else 1, t))
            c = cout
            index += 1
    last = MOBILENET_V2_LAST if wm <= 1 else scaled(MOBILENET_V2_LAST, wm)
    blocks.append(ConvBlock("head.conv", Conv(c, last, 1, act="relu6")))
    blocks.append(Classifier("head.classifier", last, spec.num_classes))
    return tuple(blocks)


def shufflenet_v1_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """ShuffleNet v1 (g = spec.groups): 3x3/2 conv (24) + 3x3/2 max-pool, stages of 4/8/4 units, GAP, FC.

    Stage widths (c, 2c, 4c) with c from ShuffleNet v1 Table 1 for g in {1, 2, 3, 4, 8}, times width_mult,
    rounded to a multiple of 4g so the bottleneck (width / 4) splits into g groups. The stem is
    24 x width_mult rounded to a multiple of g (so cout - cin of each stride-2 unit divides into g groups).
    """
    g = spec.groups
    if g not in SHUFFLENET_V1_WIDTHS:
        raise SpecError("groups", f"{g} has no ShuffleNet v1 widths (known: {sorted(SHUFFLENET_V1_WIDTHS)})")
    wm = spec.width_mult
    c = round_to_multiple(24 * wm, g)
    blocks: list[Block] = [ConvBlock("stem.conv0", Conv(spec.in_channels, c, 3, 2)), MaxPool("stem.pool", c)]
    base = SHUFFLENET_V1_WIDTHS[g]
    for s, depth in enumerate(STAGE_DEPTHS):
        width = round_to_multiple(base * 2 ** s * wm, 4 * g)
        for u in range(depth):
            blocks.append(ShuffleV1Unit(f"stage{s + 2}.unit{u}", c, width, 2 if u == 0 else 1, g, width // 4,
                                        dense_first=s == 0 and u == 0))
            c = width
    blocks.append(Classifier("head.classifier", c, spec.num_classes))
    return tuple(blocks)


def xception_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """Light Xception (the paper's "Xception (our impl.)", after Light-Head R-CNN [34]); a reconstruction.

    Assumptions (the paper gives only the name, the reference and the MFLOPs 40/145/305/525):
    - Layout like Table 5 / Light-Head R-CNN's small backbone: 3x3/2 conv (24) + BN + ReLU, 3x3/2 max-pool,
      three stages of 4/8/4 blocks at 28x28, 14x14, 7x7 (the first block of each stage has stride 2),
      global average pooling, 1000-way FC; no 1x1 head conv.
    - Block: `XceptionBlock` (three separable convs DW 3x3 + 1x1, so receptive field 7 as section 4 says),
      bottleneck mid = width // 4 (ResNet/ShuffleNet-style 1/4), 1x1 stride-2 projection shortcut in the
      down-sampling block (Xception's entry-flow shortcut), identity elsewhere.
    - Widths at 1x: 128/256/512 (the original Xception's entry-flow widths 128/256, doubled per stage).
      Light-Head R-CNN's table is recalled as 144/288/576, but with three separable convs per block those
      widths overshoot 145 MFLOPs by 7-10%; 128/256/512 is the one choice we made to match the FLOPs.
    - One scaling rule for all scales: stem and stage widths = round(c x width_mult), bottleneck = width // 4.
      MFLOPs at 224x224: 41.1 / 144.8 / 311.0 / 539.7 for 0.5x / 1x / 1.5x / 2x (+2.9% / -0.1% / +2.0% / +2.8%).
    """
    wm = spec.width_mult
    c = scaled(XCEPTION_STEM, wm)
    blocks: list[Block] = [ConvBlock("stem.conv0", Conv(spec.in_channels, c, 3, 2)), MaxPool("stem.pool", c)]
    for s, (width0, depth) in enumerate(zip(XCEPTION_WIDTHS, STAGE_DEPTHS)):
        width = scaled(width0, wm)
        for b in range(depth):
            blocks.append(XceptionBlock(f"stage{s + 2}.block{b}", c, width, 2 if b == 0 else 1, max(1, width // 4)))
            c = width
    blocks.append(Classifier("head.classifier", c, spec.num_classes))
    return tuple(blocks)


PLANNERS: dict[str, Callable[[BaselineSpec], tuple[Block, ...]]] = {
    "mobilenet_v1": mobilenet_v1_plan,
    "mobilenet_v2": mobilenet_v2_plan,
    "shufflenet_v1": shufflenet_v1_plan,
    "xception": xception_plan,
}


#: Modules of the rest of Table 8's families, each with PLANNERS and MODULE_BUILDERS of its own (imported on
#: first use, since they import this module).
FAMILY_MODULES = ("search_space.baselines_dense", "search_space.baselines_igc", "search_space.baselines_cells")


def family_modules() -> list[ModuleType]:
    """The modules of the other Table 8 families (DenseNet, CondenseNet, IGCV2/3, NASNet-A, PNASNet-5)."""
    return [importlib.import_module(name) for name in FAMILY_MODULES]


def all_planners() -> dict[str, Callable[[BaselineSpec], tuple[Block, ...]]]:
    """Planner of every baseline family: the four above and those of `FAMILY_MODULES`."""
    out = dict(PLANNERS)
    for mod in family_modules():
        out.update(mod.PLANNERS)
    return out


def module_builders() -> dict[type, Callable[..., nn.Module]]:
    """Module builder of every baseline block type (search_space.modules looks them up here)."""
    out: dict[type, Callable[..., nn.Module]] = dict(MODULE_BUILDERS)
    for mod in family_modules():
        out.update(mod.MODULE_BUILDERS)
    return out


def baseline_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """Blocks of a Table 8 baseline at spec.resolution / num_classes / in_channels, scaled by width_mult."""
    planners = all_planners()
    try:
        planner = planners[spec.family]
    except KeyError:
        raise SpecError("family", f"{spec.family!r} has no baseline plan (known: {', '.join(planners)})") from None
    return planner(spec)


# ----------------------------------------------------------------------------------------------- modules


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle of an (N, C, H, W) tensor: (g, C/g) -> (C/g, g) channel order."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class InvertedResidualModule(nn.Module):
    """MobileNet v2 bottleneck (training form: Conv+BN+ReLU6; `inference()` folds BN)."""

    def __init__(self, block: InvertedResidual, main: nn.Sequential | None = None):
        super().__init__()
        self.block = block
        self.main = conv_chain(block.convs()) if main is None else main

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.main(x)
        return y + x if self.block.residual else y

    def inference(self) -> "InvertedResidualModule":
        return InvertedResidualModule(self.block, infer_chain(self.main))


class ShuffleV1UnitModule(nn.Module):
    """ShuffleNet v1 unit (training form; `inference()` folds BN into the three convolutions)."""

    def __init__(self, block: ShuffleV1Unit, convs: nn.Sequential | None = None):
        super().__init__()
        self.block = block
        self.convs = conv_chain(block.convs()) if convs is None else convs
        self.pool = nn.AvgPool2d(3, block.stride, 1) if block.stride != 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pw1, dw, pw2 = self.convs
        y = pw1(x)
        if self.block.shuffles:
            y = channel_shuffle(y, self.block.groups)
        y = pw2(dw(y))
        if self.pool is None:
            return F.relu(y + x)
        return F.relu(torch.cat((self.pool(x), y), 1))

    def inference(self) -> "ShuffleV1UnitModule":
        return ShuffleV1UnitModule(self.block, infer_chain(self.convs))


class XceptionBlockModule(nn.Module):
    """Light Xception block (training form; `inference()` folds BN into main path and projection)."""

    def __init__(self, block: XceptionBlock, main: nn.Sequential | None = None, proj: nn.Sequential | None = None):
        super().__init__()
        self.block = block
        self.main = conv_chain(block.convs()) if main is None else main
        self.proj = conv_chain(block.shortcut()) if proj is None else proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.main(x) + self.proj(x))

    def inference(self) -> "XceptionBlockModule":
        return XceptionBlockModule(self.block, infer_chain(self.main), infer_chain(self.proj))


#: Module of each baseline block type (search_space.modules looks them up here).
MODULE_BUILDERS = {
    InvertedResidual: lambda b, plain=False: InvertedResidualModule(b),
    ShuffleV1Unit: lambda b, plain=False: ShuffleV1UnitModule(b),
    XceptionBlock: lambda b, plain=False: XceptionBlockModule(b),
}


# ------------------------------------------------------------------------------ units for micro-benchmarks


def xception_unit_flops_per_pixel(width: int) -> float:
    """Multiply-adds per output pixel of a stride-1 light Xception block of `width` channels (mid = width//4)."""
    m = width // 4
    return 9 * width + width * m + 9 * m + m * m + 9 * m + m * width


def stride1_unit(family: str, name: str, width: int) -> Block:
    """A stride-1, width-preserving unit of a baseline family (Appendix Table 1b's stacked units)."""
    if family == "shufflenet_v1":
        return ShuffleV1Unit(name, width, width, 1, 3, width // 4)
    if family == "mobilenet_v2":
        return InvertedResidual(name, width, width, 1, 6)
    if family == "xception":
        return XceptionBlock(name, width, width, 1, width // 4)
    raise SpecError("unit_family", f"no stride-1 unit for {family!r}")


__all__ = ["InvertedResidual", "ShuffleV1Unit", "XceptionBlock", "baseline_plan",
           "mobilenet_v1_plan", "mobilenet_v2_plan", "shufflenet_v1_plan", "xception_plan", "MODULE_BUILDERS", "stride1_unit", "xception_unit_flops_per_pixel",
           "PLANNERS", "channel_shuffle", "FAMILY_MODULES", "family_modules", "all_planners", "module_builders"]

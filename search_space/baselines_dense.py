"""Densely connected Table 8 baselines: DenseNet (the paper's "our impl.") and CondenseNet (G = C = 4 / 8).

Both are pre-activation networks: each layer reads the concatenation of all earlier feature maps of its dense
block through its own BatchNorm + ReLU, so that BatchNorm cannot be folded into any convolution (the previous
convolution's output is shared by every later layer, each normalising it differently). The inference form keeps
it as a per-channel affine map (scale and shift, then ReLU: `AffineReLU`); the BatchNorm that directly follows a
1x1 convolution is folded into it as usual. The convolutions whose output goes straight into a concatenation have
neither BatchNorm nor bias (as in both reference implementations), so their layers carry the weights only.

Ops of their own, as the cost model lists them: "mul" (the pre-activation affine map: reads and writes the
input, 2 parameters a channel), "concat" (the dense connection: [x, new] written out again, 2 x h x w x cout
elements of traffic), "shuffle" (CondenseNet's index layer and its permutation after the 1x1 group conv, and the
index of its classifier: a gather, read + write), "avgpool" (2x2 / stride 2 transitions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from search_space.baselines import channel_shuffle, round_to_multiple
from search_space.blocks import Block, Classifier, ConvBlock, MaxPool
from search_space.layers import Conv, Layer, conv_layer, eltwise_layer, fc_layer, gap_layer
from search_space.modules import ConvBNAct
from search_space.spec import BaselineSpec, SpecError

# --------------------------------------------------------------------------------------------- cost pieces


def preact_layers(name: str, block: str, channels: int, h: int, w: int) -> list[Layer]:
    """Pre-activation BatchNorm (an affine map at inference, 2 params a channel) and its ReLU."""
    affine = Layer(f"{name}.bn", "mul", block, channels, channels, h, w, h, w, params=2 * channels,
                   mac=2 * h * w * channels + 2 * channels)
    return [affine, eltwise_layer(f"{name}.relu", "relu", block, channels, h, w)]


def plain_conv(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> Conv:
    """A convolution without BatchNorm, activation or bias (its output feeds a concatenation / pre-activation)."""
    return Conv(cin, cout, kernel, stride, groups, act=None, bn=False)


def plain_conv_layer(name: str, block: str, conv: Conv, h: int, w: int) -> Layer:
    """Cost of a `plain_conv`: the weights are its only parameters (no bias)."""
    return replace(conv_layer(name, block, conv, h, w), params=conv.weights)


def gather_layer(name: str, block: str, cin: int, cout: int, h: int, w: int) -> Layer:
    """A channel gather / permutation (index_select): reads the selected channels, writes them."""
    return Layer(name, "shuffle", block, cin, cout, h, w, h, w, mac=2 * h * w * cout)


def interleave_index(channels: int, groups: int) -> list[int]:
    """A fixed permutation standing in for a learned channel selection: the g-group shuffle order."""
    if groups <= 1 or channels % groups:
        return list(range(channels))
    per = channels // groups
    return [(i % groups) * per + i // groups for i in range(channels)]


# -------------------------------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class DenseLayer:
    """One densely connected layer: [index] -> BN-ReLU -> 1x1 (g groups) -> BN-ReLU [-> shuffle] -> 3x3 (g groups).

    The 3x3 convolution makes `growth` new channels, concatenated to the input (cout = cin + growth). With
    groups = 1 it is DenseNet-BC's bottleneck layer (1x1 to bottleneck x growth channels); with groups = G > 1 it
    is CondenseNet's layer in its converted (inference) form: an index layer that selects / orders the input
    channels the learned group convolution kept (G = C: as many as it has), the 1x1 G-group convolution, the
    G-group channel permutation, and the 3x3 G-group convolution.
    """

    name: str
    cin: int
    growth: int
    bottleneck: int = 4
    groups: int = 1

    @property
    def cout(self) -> int:
        return self.cin + self.growth

    @property
    def mid(self) -> int:
        return self.bottleneck * self.growth

    @property
    def condensed(self) -> bool:
        return self.groups > 1

    def convs(self) -> tuple[Conv, Conv]:
        """(1x1 with the following BatchNorm folded and its ReLU, 3x3 without BatchNorm or bias)."""
        return (Conv(self.cin, self.mid, 1, groups=self.groups),
                plain_conv(self.mid, self.growth, 3, groups=self.groups))

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        out: list[Layer] = [gather_layer(f"{n}.index", n, self.cin, self.cin, h, w)] if self.condensed else []
        out += preact_layers(f"{n}.pre", n, self.cin, h, w)
        pw, conv3 = self.convs()
        out.append(conv_layer(f"{n}.conv1", n, pw, h, w))
        out.append(eltwise_layer(f"{n}.conv1.relu", "relu", n, self.mid, h, w))
        if self.condensed:
            out.append(gather_layer(f"{n}.shuffle", n, self.mid, self.mid, h, w))
        out.append(plain_conv_layer(f"{n}.conv2", n, conv3, h, w))
        out.append(Layer(f"{n}.concat", "concat", n, self.cout, self.cout, h, w, h, w, mac=2 * h * w * self.cout))
        return out, h, w


@dataclass(frozen=True)
class Transition:
    """DenseNet transition: BN-ReLU -> 1x1 conv (compression) -> 2x2 / stride 2 average pooling.

    `cout == cin` and `conv=False` give CondenseNet's transition (the pooling only). The pooling rounds the
    output size up (ceil mode, averaging the valid pixels of an edge window): identical to the original on the
    even maps of a 224x224 input, and defined on the odd / 1x1 maps of small inputs.
    """

    name: str
    cin: int
    cout_: int
    conv: bool = True

    @property
    def cout(self) -> int:
        return self.cout_

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        out: list[Layer] = []
        if self.conv:
            out += preact_layers(f"{n}.pre", n, self.cin, h, w)
            out.append(plain_conv_layer(f"{n}.conv", n, plain_conv(self.cin, self.cout_), h, w))
        ho, wo = (h + 1) // 2, (w + 1) // 2  # ceil mode: a 1x1 map stays 1x1; even maps as without it
        pool = Layer(f"{n}.pool", "avgpool", n, self.cout_, self.cout_, h, w, ho, wo, 2, 2,
                     mac=(h * w + ho * wo) * self.cout_)
        return out + [pool], ho, wo


@dataclass(frozen=True)
class PreAct:
    """The final BatchNorm + ReLU of a pre-activation network (DenseNet's norm5, CondenseNet's post-activation)."""

    name: str
    channels: int

    @property
    def cin(self) -> int:
        return self.channels

    @property
    def cout(self) -> int:
        return self.channels

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        return preact_layers(self.name, self.name, self.channels, h, w), h, w


@dataclass(frozen=True)
class PlainConv:
    """A single convolution without BatchNorm or bias (CondenseNet's stem: the next layer normalises it)."""

    name: str
    cin: int
    cout_: int
    kernel: int = 3
    stride: int = 2

    @property
    def cout(self) -> int:
        return self.cout_

    def conv(self) -> Conv:
        return plain_conv(self.cin, self.cout_, self.kernel, self.stride)

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        layer = plain_conv_layer(self.name, self.name, self.conv(), h, w)
        return [layer], layer.h_out, layer.w_out


@dataclass(frozen=True)
class SelectClassifier:
    """CondenseNet's classifier: global average pooling, an index layer keeping `keep` channels, FC."""

    name: str
    cin: int
    keep: int
    num_classes: int

    @property
    def cout(self) -> int:
        return self.num_classes

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        pool = gap_layer(f"{n}.pool", n, self.cin, h, w)
        return [pool, gather_layer(f"{n}.index", n, self.cin, self.keep, 1, 1),
                fc_layer(f"{n}.fc", n, self.keep, self.num_classes)], 1, 1


# ---------------------------------------------------------------------------------------------- planners

#: DenseNet "our impl." (see `densenet_plan`): dense layers per stage (Table 5's 4/8/4 units), growth rate at 1x.
DENSENET_DEPTHS = (4, 8, 4)
DENSENET_GROWTH = 21
DENSENET_STEM = 24
DENSENET_COMPRESSION = 0.5

#: CondenseNet-74 for ImageNet [16]: dense layers and growth rate of its five blocks; stem width 2 x growth[0].
CONDENSENET_DEPTHS = (4, 6, 8, 10, 8)
CONDENSENET_GROWTH = (8, 16, 32, 64, 128)
CONDENSENET_STAGES = ("stem", "stage1", "stage2", "stage3", "stage4")


def densenet_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """DenseNet-BC in Table 5's layout (the paper's "DenseNet (our impl.)", section 4); a reconstruction.

    The paper says only that stages 2-4 of Table 5 consist of DenseNet blocks and that the channels were adjusted
    to the target complexities. Assumed:
    - Table 5's frame: 3x3/2 conv (24) + BN + ReLU, 3x3/2 max-pool, stages 2-4 at 28x28 / 14x14 / 7x7 with
      4 / 8 / 4 building blocks, Table 5's 1x1 conv5 (1024; 2048 for 2x) + BN + ReLU, global pooling, FC.
    - Building block = DenseNet-BC layer (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k, concatenated), k the
      growth rate. Each stage starts with DenseNet-BC's transition (BN-ReLU-1x1 conv with compression 0.5,
      2x2/2 average pooling): the first one takes the stem's 24 channels to 12. DenseNet's final BN-ReLU
      precedes conv5.
    - Channels: growth rate k = round(21 x width_mult), i.e. 10 / 21 / 32 / 42 for 0.5x / 1x / 1.5x / 2x; the
      one constant fitted, to the paper's 1x (k = 20 gives 124 MFLOPs, 12% short; k = 21 puts all four
      scales within 5%: 42.3 / 135.4 / 289.3 / 502.0 MFLOPs against 42 / 142 / 295 / 519, with 1.23 / 1.66 /
      2.31 / 4.53 M parameters, 0.9-1.0 M of them the classifier).
    """
    k = max(1, round(DENSENET_GROWTH * spec.width_mult))
    c = DENSENET_STEM
    blocks: list[Block] = [ConvBlock("stem.conv0", Conv(spec.in_channels, c, 3, 2)), MaxPool("stem.pool", c)]
    for s, depth in enumerate(DENSENET_DEPTHS):
        stage = f"stage{s + 2}"
        width = max(1, int(c * DENSENET_COMPRESSION))
        blocks.append(Transition(f"{stage}.transition", c, width))
        c = width
        for i in range(depth):
            layer = DenseLayer(f"{stage}.dense{i}", c, k)
            blocks.append(layer)
            c = layer.cout
    head = 2048 if spec.width_mult > 1.5 else 1024
    blocks += [PreAct("head.norm", c), ConvBlock("head.conv", Conv(c, head, 1)),
               Classifier("head.classifier", head, spec.num_classes)]
    return tuple(blocks)


def condensenet_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """CondenseNet-74 for ImageNet [16] with G = C = spec.groups, in its converted (inference) form.

    From the CondenseNet paper and its reference code: 3x3/2 stem conv to 2 x 8 channels (no BatchNorm: the
    next layer's pre-activation normalises it); five dense blocks of 4 / 6 / 8 / 10 / 8 layers with growth
    rates 8 / 16 / 32 / 64 / 128 at 112, 56, 28, 14 and 7 pixels; transitions are 2x2/2 average pooling only;
    bottleneck 4 x growth; 1x1 learned group convolutions (G groups, condensation factor C = G, so each group
    keeps in/C inputs and the index layer selects as many channels as the layer has) and 3x3 G-group
    convolutions; final BN-ReLU, global pooling and a classifier whose index layer keeps half the features.
    `width_mult` scales the growth rates (1.0 is the paper's network). The index layers hold a fixed
    permutation in place of the selection learned in training.
    """
    g = spec.groups
    growth = [round_to_multiple(k * spec.width_mult, g) for k in CONDENSENET_GROWTH]
    c = 2 * growth[0]
    blocks: list[Block] = [PlainConv("stem.conv0", spec.in_channels, c)]
    for s, (depth, k) in enumerate(zip(CONDENSENET_DEPTHS, growth)):
        stage = CONDENSENET_STAGES[s]
        if s:
            blocks.append(Transition(f"{stage}.transition", c, c, conv=False))
        for i in range(depth):
            if c % g or (4 * k) % g:
                raise SpecError("groups", f"{g} groups do not divide CondenseNet's {c} / {4 * k} channels")
            layer = DenseLayer(f"{stage}.dense{i}", c, k, groups=g)
            blocks.append(layer)
            c = layer.cout
    blocks += [PreAct("head.norm", c), SelectClassifier("head.classifier", c, c // 2, spec.num_classes)]
    return tuple(blocks)


PLANNERS = {"densenet": densenet_plan, "condensenet": condensenet_plan}

# ----------------------------------------------------------------------------------------------- modules


class PreActModule(nn.Module):
    """BatchNorm + ReLU (training form); `inference()` gives the equivalent `AffineReLU`."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(x))

    @torch.no_grad()
    def inference(self) -> "AffineReLU":
        bn = self.bn
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        shift = bn.bias.double() - bn.running_mean.double() * scale
        return AffineReLU(scale.to(bn.weight.dtype), shift.to(bn.weight.dtype))


class AffineReLU(nn.Module):
    """relu(x * scale + shift) per channel: an unfoldable pre-activation BatchNorm at inference."""

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale.reshape(1, -1, 1, 1).clone())
        self.register_buffer("shift", shift.reshape(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x * self.scale + self.shift)

    def inference(self) -> "AffineReLU":
        return self


def plain_conv_module(conv: Conv) -> nn.Conv2d:
    """nn.Conv2d of a `plain_conv` (no bias)."""
    return nn.Conv2d(conv.cin, conv.cout, conv.kernel, conv.stride, conv.kernel // 2, groups=conv.groups, bias=False)


class DenseLayerModule(nn.Module):
    """A `DenseLayer` (training form; `inference()` folds the 1x1's BatchNorm, keeps the pre-activation affine)."""

    def __init__(self, block: DenseLayer, pre: nn.Module | None = None, conv1: nn.Module | None = None,
                 conv2: nn.Conv2d | None = None):
        super().__init__()
        self.block = block
        pw, conv3 = block.convs()
        self.pre = PreActModule(block.cin) if pre is None else pre
        self.conv1 = ConvBNAct(pw) if conv1 is None else conv1
        self.conv2 = plain_conv_module(conv3) if conv2 is None else conv2
        index = torch.tensor(interleave_index(block.cin, block.groups), dtype=torch.long)
        self.register_buffer("index", index if block.condensed else None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.index_select(1, self.index) if self.index is not None else x
        y = self.conv1(self.pre(y))
        if self.block.condensed:
            y = channel_shuffle(y, self.block.groups)
        return torch.cat((x, self.conv2(y)), 1)

    def inference(self) -> "DenseLayerModule":
        return DenseLayerModule(self.block, self.pre.inference(), self.conv1.inference(), self.conv2)


class TransitionModule(nn.Module):
    """A `Transition` (pre-activation kept as an affine map at inference)."""

    def __init__(self, block: Transition, pre: nn.Module | None = None, conv: nn.Module | None = None):
        super().__init__()
        self.block = block
        if block.conv:
            self.pre = PreActModule(block.cin) if pre is None else pre
            self.conv = plain_conv_module(plain_conv(block.cin, block.cout_)) if conv is None else conv
        else:
            self.pre, self.conv = nn.Identity(), nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(self.pre(x)), 2, 2, ceil_mode=True, count_include_pad=False)

    def inference(self) -> "TransitionModule":
        if not self.block.conv:
            return self
        return TransitionModule(self.block, self.pre.inference(), self.conv)


class SelectClassifierModule(nn.Module):
    """Global average pooling, a fixed index keeping `keep` channels, FC (same in both forms)."""

    def __init__(self, block: SelectClassifier):
        super().__init__()
        self.fc = nn.Linear(block.keep, block.num_classes)
        self.register_buffer("index", torch.tensor(interleave_index(block.cin, 2)[:block.keep], dtype=torch.long),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1).index_select(1, self.index))

    def inference(self) -> "SelectClassifierModule":
        return self


class PlainConvModule(nn.Module):
    """A `PlainConv` (no BatchNorm, nothing to fold)."""

    def __init__(self, block: PlainConv):
        super().__init__()
        self.conv = plain_conv_module(block.conv())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def inference(self) -> "PlainConvModule":
        return self


MODULE_BUILDERS = {
    DenseLayer: lambda b, plain=False: DenseLayerModule(b),
    Transition: lambda b, plain=False: TransitionModule(b),
    PreAct: lambda b, plain=False: PreActModule(b.channels),
    PlainConv: lambda b, plain=False: PlainConvModule(b),
    SelectClassifier: lambda b, plain=False: SelectClassifierModule(b),
}

__all__ = ["DenseLayer", "Transition", "PreAct", "PlainConv", "SelectClassifier", "densenet_plan",
           "condensenet_plan", "PLANNERS", "MODULE_BUILDERS", "AffineReLU", "interleave_index"]

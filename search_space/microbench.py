"""The paper's micro-benchmark networks (Tables 1-4, Appendix Table 1b) as specs with block plans.

Each is a stack of `repeat` blocks applied to a c x H x W feature map (no stem, no classifier). What the
paper leaves open (shared/paper/calibration/microbench_specs.md) is chosen here, once, and stated in
`CHOICES`; experiments print it next to their results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from search_space.blocks import Block, ConvBlock, ShuffleUnit, conv_chain_layers
from search_space.layers import Conv, Layer, eltwise_layer
from search_space.spec import SCHEMA_VERSION, SpecBase, SpecError, UnitSpec, _need_bool, _need_int

BENCHES = ("g1", "g2", "g3", "g4", "units")
UNIT_FAMILIES = ("shufflenet_v2", "shufflenet_v1", "mobilenet_v2", "xception")
ARRANGEMENTS = ("series", "parallel")

CHOICES: dict[str, str] = {
    "common": "input is a c x 56 x 56 feature map (the captions' 56x56; Table 4 says nothing, 56x56 is used too); "
              "batch as the platform's; BN is folded (the paper's 'tensor fusion'); 'xk' scales the channel "
              "counts by k (FLOPs x k^2), the reading the numbers support (Table 2 g=1 equals Table 3 1-fragment)",
    "g1": "a block is 1x1 conv c1->c2 then 1x1 conv c2->c1, no activation between; 10 blocks",
    "g2": "10 pointwise group convolutions c->c with g groups, no activation or shuffle between",
    "g3": "series: n 1x1 convs of round(c/sqrt(n)) channels in sequence; parallel: n 1x1 convs c->c/n reading "
          "the same input, concatenated (GoogLeNet-style); no activation; 10 blocks",
    "g4": "ResNet bottleneck with input/output width c and inner width c/4: 1x1, 3x3, 1x1, shortcut add; "
          "'ReLU' means the three ReLUs of the unit; 10 units",
    "units": "10 stride-1 units; ShuffleNet v2 at c channels (split 1/2, 3x3 DW); the others' widths are "
             "chosen so each unit has the FLOPs of the ShuffleNet v2 unit (ShuffleNet v1 g=3 bottleneck 1/4, "
             "MobileNet v2 expansion 6, the light Xception block)",
}


@dataclass(frozen=True)
class ParallelConvs:
    """n 1x1 convolutions c -> c/n reading the same input, outputs concatenated (G3 parallel fragments)."""

    name: str
    channels: int
    fragments: int

    @property
    def cout(self) -> int:
        return self.channels

    def branch(self) -> Conv:
        return Conv(self.channels, self.channels // self.fragments, 1, act=None)

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        out: list[Layer] = []
        for i in range(self.fragments):
            layers, _, _ = conv_chain_layers(f"{self.name}.branch{i}", self.name, (self.branch(),), h, w)
            out.extend(layers)
        out.append(eltwise_layer(f"{self.name}.concat", "concat", self.name, self.channels, h, w))
        return out, h, w


@dataclass(frozen=True)
class Bottleneck:
    """ResNet bottleneck (G4): 1x1 c->c/4, 3x3 c/4->c/4, 1x1 c/4->c, optional shortcut add and ReLUs."""

    name: str
    channels: int
    relu: bool = True
    shortcut: bool = True

    @property
    def cout(self) -> int:
        return self.channels

    def convs(self) -> tuple[Conv, ...]:
        c, m, act = self.channels, max(1, self.channels // 4), "relu" if self.relu else None
        return Conv(c, m, 1, act=act), Conv(m, m, 3, act=act), Conv(m, c, 1, act=None)

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        out, h, w = conv_chain_layers(f"{self.name}.main", self.name, self.convs(), h, w)
        if self.shortcut:
            out.append(eltwise_layer(f"{self.name}.add", "add", self.name, self.channels, h, w, inputs=2))
        if self.relu:
            out.append(eltwise_layer(f"{self.name}.relu", "relu", self.name, self.channels, h, w))
        return out, h, w


@dataclass(frozen=True)
class MicroSpec(SpecBase):
    """One micro-benchmark network: `bench` in g1..g4 / units and the row's settings.

    g1: c1 -> c2 -> c1 pairs; g2: c channels, `groups`; g3: c, `fragments`, `arrangement`; g4: c, `relu`,
    `shortcut`; units: `unit_family` at ShuffleNet v2 width c. `scale` multiplies the channel counts.
    """

    bench: str
    c1: int
    c2: int = 0
    groups: int = 1
    fragments: int = 1
    arrangement: str = "series"
    relu: bool = True
    shortcut: bool = True
    unit_family: str = "shufflenet_v2"
    scale: int = 1
    repeat: int = 10
    resolution: int = 56
    name: str = ""
    schema_version: int = SCHEMA_VERSION
    num_classes: int = 0
    family: str = field(default="microbench", init=False)
    _id: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.bench not in BENCHES:
            raise SpecError("bench", f"{self.bench!r} not one of {', '.join(BENCHES)}")
        for key in ("c1", "groups", "fragments", "scale", "repeat"):
            _need_int(key, getattr(self, key), 1)
        _need_int("c2", self.c2, 0)
        _need_int("resolution", self.resolution, 1)
        _need_bool("relu", self.relu)
        _need_bool("shortcut", self.shortcut)
        if self.arrangement not in ARRANGEMENTS:
            raise SpecError("arrangement", f"{self.arrangement!r} not one of {', '.join(ARRANGEMENTS)}")
        if self.unit_family not in UNIT_FAMILIES:
            raise SpecError("unit_family", f"{self.unit_family!r} not one of {', '.join(UNIT_FAMILIES)}")
        if self.bench == "g2" and (self.c1 * self.scale) % self.groups:
            raise SpecError("groups", f"{self.c1 * self.scale} channels are not divisible into {self.groups} groups")
        self._set_id()

    @property
    def in_channels(self) -> int:
        """Channels of the input feature map."""
        return first_block_cin(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MicroSpec":
        data = {k: v for k, v in data.items() if k != "family"}
        return cls(**data)


def _v2_unit_flops_per_pixel(c: int) -> float:
    """Multiply-adds per output pixel of a stride-1 ShuffleNet v2 unit with c channels (split 1/2, 3x3)."""
    b = c // 2
    return 2 * b * b + 9 * b


def equal_flops_width(family: str, c: int) -> int:
    """Width of a `family` unit with (about) the FLOPs of a ShuffleNet v2 unit of c channels."""
    target = _v2_unit_flops_per_pixel(c)
    if family == "shufflenet_v2":
        return c
    if family == "shufflenet_v1":  # g=3, bottleneck m = c/4: c*m/3 + 9m + m*c/3 = c^2/6 + 2.25c
        cands = range(12, 4 * c + 1, 12)
        return min(cands, key=lambda w: abs(w * w / 6 + 2.25 * w - target))
    if family == "mobilenet_v2":  # expansion 6: 6c^2 + 54c + 6c^2
        cands = range(4, c + 1, 4)
        return min(cands, key=lambda w: abs(12 * w * w + 54 * w - target))
    if family == "xception":
        from search_space.baselines import xception_unit_flops_per_pixel

        cands = range(8, 2 * c + 1, 8)
        return min(cands, key=lambda w: abs(xception_unit_flops_per_pixel(w) - target))
    raise SpecError("unit_family", f"unknown {family!r}")


def _unit_block(spec: MicroSpec, i: int, c: int) -> Block:
    name = f"stack.unit{i}"
    if spec.unit_family == "shufflenet_v2":
        return ShuffleUnit(name, c, c, 1, UnitSpec(), first=False)
    from search_space.baselines import stride1_unit

    return stride1_unit(spec.unit_family, name, c)


def micro_plan(spec: MicroSpec) -> tuple[Block, ...]:
    """The blocks of a micro-benchmark network."""
    k, n = spec.scale, spec.repeat
    blocks: list[Block] = []
    if spec.bench == "g1":
        c1, c2 = spec.c1 * k, (spec.c2 or spec.c1) * k
        for i in range(n):
            blocks += [ConvBlock(f"stack.block{i}.conv0", Conv(c1, c2, 1, act=None)),
                       ConvBlock(f"stack.block{i}.conv1", Conv(c2, c1, 1, act=None))]
    elif spec.bench == "g2":
        c = spec.c1 * k
        blocks += [ConvBlock(f"stack.layer{i}", Conv(c, c, 1, groups=spec.groups, act=None)) for i in range(n)]
    elif spec.bench == "g3":
        c = spec.c1 * k
        if spec.arrangement == "parallel" and spec.fragments > 1:
            blocks += [ParallelConvs(f"stack.block{i}", c, spec.fragments) for i in range(n)]
        else:
            cs = int(round(c / math.sqrt(spec.fragments)))
            blocks += [ConvBlock(f"stack.block{i}.conv{j}", Conv(cs, cs, 1, act=None))
                       for i in range(n) for j in range(spec.fragments)]
    elif spec.bench == "g4":
        blocks += [Bottleneck(f"stack.unit{i}", spec.c1 * k, spec.relu, spec.shortcut) for i in range(n)]
    else:
        c = equal_flops_width(spec.unit_family, spec.c1 * k)
        blocks += [_unit_block(spec, i, c) for i in range(n)]
    return tuple(blocks)


def first_block_cin(spec: MicroSpec) -> int:
    """Input channels of a micro-benchmark network."""
    block = micro_plan(spec)[0]
    if isinstance(block, ConvBlock):
        return block.conv.cin
    if isinstance(block, ShuffleUnit):
        return block.cin
    return block.cout


# ------------------------------------------------------------------------------------------------ modules
import torch  # noqa: E402  (torch modules of the two blocks above)
from torch import nn  # noqa: E402

from search_space.modules import ConvBNAct, infer_chain  # noqa: E402


class ParallelConvsModule(nn.Module):
    def __init__(self, block: ParallelConvs):
        super().__init__()
        self.branches = nn.ModuleList(ConvBNAct(block.branch()) for _ in range(block.fragments))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)

    def inference(self) -> "ParallelConvsModule":
        m = ParallelConvsModule.__new__(ParallelConvsModule)
        nn.Module.__init__(m)
        m.branches = nn.ModuleList(b.inference() for b in self.branches)
        return m


class BottleneckModule(nn.Module):
    def __init__(self, block: Bottleneck):
        super().__init__()
        self.block = block
        self.main = nn.Sequential(*(ConvBNAct(c) for c in block.convs()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.main(x)
        if self.block.shortcut:
            y = y + x
        return torch.relu(y) if self.block.relu else y

    def inference(self) -> "BottleneckModule":
        m = BottleneckModule.__new__(BottleneckModule)
        nn.Module.__init__(m)
        m.block, m.main = self.block, infer_chain(self.main)
        return m


MODULE_BUILDERS = {
    ParallelConvs: lambda b, plain=False: ParallelConvsModule(b),
    Bottleneck: lambda b, plain=False: BottleneckModule(b),
}

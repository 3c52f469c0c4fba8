"""Searched (cell-based) networks of Table 8: NASNet-A 4 @ 1056 (Zoph et al. 2018) and PNASNet-5 mobile (Liu et al.
2018), built from their published genotypes the way their reference implementation (TF-slim nasnet.py /
pnasnet.py, "mobile" ImageNet configurations) assembles them.

A cell reads two inputs (the previous two cells' outputs), so the whole cell stack is one block
(`CellStack`) whose module runs the recurrence; its layers are grouped per cell (`Layer.block` is the cell's
name, e.g. "stage3.cell5"), so cost, lint (G3 fragments per cell) and latency breakdowns still see cells.

Cell semantics (nasnet_utils.NasNetABaseCell): the current input goes through ReLU-1x1 conv-BN to F filters
(state 0); the previous input is matched to it (state 1: factorized reduction when it has twice the resolution,
ReLU-1x1 conv-BN when its width differs, unchanged otherwise; the current input itself when there is none);
five combinations each add two ops applied to earlier states; the unused states are concatenated. Ops:
"separable_kxk_2" = two (ReLU, k x k depthwise, 1x1 conv, BN) in a row, the first with the cell's stride;
pooling (3x3, stride) followed by 1x1 conv-BN when the width differs; "none" = identity, or ReLU-1x1 conv-BN
(with the stride) when the stride or width requires. Only ops on the two inputs take the reduction stride.

Deviations, for this package's conventions: symmetric padding (k // 2) everywhere, also for the first conv
(TF: VALID, 224 -> 111; here 112; the later maps are the same), and a ReLU of a state shared by all the ops that
read it (the reference applies it once per op; same outputs). No auxiliary head and no drop-path (training only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from search_space.baselines_dense import plain_conv, plain_conv_layer
from search_space.blocks import Block, ConvBlock
from search_space.layers import Conv, Layer, conv_layer, eltwise_layer, fc_layer, gap_layer, pool_layer
from search_space.modules import ConvBNAct
from search_space.spec import BaselineSpec, SpecError

# ----------------------------------------------------------------------------------------------- genotypes


@dataclass(frozen=True)
class Genotype:
    """A cell as TF-slim writes it: 10 ops (5 pairs), the state each reads, which states are not concatenated."""

    operations: tuple[str, ...]
    hiddenstate_indices: tuple[int, ...]
    used_hiddenstates: tuple[int, ...]


#: NASNet-A normal and reduction cells (nasnet.py NasNetANormalCell / NasNetAReductionCell).
NASNET_A_NORMAL = Genotype(
    ("separable_5x5_2", "separable_3x3_2", "separable_5x5_2", "separable_3x3_2", "avg_pool_3x3", "none",
     "avg_pool_3x3", "avg_pool_3x3", "separable_3x3_2", "none"),
    (0, 1, 1, 1, 0, 1, 1, 1, 0, 0), (1, 0, 0, 0, 0, 0, 0))
NASNET_A_REDUCTION = Genotype(
    ("separable_5x5_2", "separable_7x7_2", "max_pool_3x3", "separable_7x7_2", "avg_pool_3x3", "separable_5x5_2",
     "none", "avg_pool_3x3", "separable_3x3_2", "max_pool_3x3"),
    (0, 1, 0, 1, 0, 1, 3, 2, 2, 0), (1, 1, 1, 0, 0, 0, 0))
#: PNASNet-5's one cell (pnasnet.py PNasNetNormalCell), used with stride 2 for reductions.
PNASNET_5 = Genotype(
    ("separable_5x5_2", "max_pool_3x3", "separable_7x7_2", "max_pool_3x3", "separable_5x5_2", "separable_3x3_2",
     "separable_3x3_2", "max_pool_3x3", "separable_3x3_2", "none"),
    (1, 1, 0, 0, 0, 0, 4, 0, 1, 0), (1, 1, 0, 0, 0, 0, 0))

SEP_KERNELS = {"separable_3x3_2": 3, "separable_5x5_2": 5, "separable_7x7_2": 7}
POOLS = {"avg_pool_3x3": "avgpool", "max_pool_3x3": "maxpool"}

#: Mobile ImageNet configurations: stem conv width, filters F, cells (NASNet: normal cells, N per stage;
#: PNASNet: all cells, reductions included), stem cells' filter scaling 1/4 and 1/2, filters x2 per reduction.
NASNET_A_MOBILE = {"stem": 32, "filters": 44, "cells": 12}
PNASNET_5_MOBILE = {"stem": 32, "filters": 54, "cells": 9}


def reduction_layers(num_cells: int, num_reductions: int = 2) -> list[int]:
    """Cell indices where the filters double and the stride is 2 (nasnet_utils.calc_reduction_layers)."""
    return [int(i / (num_reductions + 1) * num_cells) for i in range(1, num_reductions + 1)]


# ------------------------------------------------------------------------------------------------- a cell


@dataclass(frozen=True)
class CellConf:
    """One cell of a stack: its genotype, filters F, stride, and the widths of its two inputs.

    `prev == 0`: no previous input (the first stem cell: the current input serves as state 1, unprocessed).
    `prev_reduce`: the previous input has twice the resolution (factorized reduction to F).
    """

    name: str
    genotype: Genotype
    filters: int
    stride: int
    cin: int
    prev: int
    prev_reduce: bool

    @property
    def cout(self) -> int:
        return self.filters * (len(self.genotype.used_hiddenstates) - sum(self.genotype.used_hiddenstates))

    def state_channels(self) -> list[int]:
        """Channels of states 0 and 1 (before the combinations)."""
        f = self.filters
        if self.prev == 0:
            return [f, self.cin]
        if self.prev_reduce or self.prev != f:
            return [f, f]
        return [f, self.prev]

    def prev_op(self) -> str:
        """How state 1 is made: "raw" (the current input), "reduce", "conv" (ReLU-1x1-BN) or "same"."""
        if self.prev == 0:
            return "raw"
        if self.prev_reduce:
            return "reduce"
        return "conv" if self.prev != self.filters else "same"

    def ops(self) -> list[tuple[str, int, int, int]]:
        """(operation, input state, input channels, stride) of the 10 ops, in order."""
        chans = self.state_channels() + [self.filters] * 5
        g = self.genotype
        return [(op, src, chans[src], self.stride if src < 2 else 1)
                for op, src in zip(g.operations, g.hiddenstate_indices)]

    def concat_states(self) -> list[int]:
        return [i for i, used in enumerate(self.genotype.used_hiddenstates) if not used]

    def op_needs_relu(self, op: str, cin: int, stride: int) -> bool:
        return op in SEP_KERNELS or (op == "none" and (stride > 1 or cin != self.filters))

    def layers(self, h: int, w: int, hp: int, wp: int) -> tuple[list[Layer], int, int]:
        """Layers for a current input of (h, w) and a previous one of (hp, wp); the output (h, w)."""
        n, f = self.name, self.filters
        out: list[Layer] = [eltwise_layer(f"{n}.input.relu", "relu", n, self.cin, h, w)]
        out.append(conv_layer(f"{n}.prep0", n, Conv(self.cin, f, 1, act=None), h, w))
        kind = self.prev_op()
        if kind in ("reduce", "conv"):
            out.append(eltwise_layer(f"{n}.prev.relu", "relu", n, self.prev, hp, wp))
        if kind == "reduce":
            out += factorized_reduction_layers(f"{n}.prep1", n, self.prev, f, hp, wp)
        elif kind == "conv":
            out.append(conv_layer(f"{n}.prep1", n, Conv(self.prev, f, 1, act=None), hp, wp))
        relu_done = {1} if kind == "raw" else set()
        sizes = [(h, w), (h, w) if kind != "same" else (hp, wp)]
        ops = self.ops()
        for i in range(5):
            outs = []
            for side, (op, src, cin, stride) in zip(("left", "right"), ops[2 * i: 2 * i + 2]):
                sh, sw = sizes[src]
                if self.op_needs_relu(op, cin, stride) and src not in relu_done:
                    relu_done.add(src)
                    out.append(eltwise_layer(f"{n}.state{src}.relu", "relu", n, cin, sh, sw))
                layers, oh, ow = op_layers(f"{n}.comb{i}.{side}", n, op, cin, f, stride, sh, sw)
                out += layers
                outs.append((oh, ow))
            if outs[0] != outs[1]:
                raise SpecError("resolution", f"{n}: combination {i} adds maps of {outs[0]} and {outs[1]}")
            oh, ow = outs[0]
            out.append(eltwise_layer(f"{n}.comb{i}.add", "add", n, f, oh, ow, inputs=2))
            sizes.append((oh, ow))
        ho, wo = sizes[-1]
        for s in self.concat_states():
            if sizes[s] != (ho, wo):
                raise SpecError("resolution", f"{n}: state {s} does not match the cell output")
        out.append(Layer(f"{n}.concat", "concat", n, self.cout, self.cout, ho, wo, ho, wo, mac=2 * ho * wo * self.cout))
        return out, ho, wo


def factorized_reduction_layers(name: str, block: str, cin: int, f: int, h: int, w: int) -> list[Layer]:
    """Two stride-2 paths (1x1 subsampling, the second shifted by one pixel), a 1x1 conv each to F/2, concat, BN."""
    out: list[Layer] = []
    for p, c in enumerate((f // 2, f - f // 2)):
        pool = pool_layer(f"{name}.path{p}.pool", "avgpool", block, cin, h, w, 1, 2, pad=0)
        out += [pool, conv_layer(f"{name}.path{p}.conv", block, Conv(cin, c, 1, act=None), pool.h_out, pool.w_out)]
    ho, wo = out[0].h_out, out[0].w_out
    return out + [Layer(f"{name}.concat", "concat", block, f, f, ho, wo, ho, wo, mac=2 * ho * wo * f)]


def op_layers(name: str, block: str, op: str, cin: int, f: int, stride: int, h: int, w: int
              ) -> tuple[list[Layer], int, int]:
    """Layers of one op (its input's ReLU, when needed, is the cell's)."""
    if op in SEP_KERNELS:
        k = SEP_KERNELS[op]
        out: list[Layer] = []
        c, s = cin, stride
        for j in range(2):
            if j:
                out.append(eltwise_layer(f"{name}.sep{j}.relu", "relu", block, c, h, w))
            dw = plain_conv_layer(f"{name}.sep{j}.dw", block, plain_conv(c, c, k, s, groups=c), h, w)
            h, w = dw.h_out, dw.w_out
            out += [dw, conv_layer(f"{name}.sep{j}.pw", block, Conv(c, f, 1, act=None), h, w)]
            c, s = f, 1
        return out, h, w
    if op in POOLS:
        pool = pool_layer(f"{name}.pool", POOLS[op], block, cin, h, w, 3, stride)
        out = [pool]
        if cin != f:
            out.append(conv_layer(f"{name}.conv", block, Conv(cin, f, 1, act=None), pool.h_out, pool.w_out))
        return out, pool.h_out, pool.w_out
    if op == "none":
        if stride == 1 and cin == f:
            return [], h, w
        layer = conv_layer(f"{name}.conv", block, Conv(cin, f, 1, stride, act=None), h, w)
        return [layer], layer.h_out, layer.w_out
    raise ValueError(f"unknown cell operation {op!r}")


# -------------------------------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class CellStack:
    """The cells of NASNet-A or PNASNet-5 (two stem cells included) after the stem conv; one block.

    `filters` is F of the first normal cells (doubled at each reduction; the stem cells use F/4 and F/2),
    `cells` the number of cells after the stem cells, counted as each family's reference code counts them.
    """

    name: str
    family: str
    cin: int
    filters: int
    cells: int

    def confs(self) -> list[CellConf]:
        """Every cell in order, with the widths of its inputs."""
        if self.family not in ("nasnet_a", "pnasnet_5"):
            raise SpecError("family", f"{self.family!r} has no cells")
        nasnet = self.family == "nasnet_a"
        normal = NASNET_A_NORMAL if nasnet else PNASNET_5
        reduction = NASNET_A_REDUCTION if nasnet else PNASNET_5
        outs: list[tuple[int, int]] = [(0, 0), (self.cin, 0)]  # (channels, reductions so far) of each output
        confs: list[CellConf] = []

        def add(name: str, genotype: Genotype, filters: int, stride: int) -> None:
            (pc, pr), (cc, cr) = outs[-2], outs[-1]
            conf = CellConf(name, genotype, filters, stride, cc, pc, pc != 0 and pr < cr)
            confs.append(conf)
            outs.append((conf.cout, cr + (stride == 2)))

        for i, scale in enumerate((4, 2)):  # the two stem cells, stride 2 each
            add(f"stage{i + 1}.stem_cell{i}", reduction, int(self.filters / scale), 2)
        f, stage = self.filters, 2
        reductions = reduction_layers(self.cells)
        for c in range(self.cells):
            if c in reductions:
                f, stage = 2 * f, stage + 1
                add(f"stage{stage}.reduction{reductions.index(c)}", reduction, f, 2)
                if not nasnet:
                    continue  # PNASNet: the reduction cell takes this cell's place
            add(f"stage{stage}.cell{c}", normal, f, 1)
        return confs

    @property
    def cout(self) -> int:
        return self.confs()[-1].cout

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        out: list[Layer] = []
        sizes = [(h, w), (h, w)]
        for conf in self.confs():
            (hp, wp), (hc, wc) = sizes[-2], sizes[-1]
            layers, ho, wo = conf.layers(hc, wc, hp, wp)
            out += layers
            sizes.append((ho, wo))
        return out, sizes[-1][0], sizes[-1][1]


@dataclass(frozen=True)
class ReluClassifier:
    """ReLU, global average pooling, FC (the head of NASNet / PNASNet; dropout is training only)."""

    name: str
    cin: int
    num_classes: int

    @property
    def cout(self) -> int:
        return self.num_classes

    def layers(self, h: int, w: int) -> tuple[list[Layer], int, int]:
        n = self.name
        return [eltwise_layer(f"{n}.relu", "relu", n, self.cin, h, w),
                gap_layer(f"{n}.pool", n, self.cin, h, w),
                fc_layer(f"{n}.fc", n, self.cin, self.num_classes)], 1, 1


# ---------------------------------------------------------------------------------------------- planners


def _cell_plan(spec: BaselineSpec, config: dict[str, int]) -> tuple[Block, ...]:
    filters = max(4, round(config["filters"] * spec.width_mult))
    stack = CellStack("cells", spec.family, config["stem"], filters, config["cells"])
    return (ConvBlock("stem.conv0", Conv(spec.in_channels, config["stem"], 3, 2, act=None)), stack,
            ReluClassifier("head.classifier", stack.cout, spec.num_classes))


def nasnet_a_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """NASNet-A 4 @ 1056 (NASNet-A Mobile), width_mult scaling its 1056 penultimate filters (F = 44).

    TF-slim's mobile ImageNet configuration: 3x3/2 stem conv (32) + BN, two reduction cells as stem cells
    (F/4, F/2), then 3 x 4 normal cells with a reduction cell before the second and third group (F doubled),
    ReLU, global pooling, FC; N = 4 normal cells per stage and 24 F = 1056 filters in the last cells. The
    reference model has 5.3 M parameters and 564 M multiply-adds (the paper); this plan reproduces the
    parameter count of the released network (5,289,978).
    """
    return _cell_plan(spec, NASNET_A_MOBILE)


def pnasnet_5_plan(spec: BaselineSpec) -> tuple[Block, ...]:
    """PNASNet-5 in the mobile setting (N = 3, F = 54), width_mult scaling F.

    TF-slim's pnasnet mobile ImageNet configuration: 3x3/2 stem conv (32) + BN, two PNASNet cells with stride 2
    as stem cells (F/4 = 13, F/2 = 27 filters), then 9 cells with the 4th and 7th reducing (stride 2, F doubled),
    every cell reading the previous two outputs, ReLU, global pooling, FC; each cell concatenates its five
    combinations (5 F channels). The paper reports 5.1 M parameters and 588 M multiply-adds.
    """
    return _cell_plan(spec, PNASNET_5_MOBILE)


PLANNERS = {"nasnet_a": nasnet_a_plan, "pnasnet_5": pnasnet_5_plan}

# ----------------------------------------------------------------------------------------------- modules


def _infer(m: nn.Module) -> nn.Module:
    """The inference form of a sub-module (BN folded where it has one), itself otherwise."""
    infer = getattr(m, "inference", None)
    return infer() if callable(infer) else m


class SepOp(nn.Module):
    """Two (ReLU, depthwise k x k, 1x1 conv + BN) in a row; the first ReLU is applied by the cell."""

    def __init__(self, cin: int, f: int, k: int, stride: int):
        super().__init__()
        self.dw1 = nn.Conv2d(cin, cin, k, stride, k // 2, groups=cin, bias=False)
        self.pw1: nn.Module = ConvBNAct(Conv(cin, f, 1, act=None))
        self.dw2 = nn.Conv2d(f, f, k, 1, k // 2, groups=f, bias=False)
        self.pw2: nn.Module = ConvBNAct(Conv(f, f, 1, act=None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw2(self.dw2(F.relu(self.pw1(self.dw1(x)))))

    def inference(self) -> "SepOp":
        m = SepOp.__new__(SepOp)
        nn.Module.__init__(m)
        m.dw1, m.pw1, m.dw2, m.pw2 = self.dw1, _infer(self.pw1), self.dw2, _infer(self.pw2)
        return m


class PoolOp(nn.Module):
    """3x3 max / average pooling (average without the padding), then 1x1 conv + BN when the width changes."""

    def __init__(self, kind: str, cin: int, f: int, stride: int, conv: nn.Module | None = None):
        super().__init__()
        self.pool = (nn.MaxPool2d(3, stride, 1) if kind == "maxpool"
                     else nn.AvgPool2d(3, stride, 1, count_include_pad=False))
        self.conv = (ConvBNAct(Conv(cin, f, 1, act=None)) if cin != f else nn.Identity()) if conv is None else conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))

    def inference(self) -> "PoolOp":
        m = PoolOp.__new__(PoolOp)
        nn.Module.__init__(m)
        m.pool, m.conv = self.pool, _infer(self.conv)
        return m


class FactorizedReduction(nn.Module):
    """Two 1x1 stride-2 paths (the second shifted by one pixel), each a 1x1 conv to half of F, concatenated."""

    def __init__(self, cin: int, f: int):
        super().__init__()
        self.convs = nn.ModuleList(ConvBNAct(Conv(cin, c, 1, act=None)) for c in (f // 2, f - f // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return torch.cat((self.convs[0](x[:, :, ::2, ::2]), self.convs[1](shifted[:, :, ::2, ::2])), 1)

    def inference(self) -> "FactorizedReduction":
        m = FactorizedReduction.__new__(FactorizedReduction)
        nn.Module.__init__(m)
        m.convs = nn.ModuleList(_infer(c) for c in self.convs)
        return m


def _op_module(op: str, cin: int, f: int, stride: int) -> nn.Module:
    if op in SEP_KERNELS:
        return SepOp(cin, f, SEP_KERNELS[op], stride)
    if op in POOLS:
        return PoolOp(POOLS[op], cin, f, stride)
    if stride == 1 and cin == f:
        return nn.Identity()
    return ConvBNAct(Conv(cin, f, 1, stride, act=None))


class CellModule(nn.Module):
    """One cell (training form; `inference()` folds every BN into the 1x1 convolution before it)."""

    def __init__(self, conf: CellConf, build: bool = True):
        super().__init__()
        self.conf = conf
        self.relu_src = [conf.op_needs_relu(op, cin, s) for op, _, cin, s in conf.ops()]
        if not build:
            return
        f = conf.filters
        self.prep0: nn.Module = ConvBNAct(Conv(conf.cin, f, 1, act=None))
        kind = conf.prev_op()
        self.prep1: nn.Module = (FactorizedReduction(conf.prev, f) if kind == "reduce"
                                 else ConvBNAct(Conv(conf.prev, f, 1, act=None)) if kind == "conv" else nn.Identity())
        self.ops = nn.ModuleList(_op_module(op, cin, f, s) for op, _, cin, s in conf.ops())

    def forward(self, x: torch.Tensor, x_prev: torch.Tensor | None) -> torch.Tensor:
        conf = self.conf
        rx = F.relu(x)
        states = [self.prep0(rx)]
        relus: dict[int, torch.Tensor] = {}
        kind = conf.prev_op()
        if kind == "raw":
            states.append(x)
            relus[1] = rx
        elif kind == "same":
            states.append(x_prev)
        else:
            states.append(self.prep1(F.relu(x_prev)))
        srcs = conf.genotype.hiddenstate_indices
        for i in range(5):
            h = []
            for j in (2 * i, 2 * i + 1):
                src = srcs[j]
                if self.relu_src[j]:
                    if src not in relus:
                        relus[src] = F.relu(states[src])
                    h.append(self.ops[j](relus[src]))
                else:
                    h.append(self.ops[j](states[src]))
            states.append(h[0] + h[1])
        return torch.cat([states[s] for s in conf.concat_states()], 1)

    def inference(self) -> "CellModule":
        m = CellModule(self.conf, build=False)
        m.prep0, m.prep1 = _infer(self.prep0), _infer(self.prep1)
        m.ops = nn.ModuleList(_infer(op) for op in self.ops)
        return m


class CellStackModule(nn.Module):
    """The cells of a `CellStack`, each reading the outputs of the two cells before it."""

    def __init__(self, block: CellStack, cells: nn.ModuleList | None = None):
        super().__init__()
        self.block = block
        self.cells = nn.ModuleList(CellModule(c) for c in block.confs()) if cells is None else cells

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prev: torch.Tensor | None = None
        for cell in self.cells:
            prev, x = x, cell(x, prev)
        return x

    def inference(self) -> "CellStackModule":
        return CellStackModule(self.block, nn.ModuleList(c.inference() for c in self.cells))


class ReluClassifierModule(nn.Module):
    """ReLU, global average pooling, FC (same in both forms)."""

    def __init__(self, block: ReluClassifier):
        super().__init__()
        self.fc = nn.Linear(block.cin, block.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(F.relu(x), 1), 1))

    def inference(self) -> "ReluClassifierModule":
        return self


MODULE_BUILDERS = {
    CellStack: lambda b, plain=False: CellStackModule(b),
    ReluClassifier: lambda b, plain=False: ReluClassifierModule(b),
}

__all__ = ["Genotype", "NASNET_A_NORMAL", "NASNET_A_REDUCTION", "PNASNET_5", "CellConf", "CellStack",
           "ReluClassifier", "nasnet_a_plan", "pnasnet_5_plan", "reduction_layers", "PLANNERS", "MODULE_BUILDERS"]

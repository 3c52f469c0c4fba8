"""PyTorch modules built from block plans: the training form and its inference form.

Training form: Conv + BatchNorm + activation, channel mixing by one interleaving copy. Inference form
(`to_inference`): BatchNorm folded into the convolution weights, and the paper's merged
Concat + Channel Shuffle + Channel Split: each unit writes its output once, already in the shuffled order,
and the next unit's split is a free view. `plain_shuffle=True` gives the torchvision-style
cat -> view/transpose/contiguous shuffle with the same weights (the baseline the benchmark compares to).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from search_space.blocks import Block, Classifier, ConvBlock, MaxPool, ShuffleUnit, mix_groups, mix_permutation
from search_space.layers import Conv

_ACTS: dict[str | None, Callable[[], nn.Module]] = {
    None: nn.Identity,
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
}


def make_act(act: str | None) -> nn.Module:
    try:
        return _ACTS[act]()
    except KeyError:
        raise ValueError(f"unknown activation {act!r}") from None


class ConvBNAct(nn.Module):
    """Convolution + BatchNorm + activation (training form of a `Conv`)."""

    def __init__(self, conv: Conv):
        super().__init__()
        self.plan = conv
        self.conv = nn.Conv2d(conv.cin, conv.cout, conv.kernel, conv.stride, conv.kernel // 2, groups=conv.groups,
                              bias=not conv.bn)
        self.bn = nn.BatchNorm2d(conv.cout) if conv.bn else nn.Identity()
        self.act = make_act(conv.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def inference(self) -> "FusedConv":
        return FusedConv.fold(self)


class FusedConv(nn.Module):
    """Convolution with BatchNorm folded into weight and bias, followed by its activation."""

    def __init__(self, conv: nn.Conv2d, act: nn.Module):
        super().__init__()
        self.conv = conv
        self.act = act

    @classmethod
    @torch.no_grad()
    def fold(cls, m: ConvBNAct) -> "FusedConv":
        c = m.conv
        fused = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, groups=c.groups,
                          bias=True).to(c.weight.device, c.weight.dtype)
        # Fold in float64 so the folded float32 weights carry no extra rounding of their own.
        weight = c.weight.detach().double()
        bias = c.bias.detach().double() if c.bias is not None else torch.zeros(c.out_channels, device=weight.device,
                                                                                dtype=torch.float64)
        if isinstance(m.bn, nn.BatchNorm2d):
            bn = m.bn
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            weight = weight * scale.reshape(-1, 1, 1, 1)
            bias = (bias - bn.running_mean.double()) * scale + bn.bias.double()
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
        return cls(fused, make_act(m.plan.act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


def conv_chain(convs: tuple[Conv, ...]) -> nn.Sequential:
    return nn.Sequential(*(ConvBNAct(c) for c in convs))


def infer_chain(seq: nn.Sequential) -> nn.Sequential:
    return nn.Sequential(*(m.inference() for m in seq))


class SqueezeExcite(nn.Module):
    """SE: global pool, 1x1 (bias) + ReLU, 1x1 (bias) + sigmoid, channel-wise scale. Same in both forms."""

    def __init__(self, channels: int, mid: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, mid, 1)
        self.fc2 = nn.Conv2d(mid, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s), inplace=True)))
        return x * s

    def inference(self) -> "SqueezeExcite":
        return self


def interleave(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Concat + channel shuffle in one copy: the blocked interleave of `mix_groups`.

    Works on the physical layout: for channels-last tensors (channel stride 1) the interleave is done on
    the NHWC view, so the output stays channels-last and the next unit's split is a view, not a copy.
    """
    n, ca, h, w = a.shape
    cb = b.shape[1]
    g, ra, rb = mix_groups(ca, cb)
    if a.stride(1) == 1 and b.stride(1) == 1 and h * w > 1:
        an, bn = a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)
        out = torch.cat((an.reshape(n, h, w, g, ra), bn.reshape(n, h, w, g, rb)), 4)
        return out.reshape(n, h, w, ca + cb).permute(0, 3, 1, 2)
    return torch.cat((a.reshape(n, g, ra, h, w), b.reshape(n, g, rb, h, w)), 2).reshape(n, ca + cb, h, w)


def plain_shuffle(a: torch.Tensor, b: torch.Tensor, perm: torch.Tensor | None) -> torch.Tensor:
    """torchvision-style: cat, then view/transpose/contiguous (equal halves) or a gather (unequal)."""
    x = torch.cat((a, b), 1)
    n, c, h, w = x.shape
    if perm is None:
        return x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
    return x.index_select(1, perm)


class ShuffleUnitModule(nn.Module):
    """A ShuffleNet v2 unit (training form); see `ShuffleUnit` for the structure."""

    def __init__(self, block: ShuffleUnit, plain: bool = False):
        super().__init__()
        self.block = block
        self.plain = plain
        self.main = conv_chain(block.main_branch())
        self.side = conv_chain(block.side_branch()) if block.first else None
        self.se = SqueezeExcite(block.branch_channels, block.se_channels) if block.unit.se else None
        n_a, n_b = block.mix()
        perm = None if n_a == n_b else torch.tensor(mix_permutation(n_a, n_b), dtype=torch.long)
        self.register_buffer("perm", perm, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.side is not None:
            a, b_in = self.side(x), x
        else:
            n_id = self.block.identity_channels
            a, b_in = x[:, :n_id], x[:, n_id:]
        b = self.main(b_in)
        if self.se is not None:
            b = self.se(b)
        if self.block.residual:
            b = F.relu(b + b_in)
        if self.plain:
            return plain_shuffle(a, b, self.perm)
        return interleave(a, b)

    def inference(self) -> "ShuffleUnitModule":
        m = ShuffleUnitModule.__new__(ShuffleUnitModule)
        nn.Module.__init__(m)
        m.block, m.plain = self.block, False
        m.main = infer_chain(self.main)
        m.side = infer_chain(self.side) if self.side is not None else None
        m.se = self.se
        m.register_buffer("perm", self.perm, persistent=False)
        return m


class ClassifierModule(nn.Module):
    def __init__(self, block: Classifier):
        super().__init__()
        self.fc = nn.Linear(block.cin, block.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def inference(self) -> "ClassifierModule":
        return self


class MaxPoolModule(nn.MaxPool2d):
    def __init__(self, block: MaxPool):
        super().__init__(block.kernel, block.stride, block.kernel // 2)

    def inference(self) -> "MaxPoolModule":
        return self


_BUILDERS: dict[type, Callable[..., nn.Module]] = {
    ConvBlock: lambda b, plain=False: ConvBNAct(b.conv),
    MaxPool: lambda b, plain=False: MaxPoolModule(b),
    Classifier: lambda b, plain=False: ClassifierModule(b),
    ShuffleUnit: lambda b, plain=False: ShuffleUnitModule(b, plain),
}


def _builder(block_type: type) -> Callable[..., nn.Module] | None:
    """The module builder of a block type; baseline and micro-benchmark blocks keep theirs beside them."""
    if block_type in _BUILDERS:
        return _BUILDERS[block_type]
    from search_space import baselines, microbench  # imported here: both import this module

    return {**baselines.module_builders(), **microbench.MODULE_BUILDERS}.get(block_type)


def block_module(block: Block, plain: bool = False) -> nn.Module:
    builder = _builder(type(block))
    if builder is None:
        raise TypeError(f"no module for block type {type(block).__name__}")
    return builder(block, plain=plain)


class Network(nn.Sequential):
    """A network as the sequence of its block modules; `spec` and `blocks` say what it is."""

    def __init__(self, spec, blocks: tuple[Block, ...], modules: list[nn.Module], form: str):
        super().__init__(*modules)
        self.spec = spec
        self.blocks = blocks
        self.form = form


def init_weights(model: nn.Module) -> None:
    """Kaiming (fan-out) for convolutions, unit BN, small normal for the classifier; in place."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def assemble(spec, blocks: tuple[Block, ...], plain: bool = False) -> Network:
    net = Network(spec, blocks, [block_module(b, plain) for b in blocks], "plain" if plain else "train")
    if not any(p.is_meta for p in net.parameters()):  # meta tensors hold no values to initialise
        init_weights(net)
    return net


@torch.no_grad()
def to_inference(model: Network, channels_last: bool = True) -> Network:
    """Inference form of a network: BN folded, merged concat/shuffle/split; same outputs in eval mode.

    `channels_last` stores the weights NHWC so that activations flow channels-last (the layout CPU
    depthwise/pooling kernels and the merged interleave are fastest in); inputs may stay NCHW.
    """
    mods = [m.inference() for m in model]
    out = Network(model.spec, model.blocks, mods, "inference")
    if channels_last:
        out = out.to(memory_format=torch.channels_last)
    return out.eval()

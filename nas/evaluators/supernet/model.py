"""The single-path one-shot supernet (Guo et al. 2019): every member of a SearchSpace as a path through shared weights.

Layout, at the proxy task's input (the same stem / body / head as `build_proxy_model` gives for a member):

- the stem convolutions (fixed by the space) and, at large proxy inputs, its max-pool;
- for every unit position of every stage (up to the stage's largest depth) one `UnitBlock` holding every choice of
  that unit in shared weights: the main-branch layers of all variants and kernels by `slot` (the layers reading the
  unit's input, 'in-dw' / 'in-pw', shared by all variants; the others by their kind and distance from the branch
  output: the last pointwise layer of v2, v2* and the Xception-like unit is one layer, the depthwise layer before it
  another, ...), each at the widest shape and the largest kernel (a smaller kernel is the centre of it, the
  super-kernel of Single-Path NAS / Once-for-All), the side branch of a first unit, SE (used only by paths with SE on);
- the head 1x1 convolution at the largest head width and the classifier over it.

A path (a member `ArchSpec` of the space) runs, per unit, the layers of its variant and kernel. A layer's output
channels are slices: a convolution of cout outputs uses the first cout rows of the widest weights and the first cout
entries of its BatchNorm (affine and running statistics); depth skips the trailing unit positions of a stage. A layer
that reads a unit's input (and the head) takes the weight of each input channel by the channel's *id*, what made it
(`Supernet.path_ids`), not by its position: the split, the channel mixing and the next split put a channel at a
position that depends on every width and split ratio before it, so positional slices would hand one weight a
different channel on every path. The route through the blocks is the project's own block plan
(`search_space.plan.plan` of `proxy_spec(member, task)`), and the unit's split / channel mixing is the builder's
(`search_space.modules.interleave`), so `extract(member)` -- a stand-alone network of `build_proxy_model` with the
path's weights copied in -- computes what the path computes (tested).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, replace
from typing import Any, Iterator, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from search_space.errors import UserError
from search_space.blocks import Block, Classifier, ConvBlock, MaxPool, ShuffleUnit, mix_permutation
from search_space.layers import Conv
from search_space.modules import Network, interleave
from search_space.plan import plan
from search_space.space import ParamError, SearchSpace, StageRange
from search_space.spec import ArchSpec, SpecError, UnitSpec

from nas.data.proxy import ProxyTask
from nas.evaluators.proxy_net import build_proxy_model, proxy_spec


class SupernetError(UserError, ValueError):
    """A path the supernet cannot take (an architecture outside its space), or a supernet that cannot be built."""


# ------------------------------------------------------------------------------------------------ space records
def space_to_dict(space: SearchSpace) -> dict[str, Any]:
    """JSON-ready record of a SearchSpace (tuples as lists)."""
    return asdict(space)


def space_from_dict(d: Mapping[str, Any]) -> SearchSpace:
    """Inverse of space_to_dict; ValueError on a damaged record."""
    try:
        kw = dict(d)
        kw["stages"] = tuple(StageRange(**s) for s in d["stages"])
        for key in ("kernels", "variants", "split_ratios", "se", "residual", "head_widths", "resolutions", "stem"):
            kw[key] = tuple(d[key])
        return SearchSpace(**kw)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"damaged search-space record ({type(exc).__name__}: {exc})") from None


# ------------------------------------------------------------------------------------------------ sliced layers
_ACT = {None: lambda x: x, "relu": lambda x: F.relu(x, inplace=True), "relu6": lambda x: F.relu6(x, inplace=True)}


class SlicedConvBN(nn.Module):
    """A convolution (+ BatchNorm) at its widest shape (cout_max, cin_max): `forward(x, conv)` runs plan conv
    `conv` (cin -> cout, groups 1 or depthwise) on the first channels of the weights and of the BatchNorm."""

    def __init__(self, cin_max: int, cout_max: int, kernel: int, depthwise: bool, bn: bool = True):
        super().__init__()
        self.depthwise, self.kernel = depthwise, kernel
        self.cin_max, self.cout_max = cin_max, cout_max
        self.weight = nn.Parameter(torch.empty(cout_max, 1 if depthwise else cin_max, kernel, kernel))
        self.bn = nn.BatchNorm2d(cout_max) if bn else None
        self.bias = None if bn else nn.Parameter(torch.zeros(cout_max))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def sliced(self, conv: Conv, index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The stand-alone ConvBNAct state of `conv` (keys 'conv.weight', 'bn.*' or 'conv.bias'); `index`: see
        `conv_weight`."""
        rows = self._rows(conv, index)
        out = {"conv.weight": self.conv_weight(conv, index)}
        if self.bn is not None:
            bn = self.bn
            out.update({"bn.weight": rows(bn.weight), "bn.bias": rows(bn.bias),
                        "bn.running_mean": rows(bn.running_mean), "bn.running_var": rows(bn.running_var),
                        "bn.num_batches_tracked": bn.num_batches_tracked})
        else:
            out["conv.bias"] = rows(self.bias)  # type: ignore[arg-type]
        return out

    def _rows(self, conv: Conv, index: torch.Tensor | None):  # noqa: ANN202 - a slicing function
        """The output channels of `conv` in a per-channel tensor: the first cout, or, for a depthwise layer reading
        channels by `index`, those channels."""
        if index is not None and self.depthwise:
            return lambda t: t.index_select(0, index)
        c = conv.cout
        return lambda t: t[:c]

    def conv_weight(self, conv: Conv, index: torch.Tensor | None = None) -> torch.Tensor:
        """The weight of plan conv `conv`: its first output (and input) channels, and for a kernel smaller than the
        layer's the centre of the widest kernel (a shared super-kernel: 3x3 is the middle of 5x5, of 7x7).

        `index` (a layer that reads a unit's input): the weight rows (depthwise) or columns (pointwise) of the
        input's channels by their provenance id (see `Supernet.path_ids`) instead of the first ones."""
        c = conv.cout
        if index is None:
            w = self.weight[:c] if self.depthwise else self.weight[:c, :conv.cin]
        else:
            w = self.weight.index_select(0, index) if self.depthwise else self.weight[:c].index_select(1, index)
        if conv.kernel != self.kernel:
            off = (self.kernel - conv.kernel) // 2
            w = w[:, :, off:off + conv.kernel, off:off + conv.kernel]
        return w

    def forward(self, x: torch.Tensor, conv: Conv, index: torch.Tensor | None = None  # type: ignore[override]
                ) -> torch.Tensor:
        rows = self._rows(conv, index)
        w = self.conv_weight(conv, index)
        bias = None if self.bias is None else rows(self.bias)
        y = F.conv2d(x, w, bias, conv.stride, conv.kernel // 2, 1, conv.groups)
        bn = self.bn
        if bn is not None:
            momentum = 0.0 if bn.momentum is None else bn.momentum
            if self.training:
                bn.num_batches_tracked.add_(1)
                if bn.momentum is None:
                    momentum = 1.0 / float(bn.num_batches_tracked)
            gathered = index is not None and self.depthwise
            # first channels: running_mean[:c] / running_var[:c] are views, the training update lands in the widest
            # buffers; channels by index are gathered copies, written back after the update
            mean, var = rows(bn.running_mean), rows(bn.running_var)
            y = F.batch_norm(y, mean, var, rows(bn.weight), rows(bn.bias), self.training, momentum, bn.eps)
            if gathered and self.training:
                with torch.no_grad():
                    bn.running_mean.index_copy_(0, index, mean)  # type: ignore[arg-type]
                    bn.running_var.index_copy_(0, index, var)  # type: ignore[arg-type]
        return _ACT[conv.act](y)

    def extra_repr(self) -> str:
        kind = "dw" if self.depthwise else "conv"
        return f"{kind} {self.kernel}x{self.kernel}, {self.cin_max} -> {self.cout_max} at most"


class SlicedSE(nn.Module):
    """Squeeze-and-excitation at its widest shape; `forward(x, channels, mid)` uses the first channels / mid units."""

    def __init__(self, channels_max: int, mid_max: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels_max, mid_max, 1)
        self.fc2 = nn.Conv2d(mid_max, channels_max, 1)
        for fc in (self.fc1, self.fc2):
            nn.init.kaiming_normal_(fc.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(fc.bias)

    def sliced(self, channels: int, mid: int) -> dict[str, torch.Tensor]:
        return {"fc1.weight": self.fc1.weight[:mid, :channels], "fc1.bias": self.fc1.bias[:mid],
                "fc2.weight": self.fc2.weight[:channels, :mid], "fc2.bias": self.fc2.bias[:channels]}

    def forward(self, x: torch.Tensor, channels: int, mid: int) -> torch.Tensor:  # type: ignore[override]
        p = self.sliced(channels, mid)
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.relu(F.conv2d(s, p["fc1.weight"], p["fc1.bias"]), inplace=True)
        return x * torch.sigmoid(F.conv2d(s, p["fc2.weight"], p["fc2.bias"]))


def _widest(convs: list[tuple[Conv, ...]]) -> list[SlicedConvBN]:
    """One sliced layer per position of a conv chain, as wide as the widest conv at that position."""
    layers = []
    for at in zip(*convs):
        first = at[0]
        layers.append(SlicedConvBN(max(c.cin for c in at), max(c.cout for c in at), max(c.kernel for c in at),
                                   first.groups > 1, first.bn))
    return layers


def reads_input(convs: tuple[Conv, ...]) -> int:
    """How many leading convs of a branch read the unit's input channels: up to and including the first pointwise
    one (a depthwise layer before it keeps the input's channels)."""
    return next(j for j, conv in enumerate(convs) if conv.groups == 1) + 1


def slot(conv: Conv, j: int, n: int, n_in: int = 0) -> str:
    """Where a conv of a unit's main branch keeps its weights. The layers that read the unit's input (the first
    `n_in`) are 'in-dw' / 'in-pw', shared by every variant; the others by their kind and their distance from the
    branch's output (conv j of n): 'pw0' is the last pointwise layer of every variant, 'dw1' the depthwise layer
    before it, etc."""
    kind = "dw" if conv.groups > 1 else "pw"
    return f"in-{kind}" if j < n_in else f"{kind}{n - 1 - j}"


def _named(ids: torch.Tensor | None, channels: int) -> torch.Tensor:
    """The ids of a unit's `channels` input channels (None: the first ones)."""
    return torch.arange(channels) if ids is None else ids


@functools.lru_cache(maxsize=4096)
def _mix_index(n_a: int, n_b: int) -> torch.Tensor:
    return torch.tensor(mix_permutation(n_a, n_b), dtype=torch.long)


class UnitBlock(nn.Module):
    """Every choice of one unit position in shared weights: main-branch layers by `slot` (all variants and kernels),
    the side branch (first unit), SE, each at its widest shape and largest kernel.

    The layers that read the unit's input (the side branch, and the main branch up to its first pointwise layer)
    hold one weight row / column per channel id that can reach the unit (`in_ids` of them, see
    `Supernet.path_ids`); the unit's own outputs get the ids `out_base + k` (a first unit's side branch `k`, its
    main branch `width + k`).
    """

    def __init__(self, widest: list[ShuffleUnit], in_ids: int, out_base: int, se: bool = True):
        super().__init__()
        first = widest[0].first
        self.in_ids, self.out_base, self.width = in_ids, out_base, widest[0].cout_
        by_slot: dict[str, list[Conv]] = {}
        for b in widest:
            convs = b.main_branch()
            n_in = reads_input(convs)
            for j, conv in enumerate(convs):
                if j < n_in:  # reads the input: one row (depthwise) / column (pointwise) per input id
                    conv = replace(conv, cin=in_ids, cout=in_ids, groups=in_ids) if conv.groups > 1 else \
                        replace(conv, cin=in_ids)
                by_slot.setdefault(slot(conv, j, len(convs), n_in), []).append(conv)
        self.main = nn.ModuleDict({k: _widest([(c,) for c in v])[0] for k, v in sorted(by_slot.items())})
        if first:
            side = [(replace(dw, cin=in_ids, cout=in_ids, groups=in_ids), replace(pw, cin=in_ids))
                    for dw, pw in (b.side_branch() for b in widest)]
            self.side = nn.ModuleList(_widest(side))
        else:
            self.side = None
        self.se = SlicedSE(max(b.branch_channels for b in widest), max(b.se_channels for b in widest)) if se else None

    def main_layers(self, block: ShuffleUnit) -> list[tuple[SlicedConvBN, Conv]]:
        """(shared layer, plan conv) for each conv of the main branch of `block`, in order."""
        convs = block.main_branch()
        n_in = reads_input(convs)
        return [(self.main[slot(conv, j, len(convs), n_in)], conv)  # type: ignore[misc]
                for j, conv in enumerate(convs)]

    def layer_indexes(self, block: ShuffleUnit, ids: torch.Tensor | None
                      ) -> tuple[list[torch.Tensor | None], list[torch.Tensor | None]]:
        """The `index` of each main-branch and side-branch layer of `block` for input channel ids `ids` (None: the
        input's channels are the first ids, a stage's stem)."""
        convs = block.main_branch()
        n_in = reads_input(convs)
        read = ids if block.first else _named(ids, block.cin)[block.identity_channels:]
        main = [read if j < n_in else None for j in range(len(convs))]
        return main, [ids] * len(block.side_branch())

    def out_ids(self, block: ShuffleUnit, ids: torch.Tensor | None) -> torch.Tensor:
        """The ids of the unit's output channels, in the order of its output (the mixing of `block.mix()`)."""
        n_a, n_b = block.mix()
        if block.first:
            a = torch.arange(self.out_base, self.out_base + n_a)
            b = torch.arange(self.out_base + self.width, self.out_base + self.width + n_b)
        else:
            a = _named(ids, block.cin)[:n_a]
            b = torch.arange(self.out_base, self.out_base + n_b)
        return torch.cat((a, b)).index_select(0, _mix_index(n_a, n_b))

    def forward(self, x: torch.Tensor, block: ShuffleUnit, ids: torch.Tensor | None = None  # type: ignore[override]
                ) -> torch.Tensor:
        """The unit `block` (a plan block of this position) on x whose channels have ids `ids`; mirrors
        ShuffleUnitModule.forward."""
        main_index, side_index = self.layer_indexes(block, ids)
        if self.side is not None:
            a = x
            for layer, conv, index in zip(self.side, block.side_branch(), side_index):
                a = layer(a, conv, index)
            b_in = x
        else:
            n_id = block.identity_channels
            a, b_in = x[:, :n_id], x[:, n_id:]
        b = b_in
        for (layer, conv), index in zip(self.main_layers(block), main_index):
            b = layer(b, conv, index)
        if block.unit.se:
            b = self.se(b, block.branch_channels, block.se_channels)  # type: ignore[misc]
        if block.residual:
            b = F.relu(b + b_in)
        return interleave(a, b)


class SlicedLinear(nn.Module):
    """The classifier at its widest input; `forward(x, cin, index)` uses the first cin inputs, or those of `index`."""

    def __init__(self, cin_max: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(cin_max, num_classes)
        nn.init.normal_(self.fc.weight, 0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def weight(self, cin: int, index: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc.weight[:, :cin] if index is None else self.fc.weight.index_select(1, index)

    def forward(self, x: torch.Tensor, cin: int, index: torch.Tensor | None = None  # type: ignore[override]
                ) -> torch.Tensor:
        return F.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), self.weight(cin, index), self.fc.bias)


# ------------------------------------------------------------------------------------------------ the supernet
class Supernet(nn.Module):
    """Single-path one-shot supernet over `space` at the proxy input of `task`; see the module docstring.

    `forward(x, member)` runs the path of `member` (an ArchSpec of the space, at any deployment resolution / class
    count: the proxy network's input and classes are the task's) on x (B, task.channels, res, res) -> (B, classes).
    """

    def __init__(self, space: SearchSpace, task: ProxyTask, seed: int = 0):
        super().__init__()
        self.space, self.task = space, task
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self._build()

    def _build(self) -> None:
        space, task = self.space, self.task
        widest = proxy_spec(widest_member(space), task)
        self.stem_stride, self.stem_pool = widest.stem_stride, widest.stem_pool
        blocks = plan(widest)
        stem = [b.conv for b in blocks if isinstance(b, ConvBlock) and b.name.startswith("stem.")]
        self.stem = nn.ModuleList(_widest([tuple(stem)]))
        cin = space.stem[-1]
        ids = cin  # ids that can reach the next unit: the stem's channels, then each stage's (see path_ids)
        stages = nn.ModuleList()
        for s, rng_s in enumerate(space.stages):
            positions = nn.ModuleList()
            w = rng_s.width_high
            for u in range(rng_s.depth_high):
                units = [ShuffleUnit(f"stage{s + 2}.unit{u}", cin if u == 0 else w, w, rng_s.stride if u == 0 else 1,
                                     UnitSpec(kernel, variant, ratio, se=True), u == 0)
                         for variant in space.variants for kernel in space.kernels for ratio in space.split_ratios]
                # unit 0 makes ids [0, 2w) (side, main), unit u > 0 [(u + 1) w, (u + 2) w)
                positions.append(UnitBlock(units, ids if u == 0 else (u + 1) * w, 0 if u == 0 else (u + 1) * w,
                                           se=True in space.se))
            stages.append(positions)
            cin, ids = w, (rng_s.depth_high + 1) * w
        self.stages = stages
        head = max(space.head_widths)
        self.head = SlicedConvBN(ids, head, 1, False) if head else None
        self.classifier = SlicedLinear(max([ids] + [h for h in space.head_widths if h]), task.num_classes)

    # ------------------------------------------------------------------------------------------- paths
    def member(self, spec: ArchSpec) -> ArchSpec:
        """The proxy network of `spec` (the path's route), after checking that its body is in the space.

        The deployment resolution, class count and input channels are free (the proxy replaces them); every other
        field must be a member of the space. SupernetError names the first field that is not.
        """
        if not isinstance(spec, ArchSpec):
            raise SupernetError(f"the supernet holds ShuffleNet-V2-style networks, not {type(spec).__name__}")
        sp = replace(self.space, resolutions=(spec.resolution,), num_classes=spec.num_classes,
                     in_channels=spec.in_channels)
        try:
            sp.to_params(spec)
        except (ParamError, SpecError) as exc:
            raise SupernetError(f"architecture {spec.label()} is outside the supernet's search space "
                                f"({self.space.name}): {exc}") from None
        proxy = proxy_spec(spec, self.task)
        if (proxy.stem_stride, proxy.stem_pool) != (self.stem_stride, self.stem_pool):
            raise SupernetError(f"architecture {spec.label()} has a stem the supernet does not hold")
        return proxy

    def route(self, proxy: ArchSpec) -> Iterator[tuple[nn.Module, Block]]:
        """(supernet module, plan block) pairs of a proxy spec's path, in the plan's order."""
        blocks = iter(plan(proxy))
        for layer, _ in zip(self.stem, proxy.stem):
            yield layer, next(blocks)
        if proxy.stem_pool:
            yield nn.Identity(), next(blocks)
        for stage, st in zip(self.stages, proxy.stages):
            for position, unit in zip(stage, st.units):
                yield position, next(blocks)
        if proxy.head_width:
            yield self.head, next(blocks)  # type: ignore[misc]
        yield self.classifier, next(blocks)

    def forward(self, x: torch.Tensor, member: ArchSpec) -> torch.Tensor:  # type: ignore[override]
        return self.run(x, self.member(member))

    def path_ids(self, proxy: ArchSpec) -> list[torch.Tensor | None]:
        """The ids of the input channels of each module of the path (`route` order; None: the first channels).

        Why ids: a unit's split, its channel mixing and the next unit's split move a channel to a position that
        depends on the widths and split ratios of the path, so slicing the first input channels would give one
        weight a different input channel on every path. Each channel gets the id of what made it instead (the stem's
        k-th channel: k; in a stage of widest width w, the side branch of unit 0: k, its main branch: w + k, the main
        branch of unit u > 0: (u + 1) w + k; an identity channel keeps its id), and the layers that read a unit's
        input, the head and (without a head) the classifier take the weight row / column of each channel's id. A
        layer's own output channels stay the first rows of its weights (the slices of the widest weights)."""
        out: list[torch.Tensor | None] = []
        ids: torch.Tensor | None = None
        for module, block in self.route(proxy):
            out.append(ids)
            if isinstance(block, ShuffleUnit):
                ids = module.out_ids(block, ids)  # type: ignore[operator]
            elif isinstance(block, ConvBlock):
                ids = None
        return out

    def run(self, x: torch.Tensor, proxy: ArchSpec) -> torch.Tensor:
        """The path of a proxy spec already checked by `member` on x."""
        for (module, block), ids in zip(self.route(proxy), self.path_ids(proxy)):
            if isinstance(block, ShuffleUnit):
                x = module(x, block, ids)
            elif isinstance(block, ConvBlock):
                x = module(x, block.conv, ids)
            elif isinstance(block, MaxPool):
                x = F.max_pool2d(x, block.kernel, block.stride, block.kernel // 2)
            elif isinstance(block, Classifier):
                x = module(x, block.cin, ids)
            else:  # pragma: no cover - the ShuffleNet plan has no other block types
                raise SupernetError(f"no supernet layer for block {block.name}")
        return x

    # ------------------------------------------------------------------------------------------- sub-networks
    def subnet_state_dict(self, member: ArchSpec) -> dict[str, torch.Tensor]:
        """The state dict of the stand-alone proxy network of `member` (build_proxy_model's keys), as copies of the
        supernet slices."""
        out: dict[str, torch.Tensor] = {}
        proxy = self.member(member)
        for i, ((module, block), ids) in enumerate(zip(self.route(proxy), self.path_ids(proxy))):
            if isinstance(block, ConvBlock):
                part = {f"{i}.{k}": v for k, v in module.sliced(block.conv, ids).items()}
            elif isinstance(block, ShuffleUnit):
                part = {}
                main_index, side_index = module.layer_indexes(block, ids)
                side = list(zip(module.side or (), block.side_branch()))
                for branch, pairs, indexes in (("main", module.main_layers(block), main_index),
                                               ("side", side, side_index)):
                    for j, ((layer, conv), index) in enumerate(zip(pairs, indexes)):
                        part.update({f"{i}.{branch}.{j}.{k}": v for k, v in layer.sliced(conv, index).items()})
                if block.unit.se:
                    se = module.se.sliced(block.branch_channels, block.se_channels)
                    part.update({f"{i}.se.{k}": v for k, v in se.items()})
            elif isinstance(block, Classifier):
                part = {f"{i}.fc.weight": module.weight(block.cin, ids), f"{i}.fc.bias": module.fc.bias}
            else:
                part = {}
            out.update({k: v.detach().clone() for k, v in part.items()})
        return out

    def extract(self, member: ArchSpec, channels_last: bool = False) -> Network:
        """The stand-alone proxy network of `member` (build_proxy_model, training form) with the path's weights and
        BatchNorm statistics copied in; in the supernet's train/eval mode."""
        net = build_proxy_model(member, self.task, seed=0, channels_last=False)
        net.load_state_dict(self.subnet_state_dict(member), strict=True)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        return net.train(self.training)

    def params_m(self) -> float:
        return sum(p.numel() for p in self.parameters()) / 1e6


def widest_member(space: SearchSpace) -> ArchSpec:
    """The member of `space` with every stage at its widest and deepest, the largest split ratio and head (tests)."""
    return space.build(lambda d: d.values()[-1])


__all__ = ["SlicedConvBN", "SlicedLinear", "SlicedSE", "Supernet", "SupernetError", "UnitBlock", "slot",
           "space_from_dict", "space_to_dict", "widest_member"]

# Why everything is shared (measured with a width-fixed, split-1/2 sub-space, 300 steps of 64 at 32 px, training
# accuracy of the sampled paths over the last 100 steps): one kernel 0.68, three kernels with weights of their own
# 0.28, with one super-kernel 0.68; two variants with weights of their own 0.17 (each alone 0.56 at 200 steps).
# Separate weights per choice give each choice's output channels a meaning of their own, so the next unit sees a
# different input on every path and the supernet barely learns (0.157 after 2000 steps over the default space).

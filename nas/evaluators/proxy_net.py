"""The proxy network: the deployment spec's body (stages, units, head, stem widths) at the proxy task's input.

Latency is always taken for the deployment input (the ArchSpec's own resolution and classes); accuracy is
estimated on the proxy task (nas/data/proxy.py: images resized to `task.resolution`, `task.channels` channels,
`task.num_classes` classes). The network that is actually trained is `proxy_spec(spec, task)`: the same stages,
units, head width and stem widths, with the input fields of the task and, for small proxy inputs, less
down-sampling in the stem (never more than the deployment stem has).

The stem rule (`MIN_PROXY_FINAL_PX`): the stem keeps the largest of the deployment stem's own reduction
(stride 2 + max-pool = 4), stride 2 alone (2) and stride 1 (1) that lets the last stage still see at least
`MIN_PROXY_FINAL_PX` x `MIN_PROXY_FINAL_PX` pixels. With the usual three stride-2 stages this gives

    proxy resolution  stem                 stem out -> stages   last stage
    32                stride 1, no pool    32 -> 16 / 8 / 4     4x4   (CIFAR-style ShuffleNet)
    64                stride 2, no pool    32 -> 16 / 8 / 4     4x4
    128               spec's (2 + pool)    32 -> 16 / 8 / 4     4x4
    224               spec's (2 + pool)    56 -> 28 / 14 / 7    7x7   (the deployment network itself)

so the body always runs at spatial sizes where its choices still act: a 5x5 or 7x7 depthwise kernel differs
from a 3x3 one only on maps larger than 3x3, and the deployment body's last stage is 7x7. At 32 px the deployment
x4 stem would end the body at 1x1 and a x2 stem at 2x2 (kernel choices nearly void in the last stages); the
stride-1 stem costs more (x2 stem: 3.4x fewer FLOPs, ~2.5x less time per image measured) but keeps the comparison
meaningful, and a 64 px proxy costs about the same as a 32 px one (only the stem conv runs at 64). Measured
alternative: the x2 stem at 32 px with 3x the images per trial (same time) reached higher accuracies but ranked 7
networks less consistently across two seeds (Kendall tau 0.19 against 0.48). Trial times: nas/evaluators/training.py.

Hand-designed networks of the other families (BaselineSpec: MobileNet, ShuffleNet v1, Xception, DenseNet, IGC,
CondenseNet, NASNet-A, PNASNet-5) get the same rule on their plan, so a study can score them beside the candidates
(its references): every family's plan starts with its stem convolution `stem.conv0` (stride 2), some with a 3x3/2
max-pool `stem.pool`; the proxy drops the pool, then the stride, while the last stage would see fewer than
`MIN_PROXY_FINAL_PX` pixels. Everything after the stem is the family's own (NASNet-A / PNASNet-5 keep their
reduction cells, so at 32 px their last cells see 2x2 maps even with a stride-1 stem: the least down-sampling the
rule allows). Their spec keeps the deployment input; the proxy plan is built by `proxy_plan`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from search_space.blocks import Block, ConvBlock, MaxPool
from search_space.build import build_model
from search_space.layers import conv_out
from search_space.modules import Network
from search_space.plan import plan
from search_space.spec import ArchSpec, BaselineSpec, NetSpec

from nas.data.proxy import ProxyTask

#: Smallest side (px) of the last stage's feature map that the proxy stem aims to keep: the stem gives up
#: down-sampling (stride-2 + pool -> stride 2 -> stride 1) until the last stage sees at least this many pixels.
#: 4 keeps 3/5/7 depthwise kernels distinguishable in every stage but the last, at an affordable CPU cost.
MIN_PROXY_FINAL_PX = 4

#: Stem (first conv stride, max-pool) forms from the most to the least down-sampling; reduction = stride x (2 if pool).
_STEM_FORMS = ((2, True), (2, False), (1, False))


def stem_reduction(stride: int, pool: bool) -> int:
    """Spatial down-sampling factor of a stem: first-conv stride times 2 with the 3x3/2 max-pool."""
    return stride * (2 if pool else 1)


def final_feature_px(spec: ArchSpec) -> int:
    """Side (px) of the feature map the last stage outputs for the spec's own resolution (PyTorch arithmetic)."""
    size = conv_out(spec.resolution, 3, spec.stem_stride)
    if spec.stem_pool:
        size = conv_out(size, 3, 2)
    for stage in spec.stages:
        size = conv_out(size, 3, stage.stride)  # odd kernels with padding k // 2: ceil(size / stride) for all k
    return size


def stem_rule(own: tuple[int, bool], final_px: Callable[[int, bool], int]) -> tuple[int, bool]:
    """The rule of `MIN_PROXY_FINAL_PX` for any network: of the stem (stride, pool) forms that down-sample no more
    than `own`, the most down-sampling one whose last stage still sees that many pixels (`final_px(stride, pool)`),
    else the least down-sampling one (a tiny input)."""
    forms = [own] + [f for f in _STEM_FORMS if stem_reduction(*f) < stem_reduction(*own)]
    return next((f for f in forms if final_px(*f) >= MIN_PROXY_FINAL_PX), forms[-1])


def proxy_stem(spec: ArchSpec, resolution: int) -> tuple[int, bool]:
    """(stem_stride, stem_pool) of the proxy network at `resolution`: the rule of `MIN_PROXY_FINAL_PX`."""
    return stem_rule((spec.stem_stride, spec.stem_pool), lambda stride, pool: final_feature_px(
        replace(spec, resolution=resolution, stem_stride=stride, stem_pool=pool)))


def proxy_spec(spec: ArchSpec, task: ProxyTask) -> ArchSpec:
    """The network trained on the proxy task: `spec`'s body with the task's resolution, classes and channels.

    Only `resolution`, `num_classes`, `in_channels`, `stem_stride` and `stem_pool` change (the stem as the module
    docstring's rule says); stages, units, head width, stem widths and name are kept. Raises SpecError when the task's
    resolution is below what an ArchSpec allows (16 px).
    """
    if not isinstance(spec, ArchSpec):
        raise TypeError(f"proxy_spec needs a ShuffleNet-V2-style ArchSpec, got {type(spec).__name__}")
    sized = replace(spec, resolution=task.resolution, num_classes=task.num_classes, in_channels=task.channels)
    stride, pool = proxy_stem(sized, task.resolution)
    return replace(sized, stem_stride=stride, stem_pool=pool)


#: Every family's plan names its classifier block so (the walk to the last feature map stops there).
CLASSIFIER_BLOCK = "head.classifier"


def plan_final_px(blocks: tuple[Block, ...], resolution: int) -> int:
    """Side (px) of the feature map that reaches the classifier, for a square input."""
    h = w = resolution
    for block in blocks:
        if block.name == CLASSIFIER_BLOCK:
            break
        _, h, w = block.layers(h, w)
    return min(h, w)


def _stem_stride(block: Block) -> int:
    """The stride of a plan's stem convolution (a ConvBlock, or CondenseNet's BatchNorm-free PlainConv)."""
    return block.conv.stride if isinstance(block, ConvBlock) else block.stride  # type: ignore[attr-defined]


def plan_stem(blocks: tuple[Block, ...]) -> tuple[int, bool]:
    """(stride of the stem convolution, whether the stem max-pool follows) of a plan."""
    if blocks[0].name != "stem.conv0":
        raise ValueError(f"the plan does not start with its stem convolution (first block {blocks[0].name!r})")
    return _stem_stride(blocks[0]), any(isinstance(b, MaxPool) and b.name == "stem.pool" for b in blocks)


def with_plan_stem(blocks: tuple[Block, ...], stride: int, pool: bool) -> tuple[Block, ...]:
    """The plan with its stem convolution at `stride` and without the stem max-pool unless `pool`."""
    first = blocks[0]
    first = (replace(first, conv=replace(first.conv, stride=stride)) if isinstance(first, ConvBlock)
             else replace(first, stride=stride))  # type: ignore[type-var]
    return (first,) + tuple(b for b in blocks[1:] if pool or not (isinstance(b, MaxPool) and b.name == "stem.pool"))


def proxy_plan(spec: NetSpec, task: ProxyTask) -> tuple[NetSpec, tuple[Block, ...]]:
    """The proxy network of any registered family: (its spec at the task's input, its plan).

    ShuffleNet-V2-style specs: `proxy_spec` and its plan. Other families: the spec with the task's resolution,
    classes and channels, and its plan with the stem of the module docstring's rule (the deployment stem's
    reduction, then less, until the last stage sees `MIN_PROXY_FINAL_PX` px; else the least down-sampling).
    """
    if isinstance(spec, ArchSpec):
        proxy = proxy_spec(spec, task)
        return proxy, plan(proxy)
    if not isinstance(spec, BaselineSpec):
        raise TypeError(f"no proxy network for {type(spec).__name__}")
    sized = replace(spec, resolution=task.resolution, num_classes=task.num_classes, in_channels=task.channels)
    blocks = plan(sized)
    form = stem_rule(plan_stem(blocks), lambda stride, pool: plan_final_px(with_plan_stem(blocks, stride, pool),
                                                                           task.resolution))
    return sized, with_plan_stem(blocks, *form)


def build_proxy_model(spec: NetSpec, task: ProxyTask, seed: int, channels_last: bool = True) -> Network:
    """The proxy network of `spec` in training form, seeded initial weights, optionally channels-last (CPU-fast)."""
    proxy, blocks = proxy_plan(spec, task)
    net = build_model(proxy, form="train", seed=seed, blocks=blocks)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net

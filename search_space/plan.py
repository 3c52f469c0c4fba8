"""Network plans: a spec turned into its sequence of blocks (the single source of shapes)."""

from __future__ import annotations

from search_space.blocks import Block, Classifier, ConvBlock, MaxPool, ShuffleUnit
from search_space.layers import Conv
from search_space.spec import ArchSpec, BaselineSpec, NetSpec


def shufflenet_v2_plan(spec: ArchSpec) -> tuple[Block, ...]:
    """Blocks of a ShuffleNet-V2-style network (Table 5 layout: stem, stages 2.., head conv, classifier)."""
    blocks: list[Block] = []
    c = spec.in_channels
    for i, width in enumerate(spec.stem):
        blocks.append(ConvBlock(f"stem.conv{i}", Conv(c, width, 3, spec.stem_stride if i == 0 else 1)))
        c = width
    if spec.stem_pool:
        blocks.append(MaxPool("stem.pool", c))
    for s, stage in enumerate(spec.stages):
        for u, unit in enumerate(stage.units):
            first = u == 0
            blocks.append(ShuffleUnit(f"stage{s + 2}.unit{u}", c, stage.width, stage.stride if first else 1, unit, first))
            c = stage.width
    if spec.head_width:
        blocks.append(ConvBlock("head.conv", Conv(c, spec.head_width, 1)))
        c = spec.head_width
    blocks.append(Classifier("head.classifier", c, spec.num_classes))
    return tuple(blocks)


def plan(spec: NetSpec) -> tuple[Block, ...]:
    """The blocks of any registered family's spec."""
    if isinstance(spec, ArchSpec):
        return shufflenet_v2_plan(spec)
    if isinstance(spec, BaselineSpec):
        from search_space.baselines import baseline_plan

        return baseline_plan(spec)
    if getattr(spec, "family", None) == "microbench":
        from search_space.microbench import micro_plan

        return micro_plan(spec)  # type: ignore[arg-type]
    raise TypeError(f"not a network spec: {type(spec).__name__}")


def stage_of(block_name: str) -> str:
    """The stage a block belongs to ("stem", "stage2", ..., "head") from its name."""
    return block_name.split(".", 1)[0]

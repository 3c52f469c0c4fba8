"""Few-shot supernets: the space split by one stage's depth into parts, each part a supernet of its own.

One supernet shares every weight among all paths; few-shot NAS (Zhao et al., 2021) splits the space into parts
along one choice, copies a trained supernet's weights into one supernet per part and trains each on its part's paths
alone, so paths that differ in that choice no longer share (and fight over) the same weights. Here the choice is the
depth of one stage (`s1_depth=4-5,6-7,8-10`: stage index 1, the paper's Stage3, in three parts): a part is the space
with that stage's depth range narrowed, so its supernet is the parent's with the trailing units beyond the part's
deepest left out, and every tensor it has is a leading slice of the parent's (`warm_start`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import torch

from search_space.errors import UserError
from search_space.space import SearchSpace
from search_space.spec import ArchSpec

from nas.evaluators.supernet.model import Supernet

_SPLIT = re.compile(r"^s(\d+)_depth=(.+)$")


class SplitError(UserError):
    """A split that does not partition the stage's depth range, or weights that cannot start a part; one line."""


@dataclass(frozen=True)
class DepthSplit:
    """Stage `stage`'s depth range cut into contiguous `groups` ((low, high) inclusive, in order, covering it)."""

    stage: int
    groups: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str, space: SearchSpace) -> "DepthSplit":
        """`sS_depth=a-b,c-d,...` (a single depth may be written `a`), checked against `space`'s depth range."""
        m = _SPLIT.match(text.strip())
        if not m:
            raise SplitError(f"--split {text!r}: write sS_depth=LOW-HIGH,LOW-HIGH,... (e.g. s1_depth=4-5,6-7,8-10)")
        stage = int(m.group(1))
        if stage >= len(space.stages):
            raise SplitError(f"--split {text!r}: the space has stages s0..s{len(space.stages) - 1}")
        groups = []
        for part in m.group(2).split(","):
            lo, _, hi = part.strip().partition("-")
            try:
                groups.append((int(lo), int(hi or lo)))
            except ValueError:
                raise SplitError(f"--split {text!r}: {part!r} is not a depth range LOW-HIGH") from None
        split = cls(stage, tuple(groups))
        r = space.stages[stage]
        edges = [r.depth_low] + [hi + 1 for _, hi in groups[:-1]]
        if len(groups) < 2 or [lo for lo, _ in groups] != edges or groups[-1][1] != r.depth_high or \
                any(lo > hi for lo, hi in groups):
            raise SplitError(f"--split {text!r}: the parts must cut s{stage}'s depths {r.depth_low}-{r.depth_high} "
                             f"into at least two contiguous ranges, in order")
        return split

    def __str__(self) -> str:
        return f"s{self.stage}_depth=" + ",".join(f"{lo}-{hi}" if hi > lo else f"{lo}" for lo, hi in self.groups)

    def label(self, part: int) -> str:
        lo, hi = self.groups[part]
        return f"s{self.stage} depth {lo}-{hi}" if hi > lo else f"s{self.stage} depth {lo}"

    def part_space(self, space: SearchSpace, part: int) -> SearchSpace:
        """`space` with the stage's depths narrowed to part `part`'s."""
        lo, hi = self.groups[part]
        stages = list(space.stages)
        stages[self.stage] = replace(stages[self.stage], depth_low=lo, depth_high=hi)
        return replace(space, stages=tuple(stages))

    def part_of(self, spec: ArchSpec) -> int:
        """The part holding `spec` (by its depth of the split stage)."""
        depth = len(spec.stages[self.stage].units)
        for i, (lo, hi) in enumerate(self.groups):
            if lo <= depth <= hi:
                return i
        raise SplitError(f"architecture {spec.label()} has s{self.stage} depth {depth}, in no part of {self}")


def warm_start(child: Supernet, parent: Supernet) -> int:
    """Copy `parent`'s weights and BatchNorm statistics into `child` (a supernet over a part of the parent's space):
    each of the child's tensors is the leading slice of the parent's tensor of the same name (channel ids mean the
    same channels in both: an id counts units from the start of the stage). How many tensors were copied."""
    theirs = parent.state_dict()
    ours = child.state_dict()
    with torch.no_grad():
        for name, t in ours.items():
            src = theirs.get(name)
            if src is None or src.dim() != t.dim() or any(a > b for a, b in zip(t.shape, src.shape)):
                raise SplitError(f"the parent supernet has no weights for {name} {tuple(t.shape)}; is its space the "
                                 f"part's whole space?")
            t.copy_(src[tuple(slice(0, n) for n in t.shape)])
    return len(ours)


__all__ = ["DepthSplit", "SplitError", "warm_start"]

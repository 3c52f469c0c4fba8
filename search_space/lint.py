"""Guideline linter: the ShuffleNet V2 paper's G1-G4 (section 2) applied to one network's layer table.

Everything is read from `cost(spec).layers` (shapes, multiply-adds, MAC), so the linter sees exactly the
network the cost model and the module builder see. Layer records carry shapes, not graph edges; where a
check needs the data flow (parallel paths for G3) it is inferred from shapes and says so.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from search_space.cost import cost
from search_space.layers import COMPUTE_KINDS, ELTWISE_KINDS, POOL_KINDS, Layer
from search_space.spec import NetSpec

GUIDELINES = ("G1", "G2", "G3", "G4")
SEVERITIES = ("info", "warn")

G1_INFO_RATIO = 2.0
"""G1: a 1x1 convolution whose channel ratio max(c1, c2) / min(c1, c2) exceeds this is reported (info).
At 2:1 the feature-map traffic h*w*(c1+c2) is 6% above its equal-width minimum 2*h*w*sqrt(c1*c2)."""

G1_WARN_RATIO = 3.0
"""G1: a 1x1 convolution with a channel ratio at or above this (and a MAC excess of at least `G1_WARN_EXCESS`)
is a warning. At 3:1 the feature-map traffic is 15% above the equal-width minimum (at 6:1, 43%); Table 1
measures 1:6 at 0.6-0.9x the speed of 1:1."""

G1_WARN_EXCESS = 0.10
"""G1: the MAC excess over the Eq. 1 bound, as a share of the bound, that an unbalanced 1x1 conv must also reach
to be a warning (on small maps the weights dominate MAC and the imbalance costs little, e.g. a 7x7 head conv)."""

G2_WARN_GROUPS = 3
"""G2: a group convolution (groups > 1, not depthwise) with at least this many groups is a warning; fewer groups
are reported as info. Table 2: g=2 already runs at 0.7x (GPU) / 0.88x (ARM) the speed of a dense conv of
equal FLOPs; the paper counts ShuffleNet v1's g=3 pointwise group convolutions against G2."""

G3_MAX_FRAGMENTS = 4
"""G3: a block with more convolution / pooling / FC operators than this, or with more than one parallel path,
is reported (info). ResNet blocks have 2-3 such fragments; Table 3 tests up to 4."""

G3_WARN_FRAGMENTS = 8
"""G3: a block with at least this many fragments is a warning (NASNet-A's cell has 13)."""

G3_WARN_PATHS = 4
"""G3: a block with at least this many parallel paths is a warning (Table 3's 4-fragment-parallel block runs
at 0.28-0.87x the speed of one fragment)."""

G4_SHARE = 0.30
"""G4: a block whose element-wise operators (ReLU, add, mul, sigmoid, concat, shuffle) account for more than
this share of its MAC is reported (info). Table 4: dropping ReLU and shortcut speeds a unit up by ~20%."""

G4_THICK_RATIO = 2.0
"""G4: a block over `G4_SHARE` whose element-wise operators run on feature maps at least this many times wider
than the block's input and output is a warning: the paper's charge against MobileNet v2 (depthwise convolutions
and ReLUs on "thick" feature maps)."""

THRESHOLDS: dict[str, float] = {
    "G1_INFO_RATIO": G1_INFO_RATIO, "G1_WARN_RATIO": G1_WARN_RATIO, "G1_WARN_EXCESS": G1_WARN_EXCESS,
    "G2_WARN_GROUPS": G2_WARN_GROUPS,
    "G3_MAX_FRAGMENTS": G3_MAX_FRAGMENTS, "G3_WARN_FRAGMENTS": G3_WARN_FRAGMENTS, "G3_WARN_PATHS": G3_WARN_PATHS,
    "G4_SHARE": G4_SHARE, "G4_THICK_RATIO": G4_THICK_RATIO,
}

_OP_KINDS = COMPUTE_KINDS + POOL_KINDS  # G3 fragments, as cost.block_fragments() counts them


@dataclass(frozen=True)
class Finding:
    """One guideline finding: which guideline, how bad, where, and the measured quantity behind it.

    `value` is the measured `quantity` (e.g. a 1x1 conv's channel ratio) and `threshold` the limit it crossed
    for this severity.
    """

    guideline: str
    severity: str
    block: str
    layers: tuple[str, ...]
    message: str
    quantity: str
    value: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d


@dataclass(frozen=True)
class LintReport:
    """All findings for one network (in network order) and a few whole-network figures."""

    name: str
    arch_id: str
    findings: tuple[Finding, ...]
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warn")

    def by_guideline(self, guideline: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.guideline == guideline)

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts per guideline and severity: {"G1": {"warn": n, "info": m}, ...} (all four always present)."""
        out = {g: {s: 0 for s in reversed(SEVERITIES)} for g in GUIDELINES}
        for f in self.findings:
            out[f.guideline][f.severity] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arch_id": self.arch_id, "summary": self.summary(), "stats": dict(self.stats),
                "thresholds": dict(THRESHOLDS), "findings": [f.to_dict() for f in self.findings]}


# --------------------------------------------------------------------------------------------------- helpers
def _blocks(layers: tuple[Layer, ...]) -> dict[str, list[Layer]]:
    out: dict[str, list[Layer]] = {}
    for layer in layers:
        out.setdefault(layer.block, []).append(layer)
    return out


def is_depthwise(layer: Layer) -> bool:
    """One input channel per group (channel multiplier allowed)."""
    return layer.kind in ("dwconv", "gconv") and layer.groups > 1 and layer.groups == layer.cin


def is_pointwise(layer: Layer) -> bool:
    """A 1x1 convolution, dense or grouped (not depthwise)."""
    return layer.kind in ("pwconv", "gconv") and layer.kernel == 1 and not is_depthwise(layer)


def g1_bound(layer: Layer) -> float:
    """Eq. 1 lower bound on a 1x1 conv's MAC at its FLOPs B: 2*sqrt(h*w*B) + B/(h*w) (output h*w)."""
    hw = layer.h_out * layer.w_out
    return 2.0 * math.sqrt(hw * layer.flops) + layer.flops / hw


def parallel_paths(ops: list[Layer]) -> int:
    """Parallel paths among a block's operators, inferred from shapes (layer records carry no edges).

    An operator continues the current path when it reads the shape the previous operator wrote; one that
    instead reads the block's input starts a new path (e.g. the two branches of a down-sampling unit).
    """
    if not ops:
        return 0
    block_in = (ops[0].cin, ops[0].h_in, ops[0].w_in)
    paths = 1
    for prev, op in zip(ops, ops[1:]):
        reads = (op.cin, op.h_in, op.w_in)
        if reads != (prev.cout, prev.h_out, prev.w_out) and reads == block_in:
            paths += 1
    return paths


# ---------------------------------------------------------------------------------------------------- checks
def _g1(layer: Layer) -> Finding | None:
    c1, c2 = layer.cin, layer.cout
    ratio = max(c1, c2) / min(c1, c2)
    if ratio <= G1_INFO_RATIO:
        return None
    bound = g1_bound(layer)
    excess = layer.mac - bound
    warn = ratio >= G1_WARN_RATIO and excess >= G1_WARN_EXCESS * bound
    shape = f"1:{ratio:.3g}" if c2 >= c1 else f"{ratio:.3g}:1"
    what = "1x1 group conv" if layer.groups > 1 else "1x1 conv"
    msg = (f"{what} {c1}->{c2} (c1:c2 = {shape}) at {layer.h_out}x{layer.w_out}: MAC {layer.mac:,} is "
           f"{excess:,.0f} ({excess / bound:.0%}) above the G1 bound {bound:,.0f} for its {layer.flops:,} FLOPs")
    return Finding("G1", "warn" if warn else "info", layer.block, (layer.name,), msg, "channel_ratio", round(ratio, 4),
                   G1_WARN_RATIO if warn else G1_INFO_RATIO)


def _g2(layer: Layer) -> Finding:
    g = layer.groups
    weights = layer.mac - layer.h_in * layer.w_in * layer.cin - layer.h_out * layer.w_out * layer.cout
    # Eq. 2: same input and FLOPs, dense: the output shrinks to cout/g channels, the weights stay.
    dense_mac = layer.h_in * layer.w_in * layer.cin + layer.h_out * layer.w_out * layer.cout / g + weights
    increase = layer.mac - dense_mac
    warn = g >= G2_WARN_GROUPS
    msg = (f"{layer.kernel}x{layer.kernel} group conv {layer.cin}->{layer.cout}, g={g}: MAC {layer.mac:,} is "
           f"{increase:,.0f} ({increase / dense_mac:.0%}) above a dense conv of equal FLOPs on the same input")
    return Finding("G2", "warn" if warn else "info", layer.block, (layer.name,), msg, "groups", float(g),
                   float(G2_WARN_GROUPS if warn else 2))


def _g3(block: str, ops: list[Layer]) -> Finding | None:
    n, paths = len(ops), parallel_paths(ops)
    if n <= G3_MAX_FRAGMENTS and paths <= 1:
        return None
    warn = n >= G3_WARN_FRAGMENTS or paths >= G3_WARN_PATHS
    kinds = Counter(op.kind for op in ops)
    msg = (f"{n} fragments ({', '.join(f'{k} x{c}' for k, c in kinds.items())}) in {paths} parallel "
           f"path{'s' if paths > 1 else ''}")
    return Finding("G3", "warn" if warn else "info", block, tuple(op.name for op in ops), msg, "fragments", float(n),
                   float(G3_WARN_FRAGMENTS if warn else G3_MAX_FRAGMENTS))


def _g4(block: str, layers: list[Layer]) -> Finding | None:
    elt = [la for la in layers if la.kind in ELTWISE_KINDS]
    total = sum(la.mac for la in layers)
    if not elt or total == 0:
        return None
    share = sum(la.mac for la in elt) / total
    if share <= G4_SHARE:
        return None
    io = max(layers[0].cin, layers[-1].cout)
    widest = max(max(la.cin, la.cout) for la in elt)
    thick = widest / io
    warn = thick >= G4_THICK_RATIO
    dw_share = sum(la.mac for la in layers if is_depthwise(la)) / total
    counts = Counter(la.kind for la in elt)
    msg = (f"element-wise ops ({', '.join(f'{k} x{c}' for k, c in counts.items())}) take {share:.0%} of the "
           f"block's MAC (depthwise convs another {dw_share:.0%})")
    if warn:
        msg += f"; they run on {widest}-channel maps, {thick:.1f}x the block's {io}-channel input/output"
    return Finding("G4", "warn" if warn else "info", block, tuple(la.name for la in elt), msg, "eltwise_mac_share",
                   round(share, 4), G4_SHARE)


# ------------------------------------------------------------------------------------------------------ lint
def lint(spec: NetSpec) -> LintReport:
    """Apply G1-G4 to `spec` at its own resolution; findings in network order, block by block."""
    return lint_layers(cost(spec).layers, spec.label(), spec.arch_id)


def lint_layers(layers: tuple[Layer, ...], name: str = "", arch_id: str = "") -> LintReport:
    """Apply G1-G4 to a layer table (as `cost(spec).layers` lists it, grouped into blocks by `Layer.block`)."""
    findings: list[Finding] = []
    ratios: list[float] = []
    max_frag = max_paths = 0
    for block, block_layers in _blocks(layers).items():
        for layer in block_layers:
            if is_pointwise(layer) and layer.flops > 0:
                ratios.append(max(layer.cin, layer.cout) / min(layer.cin, layer.cout))
                f1 = _g1(layer)
                if f1:
                    findings.append(f1)
            if layer.kind == "gconv" and not is_depthwise(layer):
                findings.append(_g2(layer))
        ops = [la for la in block_layers if la.kind in _OP_KINDS]
        max_frag, max_paths = max(max_frag, len(ops)), max(max_paths, parallel_paths(ops))
        for f in (_g3(block, ops), _g4(block, block_layers)):
            if f:
                findings.append(f)
    total_mac = sum(la.mac for la in layers) or 1
    stats = {
        "max_1x1_channel_ratio": round(max(ratios, default=1.0), 4),
        "group_convs": sum(1 for la in layers if la.kind == "gconv" and not is_depthwise(la)),
        "max_block_fragments": max_frag,
        "max_parallel_paths": max_paths,
        "eltwise_mac_share": round(sum(la.mac for la in layers if la.kind in ELTWISE_KINDS) / total_mac, 4),
        "dwconv_mac_share": round(sum(la.mac for la in layers if is_depthwise(la)) / total_mac, 4),
    }
    return LintReport(name, arch_id, tuple(findings), stats)


__all__ = ["Finding", "LintReport", "lint", "lint_layers", "GUIDELINES", "THRESHOLDS", "G1_INFO_RATIO",
           "G1_WARN_RATIO", "G1_WARN_EXCESS", "G2_WARN_GROUPS", "G3_MAX_FRAGMENTS", "G3_WARN_FRAGMENTS",
           "G3_WARN_PATHS", "G4_SHARE", "G4_THICK_RATIO", "g1_bound", "parallel_paths", "is_depthwise",
           "is_pointwise"]

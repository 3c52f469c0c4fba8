"""Named reference networks: the paper's ShuffleNet v2 models and every network of Table 8 (registry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from search_space.registry import Registry
from search_space.spec import ArchSpec, BaselineSpec, NetSpec, UnitSpec, uniform_stages

#: Table 5 stage widths and head widths per scale.
V2_SCALES: dict[str, tuple[tuple[int, int, int], int]] = {
    "0_5": ((48, 96, 192), 1024),
    "1_0": ((116, 232, 464), 1024),
    "1_5": ((176, 352, 704), 1024),
    "2_0": ((244, 488, 976), 2048),
}
V2_DEPTHS = (4, 8, 4)


@dataclass(frozen=True)
class ReferenceNet:
    """A named network with what the paper reports for it (None where it reports nothing)."""

    name: str
    factory: Callable[[], NetSpec]
    family: str
    paper_mflops: float | None = None
    paper_top1_err: float | None = None
    source: str = ""

    def spec(self) -> NetSpec:
        return self.factory().with_name(self.name)


def _v2(scale: str, unit: UnitSpec = UnitSpec()) -> Callable[[], ArchSpec]:
    widths, head = V2_SCALES[scale]
    return lambda: ArchSpec(stages=uniform_stages(widths, V2_DEPTHS, unit), head_width=head)


def _v2_50() -> ArchSpec:
    """ShuffleNet v2-50 (Appendix Table 2): 64-wide stem, stages 244/488/976/1952 x 3/4/6/3, conv6 2048.

    conv2_x runs at 56x56, so its first unit has stride 1 (down-sampling is by conv3.1, conv4.1, conv5.1).
    """
    return ArchSpec(stem=(64,), stages=uniform_stages((244, 488, 976, 1952), (3, 4, 6, 3), strides=(1, 2, 2, 2)),
                    head_width=2048)


def _se_v2_164() -> ArchSpec:
    """SE-ShuffleNet v2-164 (Appendix Table 2): 3-conv stem 64/64/128, stages 340/680/1360/2720 x
    10/10/23/10, residual path and SE (width 1/2) in every basic unit, conv6 2048."""
    return ArchSpec(stem=(64, 64, 128),
                    stages=uniform_stages((340, 680, 1360, 2720), (10, 10, 23, 10), UnitSpec(se=True, residual=True),
                                          strides=(1, 2, 2, 2)),
                    head_width=2048)


def _baseline(family: str, width: float, resolution: int = 224) -> Callable[[], BaselineSpec]:
    return lambda: BaselineSpec(family=family, width_mult=width, resolution=resolution)


def _build_registry() -> Registry[ReferenceNet]:
    reg: Registry[ReferenceNet] = Registry("network")

    def add(name: str, factory: Callable[[], NetSpec], family: str, mflops: float | None = None,
            err: float | None = None, source: str = "Table 8") -> None:
        reg.add(name, ReferenceNet(name, factory, family, mflops, err, source))

    v2_paper = {"0_5": (41, 39.7), "1_0": (146, 30.6), "1_5": (299, 27.4), "2_0": (591, 25.1)}
    for scale, (mflops, err) in v2_paper.items():
        add(f"shufflenet_v2_x{scale}", _v2(scale), "shufflenet_v2", mflops, err)
    add("shufflenet_v2_x2_0_se", _v2("2_0", UnitSpec(se=True)), "shufflenet_v2", 597, 24.6)
    add("shufflenet_v2_x1_0_residual", _v2("1_0", UnitSpec(residual=True)), "shufflenet_v2", None, None,
        "Appendix Fig. 2a")
    for scale in V2_SCALES:
        add(f"shufflenet_v2_star_x{scale}", _v2(scale, UnitSpec(variant="v2_star")), "shufflenet_v2", None, None,
            "section 4, ShuffleNet v2*")
    add("shufflenet_v2_50", _v2_50, "shufflenet_v2", 2300, 22.8, "Table 6")
    add("se_shufflenet_v2_164", _se_v2_164, "shufflenet_v2", 12700, 18.56, "Table 6")

    for tag, width, mflops, err in (("0_25", 0.25, 41, 49.4), ("0_5", 0.5, 149, 36.3), ("0_75", 0.75, 325, 31.6),
                                    ("1_0", 1.0, 569, 29.4)):
        add(f"mobilenet_v1_x{tag}", _baseline("mobilenet_v1", width), "mobilenet_v1", mflops, err)
    for tag, width, res, mflops, err in (("0_15", 0.15, 224, 39, 55.1), ("0_4", 0.4, 160, 43, 43.4),
                                         ("0_6", 0.6, 224, 141, 33.3), ("0_75", 0.75, 192, 145, 32.1),
                                         ("1_0", 1.0, 224, 301, 28.3), ("1_4", 1.4, 224, 587, 26.7)):
        add(f"mobilenet_v2_x{tag}", _baseline("mobilenet_v2", width, res), "mobilenet_v2", mflops, err)
    for tag, width, mflops, err in (("0_5", 0.5, 38, 43.2), ("1_0", 1.0, 140, 32.6), ("1_5", 1.5, 292, 28.5),
                                    ("2_0", 2.0, 524, 26.3)):
        add(f"shufflenet_v1_g3_x{tag}", _baseline("shufflenet_v1", width), "shufflenet_v1", mflops, err)
    for tag, width, mflops, err in (("0_5", 0.5, 40, 44.9), ("1_0", 1.0, 145, 34.1), ("1_5", 1.5, 305, 29.4),
                                    ("2_0", 2.0, 525, 27.6)):
        add(f"xception_x{tag}", _baseline("xception", width), "xception", mflops, err)
    _add_table8_extras(add)
    return reg


def _add_table8_extras(add: Callable[..., None]) -> None:
    """The rest of Table 8 (issue 14): DenseNet, IGCV2, IGCV3-D, CondenseNet, NASNet-A, PNASNet-5."""
    for tag, width, mflops, err in (("0_5", 0.5, 42, 58.6), ("1_0", 1.0, 142, 45.2), ("1_5", 1.5, 295, 39.9),
                                    ("2_0", 2.0, 519, 34.6)):
        add(f"densenet_x{tag}", _baseline("densenet", width), "densenet", mflops, err)
    for tag, width, mflops, err in (("0_25", 0.25, 46, 45.1), ("0_5", 0.5, 156, 34.5), ("1_0", 1.0, 564, 29.3)):
        add(f"igcv2_x{tag}", _baseline("igcv2", width), "igcv2", mflops, err)
    # "IGCV3-D (0.7)" is registered at width 0.8: the width with Table 8's 210 MFLOPs (see igcv3_d_plan).
    for tag, width, mflops, err in (("0_7", 0.8, 210, 31.5), ("1_0", 1.0, 318, 27.8), ("1_4", 1.4, 610, 25.5)):
        add(f"igcv3_d_x{tag}", _baseline("igcv3_d", width), "igcv3_d", mflops, err)
    for g, mflops, err in ((8, 274, 29.0), (4, 529, 26.2)):
        add(f"condensenet_g{g}", lambda g=g: BaselineSpec(family="condensenet", width_mult=1.0, groups=g),
            "condensenet", mflops, err)
    add("nasnet_a_4_1056", _baseline("nasnet_a", 1.0), "nasnet_a", 564, 26.0)
    add("pnasnet_5", _baseline("pnasnet_5", 1.0), "pnasnet_5", 588, 25.8)


NETWORKS: Registry[ReferenceNet] = _build_registry()


def reference_names() -> list[str]:
    return NETWORKS.names()


def reference_spec(name: str) -> NetSpec:
    """The spec of a registered network (raises UnknownNameError listing the known names)."""
    return NETWORKS.get(name).spec()

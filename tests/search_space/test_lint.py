"""Guideline linter (search_space/lint.py): G1-G4 findings on reference and hand-made networks."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from search_space import lint as L
from search_space.blocks import conv_chain_layers
from search_space.cost import cost
from search_space.layers import Conv, conv_layer, eltwise_layer
from search_space.references import NETWORKS, reference_spec
from search_space.spec import ArchSpec, UnitSpec, uniform_stages


def _spec(widths=(128, 256, 512), depths=(2, 2, 2), unit=UnitSpec(), head=1024) -> ArchSpec:
    return ArchSpec(stages=uniform_stages(widths, depths, unit), head_width=head)


def _baseline_report(name: str) -> L.LintReport:
    """Lint a Table 8 baseline, skipping while its plan is not implemented yet."""
    spec = reference_spec(name)
    try:
        cost(spec)
    except (ImportError, NotImplementedError) as exc:
        pytest.skip(f"baseline plan for {name} not available yet: {exc}")
    return L.lint(spec)


def _severities(report: L.LintReport, guideline: str) -> list[str]:
    return [f.severity for f in report.by_guideline(guideline)]


# ---------------------------------------------------------------------------------------------- report shape
def test_v2_1x_has_no_g1_or_g2_warnings():
    report = L.lint(reference_spec("shufflenet_v2_x1_0"))
    assert "warn" not in _severities(report, "G1")
    assert report.by_guideline("G2") == ()  # no group convolutions at all
    assert report.summary()["G1"]["warn"] == 0 and report.summary()["G2"] == {"warn": 0, "info": 0}
    assert report.stats["group_convs"] == 0
    # its basic units' 1x1 convs are c'->c' (balanced by design): only the stem->stage2 transition and the
    # head conv are unbalanced, and mildly so
    assert {f.block for f in report.by_guideline("G1")} <= {"stage2.unit0", "head.conv"}
    assert report.stats["max_1x1_channel_ratio"] < L.G1_WARN_RATIO


def test_report_summary_and_dict():
    report = L.lint(reference_spec("shufflenet_v2_x1_0"))
    summary = report.summary()
    assert list(summary) == ["G1", "G2", "G3", "G4"]
    assert sum(c["warn"] + c["info"] for c in summary.values()) == len(report.findings)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["name"] == "shufflenet_v2_x1_0" and d["arch_id"] == reference_spec("shufflenet_v2_x1_0").arch_id
    assert d["summary"] == summary and len(d["findings"]) == len(report.findings)
    assert set(d["findings"][0]) == {"guideline", "severity", "block", "layers", "message", "quantity", "value",
                                     "threshold"}
    assert d["thresholds"]["G1_WARN_RATIO"] == L.G1_WARN_RATIO
    for f in report.findings:
        assert f.guideline in L.GUIDELINES and f.severity in ("info", "warn") and f.layers and f.message
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.findings[0].severity = "warn"  # type: ignore[misc]


def test_findings_name_layers_of_their_block():
    spec = reference_spec("shufflenet_v2_x1_0")
    by_name = {layer.name: layer for layer in cost(spec).layers}
    for f in L.lint(spec).findings:
        for name in f.layers:
            assert by_name[name].block == f.block


# ------------------------------------------------------------------------------------------------------- G1
def test_g1_bound_is_eq1_and_tight_for_balanced_convs():
    for layer in cost(reference_spec("shufflenet_v2_x1_0")).layers:
        if not L.is_pointwise(layer):
            continue
        hw, b = layer.h_out * layer.w_out, layer.flops
        assert L.g1_bound(layer) == pytest.approx(2 * math.sqrt(hw * b) + b / hw)
        assert layer.mac >= L.g1_bound(layer) - 1e-6
        if layer.cin == layer.cout and layer.stride == 1:
            assert layer.mac == pytest.approx(L.g1_bound(layer))


def test_unequal_split_ratio_gives_g1_warnings_on_its_unbalanced_1x1_convs():
    balanced = L.lint(_spec(unit=UnitSpec(split_ratio=0.5)))
    assert "warn" not in _severities(balanced, "G1")
    report = L.lint(_spec(unit=UnitSpec(split_ratio=0.125)))
    warned = {f.layers[0]: f for f in report.by_guideline("G1") if f.severity == "warn"}
    # first units: the main branch's 1x1 maps the whole input (128 / 256 channels) to c' = width / 8
    assert {"stage3.unit0.main.conv0", "stage4.unit0.main.conv0"} <= set(warned)
    f = warned["stage3.unit0.main.conv0"]
    assert f.block == "stage3.unit0" and f.quantity == "channel_ratio"
    assert f.value == pytest.approx(128 / 32) and f.value >= L.G1_WARN_RATIO
    assert "128->32" in f.message and "above the G1 bound" in f.message
    # the basic units' branch convs stay c'->c': balanced whatever the split ratio
    assert not any(".unit1." in f.layers[0] for f in report.by_guideline("G1"))


def test_g1_ignores_imbalance_that_costs_little_mac():
    # a 7x7 head conv: weights dominate MAC, so a 5:1 ratio is reported but not a warning
    layer = conv_layer("head.conv", "head.conv", Conv(192, 1024, 1), 7, 7)
    (f,) = L.lint_layers((layer,)).by_guideline("G1")
    assert f.severity == "info" and f.value > L.G1_WARN_RATIO


# ------------------------------------------------------------------------------------------------------- G2
@pytest.mark.parametrize("groups,severity", [(2, "info"), (3, "warn"), (8, "warn")])
def test_g2_group_convs(groups, severity):
    layer = conv_layer("b.conv0", "b", Conv(240, 240, 1, groups=groups), 28, 28)
    (f,) = L.lint_layers((layer,)).by_guideline("G2")
    assert f.severity == severity and f.value == groups and f.layers == ("b.conv0",)
    increase = 28 * 28 * 240 * (1 - 1 / groups)  # Eq. 2: the extra output channels at equal FLOPs and input
    assert f"{increase:,.0f}" in f.message


def test_g2_ignores_depthwise_and_dense_convs():
    layers = (conv_layer("b.dw", "b", Conv(64, 64, 3, groups=64), 28, 28),
              conv_layer("b.pw", "b", Conv(64, 64, 1), 28, 28))
    report = L.lint_layers(layers)
    assert report.by_guideline("G2") == () and report.stats["group_convs"] == 0


# ------------------------------------------------------------------------------------------------------- G3
def test_g3_v2_units():
    report = L.lint(reference_spec("shufflenet_v2_x1_0"))
    g3 = {f.block: f for f in report.by_guideline("G3")}
    # only the down-sampling units (two branches, 5 operators) are reported, as info
    assert set(g3) == {"stage2.unit0", "stage3.unit0", "stage4.unit0"}
    assert all(f.severity == "info" and f.value == 5 and "2 parallel paths" in f.message for f in g3.values())
    assert cost(reference_spec("shufflenet_v2_x1_0")).block_fragments()["stage2.unit0"] == 5


def test_g3_xception_first_unit_is_a_warning():
    report = L.lint(_spec(unit=UnitSpec(variant="xception")))
    sev = {f.block: f.severity for f in report.by_guideline("G3")}
    assert sev["stage2.unit0"] == "warn"  # 6 main + 2 side operators
    assert sev["stage2.unit1"] == "info"  # 6 operators in series


def test_parallel_paths_from_shapes():
    layers = cost(reference_spec("shufflenet_v2_x1_0")).layers
    ops = lambda block: [la for la in layers if la.block == block and la.kind in L._OP_KINDS]  # noqa: E731
    assert L.parallel_paths(ops("stage3.unit0")) == 2
    assert L.parallel_paths(ops("stage3.unit1")) == 1
    assert L.parallel_paths(ops("head.classifier")) == 1


# ------------------------------------------------------------------------------------------------------- G4
def _inverted_bottleneck(c: int = 32, t: int = 6, hw: int = 28):
    convs = (Conv(c, t * c, 1, act="relu6"), Conv(t * c, t * c, 3, 1, t * c, "relu6"), Conv(t * c, c, 1, act=None))
    layers, _, _ = conv_chain_layers("b", "b", convs, hw, hw)
    return tuple(layers) + (eltwise_layer("b.add", "add", "b", c, hw, hw, inputs=2),)


def test_g4_inverted_bottleneck_is_a_warning_and_g1_too():
    report = L.lint_layers(_inverted_bottleneck())
    (g4,) = report.by_guideline("G4")
    assert g4.severity == "warn" and g4.quantity == "eltwise_mac_share" and g4.value > L.G4_SHARE
    assert set(g4.layers) == {"b.conv0.relu6", "b.conv1.relu6", "b.add"}
    assert "192-channel" in g4.message
    assert _severities(report, "G1") == ["warn", "warn"]  # 32->192 and 192->32


def test_g4_v2_blocks_are_at_most_info():
    report = L.lint(reference_spec("shufflenet_v2_x1_0"))
    g4 = report.by_guideline("G4")
    assert g4 and all(f.severity == "info" for f in g4)
    assert all(f.value > L.G4_SHARE for f in g4)


# ------------------------------------------------------------------------------------------ every network
@pytest.mark.parametrize("name", [n for n, r in NETWORKS.items() if r.family == "shufflenet_v2"])
def test_lint_runs_on_every_v2_reference(name):
    report = L.lint(reference_spec(name))
    assert report.name == name
    assert report.by_guideline("G2") == ()


def test_shufflenet_v1_violates_g2():
    report = _baseline_report("shufflenet_v1_g3_x1_0")
    assert "warn" in _severities(report, "G2")
    assert report.stats["group_convs"] > 0


def test_mobilenet_v2_violates_g1_and_g4():
    report = _baseline_report("mobilenet_v2_x1_0")
    assert "warn" in _severities(report, "G1")
    assert "warn" in _severities(report, "G4")
    assert report.by_guideline("G2") == ()

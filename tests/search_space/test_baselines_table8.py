"""The rest of Table 8 (issue 14): DenseNet, IGCV2, IGCV3-D, CondenseNet, NASNet-A, PNASNet-5.

FLOPs against the paper's CSV at its input size, parameters against the original papers / released code, cost
against the modules that run, structure of each block type, inference form, lint findings, latency profiles.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

import pytest
import torch
from torch import nn

from search_space.baselines_cells import CellStack, NASNET_A_NORMAL, PNASNET_5, reduction_layers
from search_space.baselines_dense import AffineReLU, DenseLayer, Transition, interleave_index
from search_space.baselines_igc import IGCV2Block, IGCV3Unit
from search_space.block_io import block_from_dict, block_to_dict
from search_space.build import build_model
from search_space.cost import cost
from search_space.lint import lint
from search_space.modules import to_inference
from search_space.plan import plan
from search_space.references import NETWORKS, reference_spec
from search_space.spec import TABLE8_EXTRA_FAMILIES, BaselineSpec, spec_from_json

#: Registered name -> row_order of shared/paper/calibration/table8_accuracy_flops.csv.
CSV_ROWS = {
    "densenet_x0_5": 6, "densenet_x1_0": 14, "densenet_x1_5": 23, "densenet_x2_0": 32,
    "igcv2_x0_25": 8, "igcv2_x0_5": 16, "igcv2_x1_0": 35,
    "igcv3_d_x0_7": 17, "igcv3_d_x1_0": 26, "igcv3_d_x1_4": 36,
    "condensenet_g8": 24, "condensenet_g4": 33,
    "nasnet_a_4_1056": 38, "pnasnet_5": 39,
}
NAMES = list(CSV_ROWS)
#: Parameters (M) of the original networks: released code where this plan reproduces it exactly, else the
#: papers' tables (IGCV2: 0.5 / 1.3 / 4.1, IGCV3-D 0.7: 2.8, PNASNet-5 mobile: 5.1), with the tolerance the
#: reconstruction needs (IGCV2's widths are assumed; see igcv2_plan).
PAPER_PARAMS = {
    "igcv3_d_x1_0": (3.491688, 0.0), "condensenet_g8": (2.935416, 0.0), "condensenet_g4": (4.773944, 0.0),
    "nasnet_a_4_1056": (5.289978, 0.0), "pnasnet_5": (5.1, 0.02), "igcv3_d_x0_7": (2.8, 0.03),
    "igcv2_x0_25": (0.5, 0.15), "igcv2_x0_5": (1.3, 0.2), "igcv2_x1_0": (4.1, 0.15),
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def table8_rows() -> dict[int, dict[str, str]]:
    text = resources.files("latency_models").joinpath("data", "paper", "table8_accuracy_flops.csv").read_text()
    return {int(r["row_order"]): r for r in csv.DictReader(io.StringIO(text))}


def test_every_name_is_registered_with_its_family():
    families = {n: NETWORKS.get(n).family for n in NAMES}
    assert set(families.values()) == set(TABLE8_EXTRA_FAMILIES)
    assert [n for n, r in NETWORKS.items() if r.family in TABLE8_EXTRA_FAMILIES] == NAMES
    assert all(NETWORKS.get(n).source == "Table 8" for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_flops_within_5_percent_of_the_csv_at_its_input_size(name):
    row = table8_rows()[CSV_ROWS[name]]
    ref = NETWORKS.get(name)
    assert ref.paper_mflops == float(row["mflops"]) and ref.paper_top1_err == float(row["top1_err_pct"])
    spec = reference_spec(name)
    assert f"{spec.resolution}x{spec.resolution}" == row["input_size"]
    ours = cost(spec).flops_m
    assert abs(ours / float(row["mflops"]) - 1) <= 0.05, f"{name}: {ours:.1f} vs {row['mflops']}"


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_parameters_match_the_original_networks(name):
    expected_m, tol = PAPER_PARAMS[name]
    got = cost(reference_spec(name)).params
    if tol == 0:
        assert got == round(expected_m * 1e6)
    else:
        assert abs(got / (expected_m * 1e6) - 1) <= tol, (name, got)


@pytest.mark.parametrize("name", NAMES)
def test_cost_agrees_with_the_built_module(name):
    """Parameters and multiply-adds counted from the modules that run (meta device: no weights allocated)."""
    spec = reference_spec(name)
    c = cost(spec)
    model = build_model(spec, device="meta")
    assert sum(p.numel() for p in model.parameters()) == c.params
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        else:
            total += m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        out = model(torch.empty(1, 3, spec.resolution, spec.resolution, device="meta"))
    for h in handles:
        h.remove()
    assert out.shape == (1, 1000) and total == c.flops


@pytest.mark.parametrize("name", NAMES)
def test_block_outputs_match_their_layers_at_an_odd_size(name):
    spec = reference_spec(name).with_resolution(72)  # 36, 18, 9, 5, 3: odd maps on the way down
    model = build_model(spec, seed=0).eval()
    x, h, w = torch.randn(1, 3, 72, 72), 72, 72
    with torch.no_grad():
        for block, module in zip(model.blocks, model):
            _, h, w = block.layers(h, w)
            x = module(x)
            assert tuple(x.shape) == ((1, block.cout) if x.dim() == 2 else (1, block.cout, h, w)), block.name


@pytest.mark.parametrize("name", ["densenet_x0_5", "condensenet_g8", "nasnet_a_4_1056", "pnasnet_5"])
def test_tiny_inputs_still_run(name):
    spec = reference_spec(name).with_resolution(16)
    with torch.no_grad():
        assert build_model(spec, seed=0).eval()(torch.randn(1, 3, 16, 16)).shape == (1, 1000)
    assert cost(spec).flops > 0


def test_full_resolution_forward_of_the_smallest():
    spec = reference_spec("igcv2_x0_25")
    model = build_model(spec, form="inference", seed=0)
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


def test_full_resolution_forward_of_nasnet_equals_its_inference_form():
    spec = reference_spec("nasnet_a_4_1056")
    model = build_model(spec, seed=0).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ref, got = model(x), to_inference(model)(x)
    assert ref.shape == (1, 1000) and (ref - got).abs().max() <= 1e-4 * max(1.0, ref.abs().max().item())


@pytest.mark.parametrize("name", ["densenet_x0_5", "condensenet_g8"])
def test_preactivation_batchnorm_becomes_an_affine_map(name):
    model = to_inference(build_model(reference_spec(name).with_resolution(32), seed=0).eval())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, AffineReLU) for m in model.modules())


def test_spec_json_round_trip_and_arch_id():
    for name in ("condensenet_g4", "igcv3_d_x0_7"):
        spec = reference_spec(name)
        again = spec_from_json(spec.to_json())
        assert again == spec and again.arch_id == spec.arch_id
    assert reference_spec("condensenet_g4").arch_id != reference_spec("condensenet_g8").arch_id


@pytest.mark.parametrize("name", NAMES)
def test_blocks_round_trip_through_dicts(name):
    for block in plan(reference_spec(name)):
        assert block_from_dict(block_to_dict(block)) == block


# ----------------------------------------------------------------------------------------- block structure


def _kinds(block, h: int = 14, w: int = 14) -> list[str]:
    return [layer.kind for layer in block.layers(h, w)[0]]


def test_densenet_layout():
    blocks = plan(reference_spec("densenet_x1_0"))
    dense = [b for b in blocks if isinstance(b, DenseLayer)]
    trans = [b for b in blocks if isinstance(b, Transition)]
    assert len(dense) == 16 and {b.growth for b in dense} == {21} and {b.groups for b in dense} == {1}
    assert [(t.cin, t.cout) for t in trans] == [(24, 12), (96, 48), (216, 108)]
    assert [b.name.split(".")[0] for b in trans] == ["stage2", "stage3", "stage4"]
    assert _kinds(dense[0]) == ["mul", "relu", "pwconv", "relu", "conv", "concat"]
    assert dense[0].cout == dense[0].cin + 21 and dense[0].mid == 84
    assert _kinds(trans[1]) == ["mul", "relu", "pwconv", "avgpool"]
    assert trans[1].layers(7, 7)[1:] == (4, 4)  # ceil mode on odd maps


def test_condensenet_layer_is_the_converted_learned_group_conv():
    blocks = plan(BaselineSpec("condensenet", 1.0, groups=4))
    dense = [b for b in blocks if isinstance(b, DenseLayer)]
    assert [sum(1 for b in dense if b.growth == k) for k in (8, 16, 32, 64, 128)] == [4, 6, 8, 10, 8]
    assert _kinds(dense[0]) == ["shuffle", "mul", "relu", "gconv", "relu", "shuffle", "gconv", "concat"]
    pw, conv3 = dense[0].convs()
    assert (pw.groups, conv3.groups, conv3.kernel, pw.cout) == (4, 4, 3, 32)
    assert sorted(interleave_index(8, 4)) == list(range(8)) and interleave_index(8, 4)[:4] == [0, 2, 4, 6]
    assert blocks[-1].keep == blocks[-1].cin // 2  # the classifier's index keeps half the features


def test_igcv2_block_is_channelwise_then_two_group_convs_with_a_permutation():
    blocks = [b for b in plan(reference_spec("igcv2_x1_0")) if isinstance(b, IGCV2Block)]
    assert len(blocks) == 13 and {b.groups for b in blocks} == {4}
    assert all(b.cout % 16 == 0 and b.cout // b.groups >= b.groups for b in blocks)  # complementary condition
    assert _kinds(blocks[1]) == ["dwconv", "relu", "gconv", "shuffle", "gconv", "relu"]
    assert [b.stride for b in blocks].count(2) == 4


def test_igcv3_d_is_deeper_mobilenet_v2_with_group_convs():
    units = [b for b in plan(reference_spec("igcv3_d_x1_0")) if isinstance(b, IGCV3Unit)]
    assert len(units) == 1 + 4 + 6 + 8 + 6 + 6 + 1 and {u.groups for u in units} == {2}
    body = units[2]
    assert body.residual and body.hidden == 6 * 24
    assert _kinds(body) == ["gconv", "shuffle", "dwconv", "relu6", "gconv", "shuffle", "add"]
    assert units[0].hidden == 32 and units[0].convs()[0].kind == "gconv"  # t = 1 still expands, grouped


def test_nasnet_and_pnasnet_cell_sequences():
    nas = next(b for b in plan(reference_spec("nasnet_a_4_1056")) if isinstance(b, CellStack))
    confs = nas.confs()
    assert len(confs) == 2 + 12 + 2 and confs[-1].cout == 1056
    assert [c.filters for c in confs if c.stride == 2] == [11, 22, 88, 176]
    assert sum(1 for c in confs if c.genotype == NASNET_A_NORMAL) == 12
    assert [c.prev_op() for c in confs[:4]] == ["raw", "reduce", "reduce", "conv"]
    pnas = next(b for b in plan(reference_spec("pnasnet_5")) if isinstance(b, CellStack))
    confs = pnas.confs()
    assert len(confs) == 2 + 9 and all(c.genotype == PNASNET_5 for c in confs)
    assert reduction_layers(9) == [3, 6] and [c.filters for c in confs if c.stride == 2] == [13, 27, 108, 216]
    assert confs[-1].cout == 5 * 216


def test_cells_are_grouped_per_cell_in_the_cost_table():
    blocks = cost(reference_spec("nasnet_a_4_1056")).block_fragments()
    cells = [b for b in blocks if ".cell" in b]
    assert len(cells) == 12 and blocks["stage2.cell1"] == 2 + 5 * 4 + 3  # 1x1 preps, 5 separable ops, 3 pools
    assert set(cost(reference_spec("pnasnet_5")).by_stage()) == {"stem", "stage1", "stage2", "stage3", "stage4",
                                                                "head"}


# ------------------------------------------------------------------------------------------------- lint


def test_lint_flags_each_family_where_the_paper_does():
    def severities(name, g):
        return {f.severity for f in lint(reference_spec(name)).by_guideline(g)}

    assert "warn" in severities("igcv2_x1_0", "G2")  # 4 groups ("too many convolution groups")
    assert severities("igcv3_d_x1_0", "G2") == {"info"}  # 2 groups
    assert "warn" in severities("condensenet_g8", "G2")
    for name in ("nasnet_a_4_1056", "pnasnet_5"):
        report = lint(reference_spec(name))
        assert "warn" in severities(name, "G3") and report.stats["max_block_fragments"] >= 13
    assert "warn" in severities("densenet_x1_0", "G4")  # dense concatenation + unfoldable BN on wide maps
    assert lint(reference_spec("densenet_x1_0")).stats["eltwise_mac_share"] > \
        lint(reference_spec("shufflenet_v2_x1_0")).stats["eltwise_mac_share"]


# ------------------------------------------------------------------------------------------- latency


@pytest.mark.parametrize("platform", ["arm", "gpu-1080ti"])
def test_shipped_profiles_predict_every_new_network(platform, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    from latency_models.profiles import find_profile

    profile = find_profile(platform)
    ests = profile.estimates([reference_spec(n) for n in NAMES])
    ms = {n: e.latency_ms for n, e in zip(NAMES, ests)}
    assert all(0 < v < 1000 for v in ms.values())
    v2 = profile.estimates([reference_spec("shufflenet_v2_x1_0")])[0].latency_ms
    assert ms["igcv2_x0_5"] > v2 and ms["condensenet_g8"] > v2  # group convs and permutations cost (G2)
    assert ms["nasnet_a_4_1056"] > profile.estimates([reference_spec("shufflenet_v2_x2_0")])[0].latency_ms

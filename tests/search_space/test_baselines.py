"""Table 8 baselines (search_space/baselines.py): FLOPs vs the paper, plans vs modules, inference form."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from search_space.baselines import (InvertedResidual, ShuffleV1Unit, XceptionBlock, baseline_plan, channel_shuffle)
from search_space.build import build_model
from search_space.cost import cost
from search_space.modules import Network, to_inference
from search_space.references import NETWORKS, reference_spec
from search_space.spec import BASELINE_FAMILIES, BaselineSpec, SpecError

BASELINES = [n for n in NETWORKS.names() if NETWORKS.get(n).family in BASELINE_FAMILIES]
#: One small member per family (plus ShuffleNet v1 at another group count) for the slower structural checks.
FAMILY_SPECS = {
    "mobilenet_v1": BaselineSpec("mobilenet_v1", 0.25),
    "mobilenet_v2": BaselineSpec("mobilenet_v2", 0.4),
    "shufflenet_v1_g3": BaselineSpec("shufflenet_v1", 0.5),
    "shufflenet_v1_g8": BaselineSpec("shufflenet_v1", 0.5, groups=8),
    "xception": BaselineSpec("xception", 0.5),
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors run fastest single-threaded (OpenMP spin-up dominates otherwise); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_every_family_has_registered_networks():
    assert {NETWORKS.get(n).family for n in BASELINES} == set(BASELINE_FAMILIES)
    assert len(BASELINES) == 18


@pytest.mark.parametrize("name", BASELINES)
def test_flops_within_5_percent_of_table8(name):
    paper = NETWORKS.get(name).paper_mflops
    ours = cost(reference_spec(name)).flops_m
    assert abs(ours / paper - 1) <= 0.05, f"{name}: {ours:.1f} MFLOPs vs paper {paper}"


@pytest.mark.parametrize("name", BASELINES)
def test_module_parameters_equal_cost_params(name):
    spec = reference_spec(name)
    model = build_model(spec, seed=0)
    assert sum(p.numel() for p in model.parameters()) == round(cost(spec).params_m * 1e6)


@pytest.mark.parametrize("name", BASELINES)
def test_forward_shape_at_small_resolution(name):
    spec = reference_spec(name).with_resolution(32)
    model = build_model(spec, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, spec.num_classes)
    assert torch.isfinite(out).all()


def _randomize(model: nn.Module, seed: int) -> None:
    """Random BN statistics/affine and an O(1) classifier, so BN folding is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)


@pytest.mark.parametrize("name", BASELINES)
def test_inference_form_equals_training_form(name):
    spec = reference_spec(name).with_resolution(48)
    model = build_model(spec, seed=0)
    _randomize(model, seed=1)
    model.eval()
    fused = to_inference(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        feat_train, feat_inf = nn.Sequential(*list(model)[:-1])(x), nn.Sequential(*list(fused)[:-1])(x)
        out_train, out_inf = model(x), fused(x)
    scale = feat_train.abs().max().item()
    assert scale > 1e-2  # the comparison below means something
    assert (feat_train - feat_inf).abs().max().item() <= 1e-4 * max(1.0, scale)
    assert out_train.abs().max().item() > 1e-2
    assert (out_train - out_inf).abs().max().item() <= 1e-4 * max(1.0, out_train.abs().max().item())


def _hook_macs(model: nn.Module, resolution: int) -> int:
    """Multiply-adds of every Conv2d / Linear, counted from the tensors that actually flow (batch 1)."""
    total = 0

    def conv_hook(m: nn.Conv2d, inp, out) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def fc_hook(m: nn.Linear, inp, out) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    handles = [m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else fc_hook)
               for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.randn(1, 3, resolution, resolution))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("key", FAMILY_SPECS)
@pytest.mark.parametrize("resolution", [100, 224])
def test_cost_multiply_adds_equal_forward_hook_count(key, resolution):
    spec = FAMILY_SPECS[key].with_resolution(resolution)
    model = build_model(spec, seed=0).eval()
    assert _hook_macs(model, resolution) == cost(spec).flops


@pytest.mark.parametrize("key", FAMILY_SPECS)
def test_every_block_output_shape_matches_its_layers(key):
    spec = FAMILY_SPECS[key].with_resolution(100)  # odd sizes on the way down: 50, 25, 13, 7, 4
    model = build_model(spec, seed=0).eval()
    assert isinstance(model, Network)
    x = torch.randn(1, 3, 100, 100)
    h = w = 100
    with torch.no_grad():
        for block, module in zip(model.blocks, model):
            _, h, w = block.layers(h, w)
            x = module(x)
            expected = (1, block.cout) if x.dim() == 2 else (1, block.cout, h, w)
            assert tuple(x.shape) == expected, block.name


@pytest.mark.parametrize("key", FAMILY_SPECS)
def test_block_names_follow_stage_convention(key):
    stages = {b.name.split(".")[0] for b in baseline_plan(FAMILY_SPECS[key])}
    assert stages <= {"stem", "stage1", "stage2", "stage3", "stage4", "head"}
    assert {"stem", "stage2", "stage3", "stage4", "head"} <= stages


def test_resolution_classes_and_input_channels_follow_the_spec():
    spec = BaselineSpec("xception", 1.0, resolution=96, num_classes=10, in_channels=1)
    model = build_model(spec, seed=0).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 96, 96)).shape == (2, 10)
    assert cost(spec).flops < cost(spec.with_resolution(224)).flops


def test_wider_means_more_flops_in_every_family():
    for family in BASELINE_FAMILIES:
        flops = [cost(BaselineSpec(family, w)).flops for w in (0.5, 1.0, 2.0)]
        assert flops == sorted(flops) and len(set(flops)) == 3, family


# ----------------------------------------------------------------------------------------- block structure


def _kinds(block, h: int = 16, w: int = 16) -> list[str]:
    return [layer.kind for layer in block.layers(h, w)[0]]


def test_inverted_residual_structure():
    first = InvertedResidual("b", 32, 16, 1, 1)
    assert len(first.convs()) == 2 and not first.residual  # t = 1: no expand conv; 32 -> 16: no add
    assert _kinds(first) == ["dwconv", "relu6", "pwconv"]
    body = InvertedResidual("b", 24, 24, 1, 6)
    assert body.residual and body.hidden == 144
    assert _kinds(body) == ["pwconv", "relu6", "dwconv", "relu6", "pwconv", "add"]
    down = InvertedResidual("b", 24, 24, 2, 6)
    assert not down.residual and down.layers(16, 16)[1:] == (8, 8)


def test_shufflenet_v1_units():
    blocks = baseline_plan(BaselineSpec("shufflenet_v1", 1.0))
    units = [b for b in blocks if isinstance(b, ShuffleV1Unit)]
    assert [u.cout for u in units] == [240] * 4 + [480] * 8 + [960] * 4
    first, second = units[0], units[1]
    assert first.dense_first and first.convs()[0].groups == 1 and not first.shuffles
    assert first.branch_out == 240 - 24 and first.mid == 60
    assert second.convs()[0].groups == 3 and second.convs()[2].groups == 3 and second.shuffles
    assert _kinds(second) == ["gconv", "relu", "shuffle", "dwconv", "gconv", "add", "relu"]
    assert _kinds(units[4]) == ["gconv", "relu", "shuffle", "dwconv", "gconv", "avgpool", "concat", "relu"]
    assert units[4].branch_out == 480 - 240


def test_shufflenet_v1_unknown_group_count_is_a_spec_error():
    with pytest.raises(SpecError, match="groups"):
        baseline_plan(BaselineSpec("shufflenet_v1", 1.0, groups=5))


def test_xception_block_structure():
    blocks = [b for b in baseline_plan(BaselineSpec("xception", 1.0)) if isinstance(b, XceptionBlock)]
    assert [b.cout for b in blocks] == [128] * 4 + [256] * 8 + [512] * 4
    assert [b.stride for b in blocks].count(2) == 3
    down, body = blocks[0], blocks[1]
    assert down.projects and len(down.shortcut()) == 1 and down.mid == 32
    assert not body.projects and body.shortcut() == ()
    assert [c.kind for c in body.convs()] == ["dwconv", "pwconv"] * 3
    assert _kinds(body) == ["dwconv", "pwconv", "relu", "dwconv", "pwconv", "relu", "dwconv", "pwconv", "add",
                            "relu"]
    assert _kinds(down)[-4:] == ["pwconv", "pwconv", "add", "relu"]  # last main 1x1, projection, add, ReLU


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]


def test_block_modules_need_no_registration_step():
    """A baseline block gets its module in a fresh process without planning a network first."""
    code = ("import search_space.baselines as b\n"
            "from search_space.modules import block_module\n"
            "print(type(block_module(b.InvertedResidual('x', 8, 8, 1, 1))).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "InvertedResidualModule"

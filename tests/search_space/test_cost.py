"""Cost model: Table 5/6/8 targets and agreement with the network that is built."""

import numpy as np
import pytest
import torch
from torch import nn

from search_space.build import build_model
from search_space.cost import cost
from search_space.references import NETWORKS, reference_spec
from search_space.space import SearchSpace

TABLE5 = {  # name: (paper MFLOPs, reference implementation's parameter count in M)
    "shufflenet_v2_x0_5": (41, 1.366792),
    "shufflenet_v2_x1_0": (146, 2.278604),
    "shufflenet_v2_x1_5": (299, 3.503624),
    "shufflenet_v2_x2_0": (591, 7.393996),
}


@pytest.mark.parametrize("name", TABLE5)
def test_table5_flops_within_2pct_and_params_within_half_pct(name):
    flops_m, params_m = TABLE5[name]
    c = cost(reference_spec(name))
    assert abs(c.flops_m / flops_m - 1) <= 0.02
    assert abs(c.params_m / params_m - 1) <= 0.005


@pytest.mark.parametrize("name, gflops", [("shufflenet_v2_50", 2.3), ("se_shufflenet_v2_164", 12.7)])
def test_large_models_within_5pct(name, gflops):
    assert abs(cost(reference_spec(name)).flops_m / 1000 / gflops - 1) <= 0.05


def test_every_registered_network_with_a_paper_figure_is_within_5pct():
    for name, ref in NETWORKS.items():
        if ref.paper_mflops is not None:
            got = cost(reference_spec(name)).flops_m
            assert abs(got / ref.paper_mflops - 1) <= 0.05, (name, got, ref.paper_mflops)


def hook_flops(model: nn.Module, resolution: int) -> int:
    """Multiply-adds counted independently from the modules that actually run."""
    total = 0

    def conv_hook(m, inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def fc_hook(m, inp, out):
        nonlocal total
        total += m.in_features * m.out_features

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(fc_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(torch.empty(1, 3, resolution, resolution, device="meta"))
    for h in handles:
        h.remove()
    return total


def shufflenet_names():
    return [n for n, r in NETWORKS.items() if r.family == "shufflenet_v2"]


@pytest.mark.parametrize("name", shufflenet_names())
def test_cost_agrees_with_the_built_network(name):
    spec = reference_spec(name)
    c = cost(spec)
    model = build_model(spec, device="meta")
    assert sum(p.numel() for p in model.parameters()) == round(c.params_m * 1e6)
    assert hook_flops(model, spec.resolution) == c.flops


def test_cost_agrees_on_random_specs():
    space = SearchSpace.default()
    rng = np.random.default_rng(7)
    for _ in range(10):
        spec = space.sample(rng)
        c = cost(spec)
        model = build_model(spec, device="meta")
        assert sum(p.numel() for p in model.parameters()) == round(c.params_m * 1e6)
        assert hook_flops(model, spec.resolution) == c.flops


def test_mac_follows_the_g1_definition():
    spec = reference_spec("shufflenet_v2_x1_0")
    layer = next(l for l in cost(spec).layers if l.kind == "pwconv" and l.h_in == 28 and l.cin == l.cout)
    hw = layer.h_in * layer.w_in
    assert layer.mac == hw * (layer.cin + layer.cout) + layer.cin * layer.cout
    assert layer.flops == hw * layer.cin * layer.cout


def test_breakdowns_add_up():
    c = cost(reference_spec("shufflenet_v2_x1_0"))
    stages = c.by_stage()
    assert list(stages) == ["stem", "stage2", "stage3", "stage4", "head"]
    assert sum(r["flops_m"] for r in stages.values()) == pytest.approx(c.flops_m)
    assert sum(r["mac_m"] for r in stages.values()) == pytest.approx(c.mac_m)
    assert c.fragments == sum(c.block_fragments().values())
    kinds = c.by_kind()
    assert kinds["concat_shuffle"]["count"] == 16  # one merged concat+shuffle per unit, no separate shuffle
    assert "shuffle" not in kinds


def test_resolution_scales_feature_map_costs():
    spec = reference_spec("shufflenet_v2_x1_0")
    assert cost(spec.with_resolution(112)).flops_m < cost(spec).flops_m / 3

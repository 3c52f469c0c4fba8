"""SearchSpace: sampling, the parameter mapping, membership."""

import numpy as np
import pytest
import torch

from search_space.build import build_model
from search_space.cost import cost
from search_space.references import reference_spec
from search_space.space import ParamError, SearchSpace
from search_space.spec import KERNELS, VARIANTS


@pytest.fixture(scope="module")
def space():
    return SearchSpace.default()


@pytest.mark.slow
def test_500_random_specs_are_valid_buildable_and_members(space):
    rng = np.random.default_rng(2024)
    specs = [space.sample(rng) for _ in range(500)]
    for spec in specs:
        assert space.contains(spec)
        model = build_model(spec, device="meta")  # structure and shapes, without allocating weights
        out = model(torch.empty(1, 3, spec.resolution, spec.resolution, device="meta"))
        assert out.shape == (1, spec.num_classes)
        assert sum(p.numel() for p in model.parameters()) == round(cost(spec).params_m * 1e6)
    # a real forward pass on a few of them
    for spec in specs[:3]:
        small = spec.with_resolution(32)
        with torch.no_grad():
            assert build_model(small, seed=0).eval()(torch.randn(1, 3, 32, 32)).shape == (1, 1000)


def test_samples_cover_every_unit_choice(space):
    rng = np.random.default_rng(0)
    units = [u for _ in range(200) for st in space.sample(rng).stages for u in st.units]
    assert {u.kernel for u in units} == set(KERNELS)
    assert {u.variant for u in units} == set(VARIANTS)
    assert {u.split_ratio for u in units} == set(space.split_ratios)
    assert {u.se for u in units} == {False, True}


def test_sampling_is_seeded(space):
    a = [space.sample(np.random.default_rng(5)).arch_id for _ in range(3)]
    b = [space.sample(np.random.default_rng(5)).arch_id for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(5)
    assert len({space.sample(rng).arch_id for _ in range(20)}) == 20


def test_params_round_trip(space):
    rng = np.random.default_rng(1)
    for _ in range(50):
        spec = space.sample(rng)
        params = space.to_params(spec)
        assert space.from_params(params) == spec
        assert all(isinstance(k, str) for k in params)


def test_from_params_names_the_bad_parameter(space):
    params = space.to_params(space.sample(np.random.default_rng(3)))
    bad = dict(params, s0_u0_kernel=4)
    with pytest.raises(ParamError, match="s0_u0_kernel"):
        space.from_params(bad)
    missing = {k: v for k, v in params.items() if k != "s1_depth"}
    with pytest.raises(ParamError, match="s1_depth"):
        space.from_params(missing)


def test_contains_the_hand_designed_scales_but_not_foreign_specs(space):
    for name in ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5"):
        assert space.contains(reference_spec(name))
    assert not space.contains(reference_spec("shufflenet_v2_50"))  # four stages, 64-wide stem
    assert not space.contains(reference_spec("shufflenet_v2_x1_0").with_resolution(96))


def test_with_fixed_removes_the_dimension(space):
    fixed = space.with_fixed(resolution=224, num_classes=10)
    spec = fixed.sample(np.random.default_rng(0))
    assert spec.resolution == 224 and spec.num_classes == 10
    assert "resolution" not in fixed.to_params(spec)
    assert space.size_log10() > fixed.size_log10() > 30


def test_scaled_samples_are_members_spread_over_sizes():
    from search_space.cost import cost

    space = SearchSpace.default()
    scaled = [space.sample_scaled(np.random.default_rng(i)) for i in range(200)]
    uniform = [space.sample(np.random.default_rng(i)) for i in range(200)]
    assert all(space.contains(s) for s in scaled)
    assert space.sample_scaled(np.random.default_rng(3)) == scaled[3]  # seeded
    f_scaled = np.array([cost(s).flops_m for s in scaled])
    f_uniform = np.array([cost(s).flops_m for s in uniform])
    # the same space, but small and large members are common instead of rare
    assert np.percentile(f_scaled, 5) < 0.7 * np.percentile(f_uniform, 5)
    assert np.percentile(f_scaled, 95) > np.percentile(f_uniform, 95)

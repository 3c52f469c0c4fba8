"""The supernet: a path computes what the stand-alone network with the copied weights computes; paths train only
their own weights; members outside the space are refused."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from search_space.blocks import ShuffleUnit

from nas.evaluators.proxy_net import build_proxy_model
from nas.evaluators.supernet import Supernet, SupernetError, space_from_dict, space_to_dict, widest_member
from search_space.space import SearchSpace
from search_space.spec import UnitSpec
from tests.nas.evaluators.conftest import tiny_spec
from tests.nas.evaluators.supernet.conftest import TINY_SPACE


@pytest.fixture(scope="module")
def supernet(tiny_data) -> Supernet:
    """A supernet whose BatchNorm statistics are not the initial ones (a few training-mode passes of random paths)."""
    net = Supernet(TINY_SPACE, tiny_data.task, seed=1).train()
    rng = np.random.default_rng(5)
    x = torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for _ in range(8):
            net(x, TINY_SPACE.sample(rng))
    return net.eval()


def members(n: int, seed: int = 0) -> list:
    """The widest and the narrowest member, and n random ones (every variant, kernel, split ratio, SE, residual)."""
    rng = np.random.default_rng(seed)
    narrow = TINY_SPACE.build(lambda d: d.values()[0])
    return [widest_member(TINY_SPACE), narrow] + [TINY_SPACE.sample(rng) for _ in range(n)]


def test_a_sub_network_computes_what_the_stand_alone_network_computes(supernet, tiny_data):
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    seen = set()
    for spec in members(10):
        seen |= {(u.variant, u.kernel, u.split_ratio, u.se, u.residual) for st in spec.stages for u in st.units}
        net = supernet.extract(spec)
        assert not net.training and net.spec.arch_id == build_proxy_model(spec, tiny_data.task, seed=0).spec.arch_id
        with torch.no_grad():
            torch.testing.assert_close(supernet(x, spec), net(x), rtol=1e-5, atol=1e-5)
        # training mode too (batch statistics), on copies: both update their running statistics
        sn, sa = copy.deepcopy(supernet).train(), copy.deepcopy(net).train()
        with torch.no_grad():
            torch.testing.assert_close(sn(x, spec), sa(x), rtol=1e-5, atol=1e-5)
        after = sn.subnet_state_dict(spec)  # the running statistics were updated alike
        for key, value in sa.state_dict().items():
            torch.testing.assert_close(after[key], value, rtol=1e-6, atol=1e-6, msg=key)
    assert {v for v, *_ in seen} == set(TINY_SPACE.variants) and {k for _, k, *_ in seen} == set(TINY_SPACE.kernels)
    assert {s for _, _, s, _, _ in seen} == set(TINY_SPACE.split_ratios) and {True, False} <= {se for *_, se, _ in seen}
    assert True in {r for *_, r in seen}


def test_the_sub_network_state_has_the_builders_keys_and_shapes(supernet, tiny_data):
    for spec in members(4, seed=1):
        got = supernet.subnet_state_dict(spec)
        want = build_proxy_model(spec, tiny_data.task, seed=0).state_dict()
        assert {k: tuple(v.shape) for k, v in got.items()} == {k: tuple(v.shape) for k, v in want.items()}
        assert all(v.is_contiguous() for v in got.values())  # copies, not views into the supernet


def test_extracted_weights_are_copies(supernet, tiny_data):
    spec = tiny_spec()
    net = supernet.extract(spec)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    assert all(torch.equal(before[k], v) for k, v in supernet.state_dict().items())


def test_a_step_trains_only_the_paths_weights(tiny_data):
    net = Supernet(TINY_SPACE, tiny_data.task, seed=0).train()
    spec = TINY_SPACE.sample(np.random.default_rng(3))
    x, y = torch.randn(8, 3, 16, 16), torch.arange(8) % 4
    F.cross_entropy(net(x, spec), y).backward()
    used = {id(layer) for module, block in net.route(net.member(spec)) if isinstance(block, ShuffleUnit)
            for layer, _ in module.main_layers(block)}
    depth = {(s, u) for s, st in enumerate(spec.stages) for u in range(st.depth)}
    for s, stage in enumerate(net.stages):
        for u, position in enumerate(stage):
            for name, layer in position.main.items():
                g = layer.weight.grad
                assert (g is not None) == (id(layer) in used), (s, u, name)
            if (s, u) not in depth:
                assert all(p.grad is None for p in position.parameters()), (s, u)
    # within a used layer, channels beyond the path's width get zero gradient
    block = next(b for m, b in net.route(net.member(spec)) if isinstance(b, ShuffleUnit))
    layer, conv = net.stages[0][0].main_layers(block)[-1]
    c = conv.cout
    assert torch.count_nonzero(layer.weight.grad[c:]) == 0 and torch.count_nonzero(layer.weight.grad[:c]) > 0


def test_batchnorm_running_statistics_update_in_the_widest_buffers(tiny_data):
    net = Supernet(TINY_SPACE, tiny_data.task, seed=0).train()
    spec = widest_member(TINY_SPACE)
    bn = net.stem[0].bn
    before = bn.running_mean.clone()
    with torch.no_grad():
        net(torch.randn(4, 3, 16, 16), spec)
    assert not torch.equal(before, bn.running_mean) and int(bn.num_batches_tracked) == 1


def test_members_outside_the_space_are_refused(supernet):
    spec = tiny_spec()
    assert supernet.member(spec.with_resolution(160).with_classes(10)).num_classes == 4  # deployment input is free
    for bad, field in ((tiny_spec(widths=(16, 32, 68)), "s2_width"), (tiny_spec(head_width=48), "head_width"),
                       (replace(spec, stem=(12,)), "space's fixed choices")):
        with pytest.raises(SupernetError, match=field):
            supernet.member(bad)
    deep = replace(spec, stages=(spec.stages[0], replace(spec.stages[1], units=(UnitSpec(),) * 3), spec.stages[2]))
    with pytest.raises(SupernetError, match="s1_depth"):
        supernet.extract(deep)


def test_the_space_record_round_trips():
    for space in (TINY_SPACE, SearchSpace.default(), SearchSpace.default().with_fixed(224, 10, 3)):
        assert space_from_dict(space_to_dict(space)) == space
    with pytest.raises(ValueError, match="damaged"):
        space_from_dict({"stages": []})


def test_kernels_share_one_super_kernel(tiny_data):
    """A unit with a smaller kernel than the space's largest trains only the centre of the shared depthwise kernel."""
    net = Supernet(TINY_SPACE, tiny_data.task, seed=0).train()
    small, large = min(TINY_SPACE.kernels), max(TINY_SPACE.kernels)
    assert small < large
    spec = TINY_SPACE.sample(np.random.default_rng(3))
    spec = replace(spec, stages=tuple(replace(st, units=tuple(replace(u, kernel=small) for u in st.units))
                                      for st in spec.stages))
    x, y = torch.randn(8, 3, 16, 16), torch.arange(8) % 4
    F.cross_entropy(net(x, spec), y).backward()
    st0 = spec.stages[0]
    block = net.stages[0][0]
    dw = next(layer for layer in block.main.values() if layer.depthwise and layer.kernel == large)
    g = dw.weight.grad
    off = (large - small) // 2
    centre = torch.zeros_like(g, dtype=torch.bool)
    centre[:, :, off:off + small, off:off + small] = True
    assert torch.count_nonzero(g[~centre]) == 0 and torch.count_nonzero(g[centre]) > 0


def test_variants_share_the_layers_next_to_the_branch_output(tiny_data):
    """v2, v2* and the Xception-like unit write their outputs with one shared pointwise layer (and read the same
    depthwise layer before it), so the next unit sees channels of one meaning whichever variant ran."""
    net = Supernet(TINY_SPACE, tiny_data.task, seed=0)
    base = widest_member(TINY_SPACE)
    layers = {}
    for variant in TINY_SPACE.variants:
        spec = replace(base, stages=tuple(replace(st, units=tuple(replace(u, variant=variant) for u in st.units))
                                          for st in base.stages))
        block = next(b for m, b in net.route(net.member(spec)) if isinstance(b, ShuffleUnit))
        layers[variant] = [id(layer) for layer, _ in net.stages[0][0].main_layers(block)]
    assert len(layers) == 3
    assert len({ids[-1] for ids in layers.values()}) == 1 and len({ids[-2] for ids in layers.values()}) == 1
    assert len({len(ids) for ids in layers.values()}) == 3  # the variants still differ in their layers


def test_every_channel_has_one_id_within_the_weights_of_the_layers_that_read_it(tiny_data):
    net = Supernet(TINY_SPACE, tiny_data.task, seed=0)
    for spec in members(20, seed=2):
        proxy = net.member(spec)
        for (module, block), ids in zip(net.route(proxy), net.path_ids(proxy)):
            if not isinstance(block, ShuffleUnit):
                continue
            ids = torch.arange(block.cin) if ids is None else ids
            assert len(ids) == block.cin and len(set(ids.tolist())) == block.cin
            assert int(ids.max()) < module.in_ids
            out = module.out_ids(block, ids)
            assert len(set(out.tolist())) == block.cout_
            n_a, n_b = block.mix()
            if block.first:  # a first unit names its side branch 0.., its main branch width..
                assert set(out.tolist()) == set(range(n_a)) | set(range(module.width, module.width + n_b))
            else:  # the identity part keeps its ids, the branch's are new
                assert set(out.tolist()) == set(ids[:n_a].tolist()) | set(range(module.out_base,
                                                                                 module.out_base + n_b))


def test_a_channel_meets_the_same_weight_whatever_the_width_before_it(tiny_data):
    """The weight column an input channel of unit 1 meets is chosen by what made the channel: two paths that differ
    only in the stage's width (so a channel of unit 0 sits elsewhere in unit 1's branch input) use the same column
    for it, and the step trains only the columns of the channels the path had."""
    net = Supernet(TINY_SPACE, tiny_data.task, seed=0)
    base = widest_member(TINY_SPACE)
    st = base.stages[0]
    cols = []
    for width in (12, 16):
        units = tuple(replace(u, variant="v2", split_ratio=0.5) for u in st.units)
        spec = replace(base, stages=(replace(st, width=width, units=units),) + base.stages[1:])
        proxy = net.member(spec)
        route = list(zip(net.route(proxy), net.path_ids(proxy)))
        (module, block), ids = next(r for r in route if isinstance(r[0][1], ShuffleUnit) and not r[0][1].first)
        index = module.layer_indexes(block, ids)[0][0]  # the columns of the branch's first pointwise layer
        net.zero_grad(set_to_none=True)
        net.train()(torch.randn(2, 3, 16, 16), spec).sum().backward()
        layer, _ = module.main_layers(block)[0]
        touched = torch.nonzero(layer.weight.grad.abs().sum((0, 2, 3))).flatten()
        assert set(touched.tolist()) == set(index.tolist())
        cols.append({i: p for p, i in enumerate(index.tolist())})  # id -> position in the branch input
    shared = set(cols[0]) & set(cols[1])
    assert shared and all(cols[0][i] != cols[1][i] for i in shared)  # same channels, other positions, same columns

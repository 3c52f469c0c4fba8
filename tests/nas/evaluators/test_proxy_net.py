"""proxy_spec: the deployment body at the proxy input; only the documented fields change."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from nas.data.proxy import ProxyTask
from nas.evaluators.proxy_net import (MIN_PROXY_FINAL_PX, build_proxy_model, final_feature_px, plan_final_px,
                                      plan_stem, proxy_plan, proxy_spec, proxy_stem)
from search_space.build import build_model
from search_space.plan import plan
from search_space.references import NETWORKS, reference_spec
from search_space.spec import BaselineSpec, SpecError
from tests.nas.evaluators.conftest import tiny_spec

CHANGED = {"resolution", "num_classes", "in_channels", "stem_stride", "stem_pool"}


def _task(resolution: int = 32, channels: int = 3, num_classes: int = 10) -> ProxyTask:
    return ProxyTask(dataset="d", resolution=resolution, channels=channels, num_classes=num_classes, train_examples=1,
                     val_examples=1, test_examples=0, val_fraction=0.1, seed=0, mean=(0.5,) * channels,
                     std=(0.25,) * channels, source_channels=1)


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "shufflenet_v2_x0_5", "shufflenet_v2_50"])
@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_proxy_keeps_the_body_and_changes_only_the_documented_fields(name, resolution):
    spec = reference_spec(name)
    proxy = proxy_spec(spec, _task(resolution, channels=1, num_classes=10))
    assert (proxy.resolution, proxy.num_classes, proxy.in_channels) == (resolution, 10, 1)
    a, b = spec.to_dict(), proxy.to_dict()
    assert {k for k in a if a[k] != b[k]} <= CHANGED
    assert proxy.stages == spec.stages and proxy.stem == spec.stem and proxy.head_width == spec.head_width
    assert proxy.name == spec.name
    assert final_feature_px(proxy) >= MIN_PROXY_FINAL_PX


@pytest.mark.parametrize("resolution, stem, final", [(32, (1, False), 4), (64, (2, False), 4), (128, (2, True), 4),
                                                     (224, (2, True), 7)])
def test_stem_rule_for_three_stride_two_stages(resolution, stem, final):
    spec = reference_spec("shufflenet_v2_x1_0")
    proxy = proxy_spec(spec, _task(resolution))
    assert (proxy.stem_stride, proxy.stem_pool) == stem
    assert final_feature_px(proxy) == final


def test_deployment_resolution_proxy_is_the_deployment_body():
    spec = reference_spec("shufflenet_v2_x1_0").with_classes(10)
    assert proxy_spec(spec, _task(224)).arch_id == spec.arch_id


def test_proxy_never_downsamples_more_than_the_deployment_stem():
    spec = replace(tiny_spec(), stem_stride=1, stem_pool=False)
    assert proxy_stem(spec, 224) == (1, False)
    pooled = replace(tiny_spec(), stem_stride=1, stem_pool=True)
    assert proxy_stem(pooled, 224) == (1, True) and proxy_stem(pooled, 32) == (1, False)


def test_tiny_proxy_input_takes_the_least_downsampling():
    assert proxy_stem(tiny_spec(), 16) == (1, False)


def test_resolution_below_archspec_minimum_is_a_spec_error():
    with pytest.raises(SpecError, match="resolution"):
        proxy_spec(tiny_spec(), _task(8))


def test_proxy_spec_is_for_archspecs_only():
    with pytest.raises(TypeError, match="ArchSpec"):
        proxy_spec(BaselineSpec(family="mobilenet_v1", width_mult=0.5), _task())  # type: ignore[arg-type]


def test_build_proxy_model_shapes_and_seed():
    task = _task(32, channels=3, num_classes=7)
    a = build_proxy_model(tiny_spec(), task, seed=3)
    b = build_proxy_model(tiny_spec(), task, seed=3, channels_last=False)
    x = torch.randn(2, 3, 32, 32)
    a.eval(), b.eval()
    with torch.no_grad():
        out = a(x)
        assert out.shape == (2, 7)
        torch.testing.assert_close(out, b(x))
    assert a.spec == proxy_spec(tiny_spec(), task)


# ------------------------------------------------------------------------------------- other families
BASELINES = [n for n in NETWORKS.names() if isinstance(NETWORKS.get(n).spec(), BaselineSpec)]


@pytest.mark.parametrize("name", BASELINES)
def test_other_families_keep_their_body_and_adapt_only_the_stem(name):
    spec = reference_spec(name)
    task = _task(32, channels=1, num_classes=10)
    proxy, blocks = proxy_plan(spec, task)
    assert (proxy.resolution, proxy.num_classes, proxy.in_channels) == (32, 10, 1)
    assert (proxy.family, proxy.width_mult, proxy.groups) == (spec.family, spec.width_mult, spec.groups)
    own = plan(proxy)
    body = [b for b in own[1:] if b.name != "stem.pool"]
    assert list(blocks[1:]) == body  # everything after the stem convolution is the family's own
    assert blocks[0].name == own[0].name == "stem.conv0" and blocks[0].cout == own[0].cout
    stride, pool = plan_stem(blocks)
    own_stride, own_pool = plan_stem(own)
    assert stride * (2 if pool else 1) <= own_stride * (2 if own_pool else 1)
    final = plan_final_px(blocks, 32)
    assert final >= MIN_PROXY_FINAL_PX or (stride, pool) == (1, False)  # else the least down-sampling
    net = build_proxy_model(spec, task, seed=0).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_a_family_with_a_pooled_stem_first_drops_the_pool():
    spec = reference_spec("shufflenet_v1_g3_x1_0")
    _, b64 = proxy_plan(spec, _task(64))
    assert plan_stem(b64) == (2, False) and plan_final_px(b64, 64) == 4
    _, b224 = proxy_plan(spec, _task(224))
    assert plan_stem(b224) == (2, True) and b224 == plan(spec.with_classes(10))  # the deployment network


def test_other_families_build_seeded_like_archspecs():
    spec, task = reference_spec("mobilenet_v2_x0_15"), _task(32)
    a, b = build_proxy_model(spec, task, seed=5), build_proxy_model(spec, task, seed=5)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    proxy, blocks = proxy_plan(spec, task)
    assert a.blocks == blocks and a.spec == proxy
    assert not torch.equal(next(a.parameters()), next(build_model(proxy, seed=6, blocks=blocks).parameters()))

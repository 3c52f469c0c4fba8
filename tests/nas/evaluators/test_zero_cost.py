"""Zero-cost proxies: finite, seeded, labelled as proxies; synflow grows with width; every ReLU is seen."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nas.evaluators.base import EvaluationError
from nas.evaluators.proxy_net import build_proxy_model
from nas.evaluators.zero_cost import (NaswotEvaluator, SynflowEvaluator, _ReluCodes, naswot_score, strip_batchnorm,
                                      synflow_score)
from search_space.spec import UnitSpec, uniform_stages
from tests.nas.evaluators.conftest import tiny_spec


@pytest.mark.parametrize("cls", [SynflowEvaluator, NaswotEvaluator])
def test_finite_repeatable_and_labelled(cls, spec, tiny_data):
    ev = cls(batch_size=16)
    a, b = ev.evaluate(spec, tiny_data, seed=3), ev.evaluate(spec, tiny_data, seed=3)
    assert math.isfinite(a.score) and a.score == b.score
    assert a.accuracy is None and a.kind == "zero-cost proxy" and a.metric.endswith("score")
    assert a.value == a.score and a.steps == 0 and a.history == ()


def test_synflow_is_larger_for_a_wider_network_of_the_same_shape(tiny_data):
    ev = SynflowEvaluator()
    narrow = ev.evaluate(tiny_spec((16, 32, 64), head_width=64), tiny_data, seed=0).score
    wide = ev.evaluate(tiny_spec((32, 64, 128), head_width=128), tiny_data, seed=0).score
    assert wide > narrow > 0


def test_naswot_depends_on_the_seeded_minibatch(spec, tiny_data):
    ev = NaswotEvaluator(batch_size=16)
    assert ev.evaluate(spec, tiny_data, seed=0).score != ev.evaluate(spec, tiny_data, seed=1).score


def test_synflow_removes_batchnorm_and_uses_absolute_float64_weights(spec, tiny_data):
    model = build_proxy_model(spec, tiny_data.task, seed=0, channels_last=False)
    synflow_score(model, (1, 3, 16, 16))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(p.dtype == torch.float64 and bool((p >= 0).all()) for p in model.parameters())


def test_strip_batchnorm():
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm2d(2)))
    strip_batchnorm(net)
    assert [type(m).__name__ for m in net.modules()] == ["Sequential", "Conv2d", "Identity", "Sequential", "Identity"]


class _Mixed(nn.Module):
    """An in-place ReLU module, a functional in-place ReLU and a tensor-method ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv(x))
        z = F.relu(y - 0.5, inplace=True)
        return (z - 0.1).relu()


def test_relu_codes_catch_modules_and_functional_calls_before_inplace_writes():
    model, x = _Mixed(), torch.randn(3, 1, 2, 2)
    with torch.no_grad():
        pre = model.conv(x)
    mode = _ReluCodes(keep=True)
    with torch.no_grad(), mode:
        model(x)
    assert len(mode.codes) == mode.calls == 3
    assert torch.equal(mode.codes[0], (pre > 0).flatten(1))
    c = torch.cat(mode.codes, 1).double()
    torch.testing.assert_close(mode.kernel, c @ c.T + (1 - c) @ (1 - c).T)


def test_naswot_sees_every_relu_of_a_residual_se_network(tiny_data):
    s = tiny_spec()
    s = replace(s, stages=uniform_stages((16, 32, 64), (1, 2, 1), UnitSpec(se=True, residual=True)))
    model = build_proxy_model(s, tiny_data.task, seed=0, channels_last=False)
    relu_modules = sum(isinstance(m, nn.ReLU) for m in model.modules())
    residual_units, se_units = 1, 4  # one basic unit (residual) in stage 3; SE in every unit
    mode = _ReluCodes()
    with torch.no_grad(), mode:
        model(torch.randn(4, 3, 16, 16))
    assert mode.calls == relu_modules + residual_units + se_units


def test_naswot_singular_kernel_is_an_evaluation_error(spec, tiny_data):
    model = build_proxy_model(spec, tiny_data.task, seed=0, channels_last=False)
    x = torch.randn(1, 3, 16, 16).repeat(4, 1, 1, 1)
    with pytest.raises(EvaluationError, match="singular"):
        naswot_score(model, x)


def test_naswot_score_is_logdet_of_the_code_kernel():
    model = nn.Sequential(nn.Flatten(), nn.ReLU())
    x = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    c = (x > 0).double()
    k = c @ c.T + (1 - c) @ (1 - c).T
    assert naswot_score(model, x) == pytest.approx(float(torch.linalg.slogdet(k).logabsdet))

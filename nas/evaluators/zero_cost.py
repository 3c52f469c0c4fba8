"""Zero-cost proxies (no training): synflow (Tanaka et al. 2020) and a NASWOT score (Mellor et al. 2021).

Both score the freshly initialised proxy network (nas.evaluators.proxy_net) from one seeded draw and are labelled
`kind="zero-cost proxy"`: their score ranks architectures, it is not an accuracy. Neither trains, so either takes a
fraction of a second per network at a 32 px proxy.

synflow: all weights replaced by their absolute values, BatchNorm disabled (each BatchNorm2d replaced by the
identity, as the `bn=False` synflow of the zero-cost-NAS / NAS-Bench-Suite-Zero code does; a freshly initialised
BN in eval mode would be the same map up to 1/sqrt(1 + eps)), float64 throughout (the product of |W| over ~50
layers is large), an all-ones input of the proxy's shape (1, C, res, res), R = sum of the outputs, and
score = sum over conv and linear weights of |theta * dR/dtheta|. The data only fix the input shape.

NASWOT: one minibatch of proxy training images (drawn with the seed), the network in training mode (BatchNorm on
batch statistics, as a fresh network is scored in the reference code), the binary code (x > 0) of the input of
every ReLU concatenated per image, K = c c^T + (1 - c)(1 - c)^T (float64), score = log|det K|. ReLUs are caught
with a torch function mode, so `nn.ReLU(inplace=True)` modules and functional `F.relu` calls (the residual add,
SE) are all seen, whatever module calls them.
"""

from __future__ import annotations

import abc

import time
from dataclasses import dataclass, fields
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from search_space.spec import ArchSpec

from nas.data.proxy import ProxyData
from nas.evaluators.base import (ConfigError, EvalResult, EvaluationError, Evaluator, Report, check_finite,
                                 check_known_options, params_m, torch_threads)
from nas.evaluators.proxy_net import build_proxy_model

_BATCH_STREAM = 2  # numpy stream [seed, 2] picks the NASWOT minibatch


@dataclass(frozen=True)
class ZeroCostConfig:
    """`batch_size` images in the scored minibatch (NASWOT; synflow uses one all-ones input), torch `threads`."""

    batch_size: int = 64
    threads: int = 1

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 2), ("threads", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name}: {value!r} must be an integer >= {low}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ZeroCostConfig":
        check_known_options(cls, d, "zero-cost")
        return cls(**d)


def strip_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d of `model` by nn.Identity, in place; returns the model."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, name, nn.Identity())
    return model


def synflow_score(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Synflow of `model` (modified in place: |weights|, float64, BN removed) for an all-ones input of input_shape."""
    strip_batchnorm(model)
    model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    x = torch.ones(input_shape, dtype=torch.float64)
    model(x).sum().backward()
    total = 0.0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None:
            total += float((m.weight.detach() * m.weight.grad).abs().sum())
    return total


_RELU_FUNCS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class _ReluCodes(TorchFunctionMode):
    """Accumulates the NASWOT kernel from (input > 0) of every ReLU call, taken before an in-place ReLU runs.

    Per ReLU with codes c (B, n): c c^T + (1 - c)(1 - c)^T = 2 c c^T - r 1^T - 1 r^T + n with r = c 1, so only c c^T
    is multiplied (float32 is exact for counts below 2^24) and one layer's codes are held at a time. `keep` also
    stores the codes (tests).
    """

    def __init__(self, keep: bool = False) -> None:
        super().__init__()
        self.keep = keep
        self.codes: list[torch.Tensor] = []
        self.calls = 0
        self.kernel: torch.Tensor | None = None

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _RELU_FUNCS:
            x = args[0] if args else kwargs["input"]
            self._add((x.detach() > 0).flatten(1))
        return func(*args, **kwargs)

    def _add(self, code: torch.Tensor) -> None:
        self.calls += 1
        if self.keep:
            self.codes.append(code)
        c = code.to(torch.float32)
        ones = c.sum(1, dtype=torch.float64)
        k = 2.0 * (c @ c.T).to(torch.float64) - ones[:, None] - ones[None, :] + c.shape[1]
        self.kernel = k if self.kernel is None else self.kernel + k


def naswot_score(model: nn.Module, x: torch.Tensor) -> float:
    """log|det K| of the binary ReLU codes of minibatch x (B, C, H, W); model in training mode, no gradients."""
    model.train()
    mode = _ReluCodes()
    with torch.no_grad(), mode:
        model(x)
    if mode.kernel is None:
        raise EvaluationError("NASWOT found no ReLU in the network")
    k = mode.kernel
    # K[i, j] counts the units where images i and j agree; K[i, i] is the total. Equal codes make K singular.
    same = (k == k.diagonal()[:, None]) & ~torch.eye(len(k), dtype=torch.bool)
    sign, logdet = torch.linalg.slogdet(k)
    if bool(same.any()) or float(sign) == 0.0:
        raise EvaluationError("NASWOT kernel is singular: two images of the minibatch share every ReLU code")
    return float(logdet)


class _ZeroCost(Evaluator, abc.ABC):
    kind = "zero-cost proxy"

    def __init__(self, config: ZeroCostConfig | None = None, **overrides: Any):
        base = config or ZeroCostConfig()
        self.config = ZeroCostConfig.from_dict({**{f.name: getattr(base, f.name) for f in fields(base)}, **overrides})

    @abc.abstractmethod
    def _score(self, model: nn.Module, data: ProxyData, seed: int) -> float:
        """The proxy's score of one seeded network on one minibatch."""

    def evaluate(self, spec: ArchSpec, data: ProxyData, *, seed: int, report: Report | None = None) -> EvalResult:
        """Score the seeded proxy network; `report` is not called (nothing to prune in a single step)."""
        start = time.perf_counter()
        with torch_threads(self.config.threads):
            model = build_proxy_model(spec, data.task, seed=seed, channels_last=False)
            n_params, proxy_id = params_m(model), model.spec.arch_id
            score = check_finite(self._score(model, data, seed), f"{self.metric} of {spec.label()}")
        return EvalResult(evaluator=self.name, kind=self.kind, metric=self.metric, accuracy=None, score=score,
                          seed=seed, steps=0, epochs=0.0, train_seconds=time.perf_counter() - start, history=(),
                          params_m=n_params, proxy_arch_id=proxy_id)


class SynflowEvaluator(_ZeroCost):
    """Synflow score of the initial proxy network (higher ranks higher); a zero-cost proxy, not an accuracy."""

    name = "synflow"
    metric = "synflow score"
    label = "synflow score (zero-cost proxy, not an accuracy)"

    def _score(self, model: nn.Module, data: ProxyData, seed: int) -> float:
        t = data.task
        return synflow_score(model, (1, t.channels, t.resolution, t.resolution))


class NaswotEvaluator(_ZeroCost):
    """NASWOT log|det K| of the initial proxy network on one seeded minibatch; a zero-cost proxy, not an accuracy."""

    name = "naswot"
    metric = "naswot score"
    label = "naswot score (zero-cost proxy, not an accuracy)"

    def _score(self, model: nn.Module, data: ProxyData, seed: int) -> float:
        n = min(self.config.batch_size, len(data.train))
        rng = np.random.default_rng([seed, _BATCH_STREAM])
        x, _ = next(data.train.batches(n, shuffle=True, seed=rng, proxy=data.task))
        return naswot_score(model, x)


__all__ = ["NaswotEvaluator", "SynflowEvaluator", "ZeroCostConfig", "naswot_score", "strip_batchnorm",
           "synflow_score"]

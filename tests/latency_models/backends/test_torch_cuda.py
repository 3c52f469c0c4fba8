"""The CUDA backend: a clear message without CUDA; CUDA-event timings where a GPU is present."""

from __future__ import annotations

import pytest
import torch

from latency_models.backends import MeasurementError, get_backend
from latency_models.platform import builtin_platforms
from tests.latency_models.conftest import TINY_RES

HAS_CUDA = torch.cuda.is_available()
GPU = builtin_platforms()["gpu"]


def test_without_cuda_the_measurement_says_why(monkeypatch, tiny_spec):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    backend = get_backend("cuda")
    ok, why = backend.available()
    assert not ok and ("CUDA" in why)
    with pytest.raises(MeasurementError, match="platform gpu cannot be measured here"):
        backend.prepare(tiny_spec, (8, 3, TINY_RES, TINY_RES), GPU)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")
def test_cuda_times_a_tiny_network(tiny_spec):
    backend = get_backend("cuda")
    plat = GPU.with_(warmup=2, repeats=5)
    bench = torch.backends.cudnn.benchmark
    with backend.prepare(tiny_spec, (plat.batch, 3, TINY_RES, TINY_RES), plat) as prepared:
        assert prepared.output().shape == (plat.batch, 1000)
        t = backend.time(prepared, plat.warmup, plat.repeats)
    assert t.latency_ms > 0 and t.samples == 5
    assert torch.backends.cudnn.benchmark == bench


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")
def test_cuda_float16(tiny_spec):
    backend = get_backend("cuda")
    plat = GPU.with_(warmup=1, repeats=3, dtype="float16")
    with backend.prepare(tiny_spec, (plat.batch, 3, TINY_RES, TINY_RES), plat) as prepared:
        assert backend.time(prepared, 1, 3).latency_ms > 0

"""Every registered measurement backend through the same checks (skipped where it cannot run here)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from latency_models.backends import BACKENDS, Backend, MeasurementError, get_backend, register_backend
from latency_models.pinning import pinning_supported
from latency_models.platform import Platform, builtin_platforms
from search_space.registry import DuplicateNameError, UnknownNameError
from tests.latency_models.conftest import TINY_RES


def platform_for(runtime: str) -> Platform:
    for p in builtin_platforms().values():
        if p.runtime == runtime:
            return p.with_(warmup=1, repeats=3, batch=1)
    raise AssertionError(runtime)


def backend_or_skip(name: str) -> Backend:
    backend = get_backend(name)
    ok, why = backend.available()
    if not ok:
        pytest.skip(f"{name}: {why}")
    return backend


def test_registry_has_the_three_runtimes():
    assert {"torch", "onnxruntime", "cuda"} <= set(BACKENDS)
    for name, cls in BACKENDS.items():
        assert cls.name == name


def test_duplicate_backend_name_raises():
    class Dup(Backend):
        name = "torch"

        def available(self):
            return True, ""

        def prepare(self, *a, **k):
            raise NotImplementedError

        def sample(self, *a, **k):
            return []

    with pytest.raises(DuplicateNameError):
        register_backend(Dup)


def test_unknown_backend_lists_known_ones():
    with pytest.raises(UnknownNameError, match="known: .*torch"):
        get_backend("tflite")


@pytest.mark.parametrize("name", BACKENDS.names())
def test_available_says_why_not(name):
    ok, why = get_backend(name).available()
    assert isinstance(ok, bool)
    assert ok or why  # a reason whenever it is not available


@pytest.mark.parametrize("name", BACKENDS.names())
def test_times_a_tiny_network(name, tiny_spec):
    backend = backend_or_skip(name)
    plat = platform_for(name)
    shape = (plat.batch, 3, TINY_RES, TINY_RES)
    with backend.prepare(tiny_spec, shape, plat) as prepared:
        assert prepared.label == "shufflenet_v2_x0_5"
        out = prepared.output()
        assert out.shape == (plat.batch, 1000) and np.isfinite(out).all()
        t = backend.time(prepared, warmup=1, repeats=3, keep_samples=True)
    assert t.latency_ms > 0 and t.min_ms > 0 and t.min_ms <= t.latency_ms
    assert t.samples == 3 and len(t.samples_ms) == 3
    assert t.iqr_ms >= 0 and t.cv >= 0
    assert prepared.closed
    with pytest.raises(RuntimeError, match="closed"):
        prepared.run()


@pytest.mark.parametrize("name", BACKENDS.names())
def test_times_a_single_unit_module(name, tiny_spec):
    from latency_models.measure import block_inference_module
    from search_space.blocks import ShuffleUnit
    from search_space.plan import plan

    backend = backend_or_skip(name)
    plat = platform_for(name)
    unit = next(b for b in plan(tiny_spec) if isinstance(b, ShuffleUnit) and not b.first)
    with backend.prepare(block_inference_module(unit), (1, unit.cin, 4, 4), plat, "unit") as prepared:
        assert prepared.output().shape == (1, unit.cout, 4, 4)
        assert backend.time(prepared, 1, 3).latency_ms > 0


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_process_state_restored_after_timing(name, tiny_spec):
    backend = backend_or_skip(name)
    plat = platform_for(name)
    threads = torch.get_num_threads()
    affinity = os.sched_getaffinity(0) if pinning_supported() else None
    with backend.prepare(tiny_spec, (1, 3, TINY_RES, TINY_RES), plat) as prepared:
        backend.time(prepared, 1, 2)
    assert torch.get_num_threads() == threads
    if affinity is not None:
        assert os.sched_getaffinity(0) == affinity


def test_torch_uses_the_platform_thread_count(tiny_spec):
    backend = get_backend("torch")
    plat = platform_for("torch").with_(threads=2)
    seen = []
    with backend.prepare(tiny_spec, (1, 3, TINY_RES, TINY_RES), plat) as prepared:
        run = prepared.run
        prepared.run = lambda: (seen.append(torch.get_num_threads()), run())[1]
        backend.time(prepared, 0, 2)
    assert seen == [2, 2]


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_a_network_that_cannot_run_is_a_measurement_error(name):
    backend = backend_or_skip(name)
    plat = platform_for(name)
    bad = torch.nn.Conv2d(8, 8, 3)  # expects 8 input channels; given 3
    with pytest.raises(MeasurementError, match="badnet"):
        backend.prepare(bad, (1, 3, 16, 16), plat, "badnet")


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_cpu_backends_time_float32_only(name, tiny_spec):
    backend = backend_or_skip(name)
    with pytest.raises(MeasurementError, match="float32"):
        backend.prepare(tiny_spec, (1, 3, TINY_RES, TINY_RES), platform_for(name).with_(dtype="float16"))

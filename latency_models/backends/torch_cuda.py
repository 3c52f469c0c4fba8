"""PyTorch on a CUDA GPU: per-run CUDA events, cuDNN benchmark as the platform says (the paper's protocol)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from latency_models.backends.base import (Backend, MeasurementError, Prepared, Target, example_input,
                                          register_backend, target_label, torch_module)
from latency_models.platform import Platform

_DTYPES = {"float32": torch.float32, "float16": torch.float16}


@contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


@register_backend
class TorchCUDABackend(Backend):
    """Times `model(x)` on `cuda:0` between two CUDA events per run (GPU time, synchronised per run)."""

    name = "cuda"

    def __init__(self, device: str = "cuda:0"):
        self.device = device

    def available(self) -> tuple[bool, str]:
        if not torch.backends.cuda.is_built():
            return False, "this PyTorch build has no CUDA support"
        if not torch.cuda.is_available():
            return False, "no CUDA device (torch.cuda.is_available() is False)"
        return True, ""

    def prepare(self, target: Target, input_shape: tuple[int, ...], platform: Platform, label: str = "") -> Prepared:
        self.ensure_available(platform)
        label = target_label(target, label)
        dtype = _DTYPES[platform.dtype]
        try:
            model = torch_module(target, dtype).to(self.device)
            x = example_input(input_shape, dtype, self.device)
            with torch.inference_mode(), cudnn_benchmark(platform.cudnn_benchmark):
                model(x)  # first call: cuDNN algorithm selection when benchmarking
            torch.cuda.synchronize(self.device)
        except MeasurementError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise MeasurementError(f"{label}: cannot run on {self.device} at input {tuple(input_shape)}: "
                                   f"{type(exc).__name__}: {exc}") from None
        state = {"model": model, "x": x}

        def run() -> torch.Tensor:
            return state["model"](state["x"])

        def output():
            with torch.inference_mode():
                out = run().float().cpu().numpy()
            return out

        def cleanup() -> None:
            state.clear()
            torch.cuda.empty_cache()

        return Prepared(label, input_shape, platform, run, output, cleanup=[cleanup], runtime="cuda",
                        device_name=torch.cuda.get_device_name(self.device))

    @contextmanager
    def context(self, prepared: Prepared) -> Iterator[None]:
        with cudnn_benchmark(prepared.platform.cudnn_benchmark), torch.inference_mode():
            yield
        torch.cuda.synchronize(self.device)

    def sample(self, prepared: Prepared, runs: int) -> list[float]:
        torch.cuda.synchronize(self.device)
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(runs)]
        out = []
        for start, end in pairs:
            start.record()
            prepared.run()
            end.record()
            end.synchronize()
            out.append(float(start.elapsed_time(end)))
        return out

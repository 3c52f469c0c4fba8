"""PyTorch eager on the CPU: the inference-form module, channels-last input, `platform.threads` threads."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from latency_models.backends.base import (Backend, MeasurementError, Prepared, Target, check_dtype, example_input,
                                          perf_counter_samples, register_backend, target_label, torch_module)
from latency_models.pinning import pinned
from latency_models.platform import Platform


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch.set_num_threads(threads) for the block, the previous count restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@register_backend
class TorchCPUBackend(Backend):
    """Times `model(x)` under torch.inference_mode with perf_counter around each call."""

    name = "torch"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def prepare(self, target: Target, input_shape: tuple[int, ...], platform: Platform, label: str = "") -> Prepared:
        check_dtype(platform, "PyTorch CPU")
        label = target_label(target, label)
        try:
            model = torch_module(target)
            x = example_input(input_shape)
            with torch.inference_mode(), torch_threads(platform.threads):
                model(x)  # fail here, not mid-timing, if the network cannot run at this input
        except MeasurementError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to build/run is reported with the network
            raise MeasurementError(f"{label}: cannot run in PyTorch at input {tuple(input_shape)}: "
                                   f"{type(exc).__name__}: {exc}") from None
        state = {"model": model, "x": x}

        def run() -> torch.Tensor:
            return state["model"](state["x"])

        def output():
            with torch.inference_mode():
                return run().float().numpy()

        return Prepared(label, input_shape, platform, run, output, cleanup=[state.clear], runtime="torch")

    @contextmanager
    def context(self, prepared: Prepared) -> Iterator[None]:
        with torch_threads(prepared.platform.threads), pinned(prepared.platform.threads), torch.inference_mode():
            yield

    def sample(self, prepared: Prepared, runs: int) -> list[float]:
        return perf_counter_samples(prepared.run, runs)

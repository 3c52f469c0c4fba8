"""The measurement backend interface: prepare a network once, time it, dispose of it."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
from torch import nn

from latency_models.platform import Platform
from latency_models.stats import NOISE_CV_THRESHOLD, Timing, summarize
from search_space.errors import UserError
from search_space.registry import Registry
from search_space.spec import ArchSpec, BaselineSpec

#: What a backend can prepare: a network spec (built in inference form), a torch module (already in the
#: form to time, e.g. one unit's inference module) or a path to an ONNX file (ONNX Runtime only).
Target = ArchSpec | BaselineSpec | nn.Module | Path


#: Warm-up lasts at least this long (CPU frequency, caches and allocators settle; a core left idle during the
#: export of the network takes a few hundred ms to reach steady speed on this class of machine).
MIN_WARMUP_S = 0.2
#: Timed runs of one measurement span at least this long (more runs for fast networks), capped at MAX_RUNS.
MIN_TIMED_S = 0.3
MAX_RUNS = 2000

class MeasurementError(UserError):
    """A measurement cannot run (no device, a runtime missing, an export or session failure)."""


#: The name of the NodeTiming of whole forward passes in a per-node profile (`Backend.profile_nodes`).
RUN_NODE = "model_run"


@dataclass(frozen=True)
class NodeTiming:
    """One operator of a network as the runtime ran it, timed by the runtime's profiler inside the whole network:
    its node name, operator type (after the runtime's graph optimisation, e.g. FusedConv), tensor shapes of its
    inputs (activations and weights) and outputs, and the statistics of its per-run times (ms)."""

    name: str
    op: str
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    timing: Timing


class Prepared:
    """A network ready to run on one backend: `run()` does one forward pass; `close()` frees it.

    Use as a context manager so sessions and models are released as soon as they have been timed.
    """

    def __init__(self, label: str, input_shape: tuple[int, ...], platform: Platform, run: Callable[[], Any],
                 output: Callable[[], np.ndarray], cleanup: Sequence[Callable[[], None]] = (), **info: Any):
        self.label = label
        self.input_shape = tuple(input_shape)
        self.platform = platform
        self.run = run
        self._output = output
        self._cleanup = list(cleanup)
        self.info = info
        self.closed = False

    def output(self) -> np.ndarray:
        """The network's output for the prepared input (one untimed forward pass), as a numpy array."""
        return self._output()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.run = self._output = _closed  # type: ignore[assignment]
        for fn in reversed(self._cleanup):
            fn()
        self._cleanup.clear()

    def __enter__(self) -> "Prepared":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _closed() -> Any:
    raise RuntimeError("this prepared network has been closed")


class Backend(ABC):
    """Times one forward pass of a network on one runtime; keyed by `Platform.runtime`."""

    name: ClassVar[str]

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """(True, "") if this machine can measure with the backend, else (False, why not)."""

    @abstractmethod
    def prepare(self, target: Target, input_shape: tuple[int, ...], platform: Platform, label: str = "") -> Prepared:
        """Build/export/load `target` for `input_shape` (N, C, H, W); MeasurementError if it cannot run."""

    @abstractmethod
    def sample(self, prepared: Prepared, runs: int) -> list[float]:
        """Time `runs` forward passes, one time (ms) per run (no warm-up; call inside `context`)."""

    def context(self, prepared: Prepared) -> AbstractContextManager[Any]:
        """Process state the timing runs under (threads, pinning, cuDNN flags); restored on exit."""
        return nullcontext()

    def time(self, prepared: Prepared, warmup: int, repeats: int, threshold: float = NOISE_CV_THRESHOLD,
             keep_samples: bool = False, min_warmup_s: float = 0.0, min_timed_s: float = 0.0) -> Timing:
        """At least `warmup` untimed runs lasting at least `min_warmup_s`, then statistics of at least `repeats`
        timed runs lasting at least `min_timed_s` (short networks get more runs, so one measurement spans the
        machine's second-scale speed fluctuations instead of catching one instant of them; the platform
        protocol uses MIN_WARMUP_S / MIN_TIMED_S)."""
        if repeats < 1:
            raise ValueError("repeats must be at least 1")
        with self.context(prepared):
            t0, done = time.perf_counter(), 0
            while done < max(0, warmup) or (warmup > 0 and time.perf_counter() - t0 < min_warmup_s):
                prepared.run()
                done += 1
            runs = self.sample(prepared, repeats)
            spent = sum(runs) / 1e3
            if spent < min_timed_s and repeats > 1:
                extra = min(MAX_RUNS - repeats, int(repeats * (min_timed_s / max(spent, 1e-6) - 1)) + 1)
                if extra > 0:
                    runs += self.sample(prepared, extra)
        return summarize(runs, threshold, keep_samples)

    def profile_nodes(self, prepared: Prepared, runs: int, warmup_s: float = MIN_WARMUP_S) -> list[NodeTiming]:
        """Per-operator times of `runs` forward passes inside the whole network (after `warmup_s` s of warm-up),
        from the runtime's own profiler, and the passes themselves as a node named RUN_NODE; MeasurementError for a
        runtime without one."""
        raise MeasurementError(f"the {self.name} backend cannot time the layers of a network (ONNX Runtime can)")

    def ensure_available(self, platform: Platform) -> None:
        ok, why = self.available()
        if not ok:
            raise MeasurementError(f"platform {platform.name} cannot be measured here: {why}")


BACKENDS: Registry[type[Backend]] = Registry("measurement backend")


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: add a backend under its `name` (a duplicate name raises)."""
    BACKENDS.add(cls.name, cls)
    return cls


def get_backend(runtime: str) -> Backend:
    """A new backend instance for a runtime name ("torch", "onnxruntime", "cuda")."""
    return BACKENDS.get(runtime)()


# ------------------------------------------------------------------------------------------------- helpers
def perf_counter_samples(run: Callable[[], Any], runs: int) -> list[float]:
    """Wall-clock ms of each of `runs` calls (perf_counter_ns around each call)."""
    out = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        t0 = clock()
        run()
        out.append((clock() - t0) / 1e6)
    return out


def target_label(target: Target, label: str = "") -> str:
    if label:
        return label
    if isinstance(target, (ArchSpec, BaselineSpec)):
        return target.label()
    if isinstance(target, Path):
        return target.name
    return type(target).__name__


def torch_module(target: Target, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The eval-mode module to time: a spec's inference form (BN folded, channels-last) or the given module."""
    if isinstance(target, Path):
        raise MeasurementError(f"{target}: an ONNX file can only be timed with ONNX Runtime")
    if isinstance(target, (ArchSpec, BaselineSpec)):
        from search_space.build import build_model

        model: nn.Module = build_model(target, form="inference", seed=0)
    else:
        model = target
    return model.eval().to(dtype=dtype, memory_format=torch.channels_last)


def example_input(input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32, device: str = "cpu",
                  seed: int = 0) -> torch.Tensor:
    """A seeded random input of `input_shape`, channels-last when 4-D."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*input_shape, generator=gen).to(device=device, dtype=dtype)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def check_dtype(platform: Platform, backend: str) -> None:
    if platform.dtype != "float32":
        raise MeasurementError(f"platform {platform.name}: the {backend} backend times float32 only "
                               f"(got dtype {platform.dtype})")

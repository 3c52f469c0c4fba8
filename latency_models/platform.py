"""Platform: a frozen description of where and how latency is taken (device, runtime, protocol)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

from search_space.errors import UserError

#: Runtimes a backend can measure on this machine, and the published (paper) ones that can only be fit.
MEASURABLE_RUNTIMES = ("onnxruntime", "torch", "cuda")
PUBLISHED_RUNTIMES = ("paper-arm-neon", "paper-cudnn7")
SOURCES = ("measured", "published")


class PlatformError(UserError):
    """Unknown platform, or a platform description that is not valid."""


@dataclass(frozen=True)
class Platform:
    """Where and how a latency is taken.

    `latency_ms` for a platform always means one forward pass of `batch` inputs at the network's resolution,
    after `warmup` untimed runs, as the median of `repeats` timed runs. `source` says whether its timings
    come from measuring on the device ("measured") or from published numbers ("published").
    """

    name: str
    device: str
    runtime: str
    threads: int = 1
    batch: int = 1
    resolution: int = 224
    dtype: str = "float32"
    warmup: int = 10
    repeats: int = 30
    cudnn_benchmark: bool = False
    source: str = "measured"
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() or c in "/\\" for c in self.name):
            raise PlatformError(f"platform name {self.name!r} must be non-empty, without spaces or slashes")
        if self.runtime not in MEASURABLE_RUNTIMES + PUBLISHED_RUNTIMES:
            raise PlatformError(f"platform {self.name}: unknown runtime {self.runtime!r} "
                                f"(known: {', '.join(MEASURABLE_RUNTIMES + PUBLISHED_RUNTIMES)})")
        if self.source not in SOURCES:
            raise PlatformError(f"platform {self.name}: source must be one of {', '.join(SOURCES)}")
        for key in ("threads", "batch", "resolution", "repeats"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PlatformError(f"platform {self.name}: {key} must be a positive integer, got {value!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise PlatformError(f"platform {self.name}: warmup must be a non-negative integer")
        if self.dtype not in ("float32", "float16"):
            raise PlatformError(f"platform {self.name}: dtype must be float32 or float16")

    @property
    def measurable(self) -> bool:
        """A backend of this package can time networks for it (on a machine with that device)."""
        return self.runtime in MEASURABLE_RUNTIMES

    def describe(self) -> str:
        """One line: name, device, runtime, threads, batch, and where its numbers come from."""
        return (f"{self.name} ({self.device}, {self.runtime}, {self.threads} thread{'s' if self.threads > 1 else ''}, "
                f"batch {self.batch}, {self.source})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Platform":
        if not isinstance(data, Mapping):
            raise PlatformError("platform description must be a JSON object")
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(data) - known)
        if extra:
            raise PlatformError(f"platform description: unknown field {extra[0]!r}")
        for key in ("name", "device", "runtime"):
            if key not in data:
                raise PlatformError(f"platform description: missing field {key!r}")
        return cls(**data)

    def with_(self, **changes: Any) -> "Platform":
        return replace(self, **changes)


def builtin_platforms() -> dict[str, Platform]:
    """The platforms that exist without any file: this machine's CPU (two runtimes), a local CUDA GPU, and
    the paper's two devices (profiles calibrated from its published measurements)."""
    return {
        "cpu": Platform("cpu", "cpu", "onnxruntime", threads=1, batch=1,
                        description="this machine's CPU, ONNX Runtime (the usual deployment runtime), 1 thread, batch 1"),
        "cpu-torch": Platform("cpu-torch", "cpu", "torch", threads=1, batch=1,
                              description="this machine's CPU, PyTorch eager, 1 thread, batch 1 "
                                          "(dominated by per-op overhead at batch 1)"),
        "gpu": Platform("gpu", "cuda", "cuda", threads=1, batch=8, cudnn_benchmark=True, warmup=20, repeats=50,
                        description="the local CUDA GPU, PyTorch + cuDNN benchmark, batch 8 (the paper's GPU protocol)"),
        "arm": Platform("arm", "Qualcomm Snapdragon 810 (ARM Cortex-A57), 1 thread", "paper-arm-neon", threads=1,
                        batch=1, source="published",
                        description="the paper's ARM device, single thread, batch 1; profile calibrated from the "
                                    "paper's published measurements"),
        "gpu-1080ti": Platform("gpu-1080ti", "NVIDIA GeForce GTX 1080Ti", "paper-cudnn7", threads=1, batch=8,
                               cudnn_benchmark=True, source="published",
                               description="the paper's GPU, CUDNN 7 with benchmarking, batch 8; profile calibrated "
                                           "from the paper's published measurements"),
    }

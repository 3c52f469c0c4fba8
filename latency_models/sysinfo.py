"""Where a timing was taken: CPU/GPU model, host, OS, runtime and library versions (read on demand)."""

from __future__ import annotations

import os
import platform as _platform
import socket
import sys
from importlib import metadata
from pathlib import Path

LIBRARIES = ("torch", "onnxruntime", "numpy", "pandas", "pyarrow", "onnx", "onnxscript", "shufflenas")


def library_versions() -> dict[str, str | None]:
    """Python and library versions (None for a library that is not installed); no imports needed."""
    out: dict[str, str | None] = {"python": _platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    """The CPU's marketing name (x86 "model name"; ARM boards' "Model"/"Hardware"), else platform.processor()."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and value.strip() and key in ("model name", "model", "hardware", "cpu model", "processor") \
                and key not in found:
            found[key] = value.strip()
    for key in ("model name", "cpu model", "model", "hardware"):
        if key in found and not found[key].isdigit():
            return found[key]
    if sys.platform == "darwin":
        try:
            import subprocess

            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip() or _platform.machine()
        except (OSError, subprocess.SubprocessError):
            pass
    return _platform.processor() or _platform.machine() or "unknown"


def cpu_governor() -> str | None:
    """Linux cpufreq governor of cpu0 ("performance" keeps timings steadier than "powersave"/"ondemand")."""
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip() or None
    except OSError:
        return None


def gpu_model() -> str | None:
    """Name of CUDA device 0 when torch sees one, else None."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken driver should not stop a CPU measurement
        return None
    return None


def system_info(with_gpu: bool = False) -> dict[str, object]:
    """Host, OS, CPU (model, logical cores, usable cores, governor), optionally the GPU, and versions."""
    try:
        usable = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        usable = os.cpu_count()
    info: dict[str, object] = {
        "hostname": socket.gethostname(),
        "os": f"{_platform.system()} {_platform.release()}",
        "machine": _platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "cpu_governor": cpu_governor(),
        "gpu_model": gpu_model() if with_gpu else None,
        "versions": library_versions(),
    }
    if with_gpu:
        try:
            import torch

            info["cuda"] = torch.version.cuda
            info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        except Exception:  # noqa: BLE001
            pass
    return info

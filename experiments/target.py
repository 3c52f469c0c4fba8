"""Where an experiment's numbers come from: measured on this machine, or predicted by a platform profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latency_models.measure import backend_for
from latency_models.platform import Platform, builtin_platforms
from latency_models.profiles import Profile, get_platform, require_profile

MEASURED = "measured"
PREDICTED_PUBLISHED = "predicted (profile calibrated from published measurements)"
PREDICTED_TIMINGS = "predicted (profile fit from timings measured on the device)"
#: The paper's device an experiment compares with: "arm" (Snapdragon 810) unless the platform is a GPU.
PAPER_DEVICES = {"arm": "ARM Snapdragon 810, 1 thread (paper)", "gpu-1080ti": "GTX 1080Ti (paper)"}
RESULTS_ROOT = Path("experiments") / "results"


@dataclass(frozen=True)
class Target:
    """The platform an experiment runs for, and how its latencies are obtained (`source`)."""

    platform: Platform
    source: str
    profile: Profile | None = None

    @property
    def measured(self) -> bool:
        return self.profile is None

    @property
    def label(self) -> str:
        """The platform and whether its latencies are measured or predicted, for figure legends."""
        return f"{self.platform.name} ({'measured' if self.measured else 'predicted'})"

    @property
    def paper_device(self) -> str:
        """The paper's device ("arm" or "gpu-1080ti") whose channel counts and numbers this run uses."""
        p = self.platform
        return "gpu-1080ti" if p.name == "gpu-1080ti" or p.runtime in ("cuda", "paper-cudnn7") else "arm"

    @property
    def tag(self) -> str:
        """Name of the results folder: `<name>-<runtime>` when the name is the device (cpu -> cpu-onnxruntime)."""
        p = self.platform
        return f"{p.name}-{p.runtime}" if p.name == p.device else p.name

    def describe(self) -> str:
        return f"{self.platform.describe()}; latencies {self.source}"


def resolve_target(name: str, check_backend: bool = True) -> Target:
    """A built-in platform a backend can measure -> measured (checked usable here with `check_backend`); any
    other known platform -> predicted by its profile."""
    builtin = builtin_platforms().get(name)
    if builtin is not None and builtin.measurable:
        if check_backend:
            backend_for(builtin)  # fails with one line where the runtime or device is missing
        return Target(builtin, MEASURED)
    platform = get_platform(name)
    profile = require_profile(name)
    source = profile.provenance.get("source", platform.source)
    return Target(platform, PREDICTED_PUBLISHED if source == "published" else PREDICTED_TIMINGS, profile)


def default_out_dir(target: Target) -> Path:
    """experiments/results/<tag> under the current directory."""
    return RESULTS_ROOT / target.tag

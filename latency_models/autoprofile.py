"""The first use of a local platform (cpu, cpu-torch, gpu) measures it and caches the fitted profile."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from latency_models.fitting import fit_from_timings
from latency_models.backends import MeasurementError
from latency_models.measure import backend_for, measure_networks, resolve_platform
from latency_models.platform import PlatformError
from latency_models.profiles import Profile, ProfileError, find_profile, get_platform, nas_home
from latency_models.timings import TimingsMeta, TimingsWriter
from search_space.progress import ProgressFn
from search_space.references import reference_spec
from search_space.space import SearchSpace

#: Networks drawn from the default space for an automatic profile (about 2 minutes with ONNX Runtime here).
AUTO_SAMPLES = 80
AUTO_SEED = 2018
#: Reference networks always measured with them (so the hand-designed scales are inside the fitted range).
AUTO_REFERENCES = ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
                   "mobilenet_v2_x1_0", "shufflenet_v1_g3_x1_0", "xception_x1_0", "mobilenet_v1_x0_5")
DRIFT_REFERENCE = "shufflenet_v2_x1_0"


def timings_dir() -> Path:
    return nas_home() / "timings"


def auto_measure(name: str, n: int = AUTO_SAMPLES, seed: int = AUTO_SEED, progress: ProgressFn | None = None,
                 out: Path | None = None) -> Path:
    """Measure `n` networks of the default space and the reference networks on local platform `name`;
    rows are written as they are measured (an interrupted run keeps them). Returns the timings file."""
    platform = resolve_platform(name)
    rng = np.random.default_rng(seed)
    space = SearchSpace.default()
    specs = [space.sample(rng) for _ in range(n)]
    refs = [reference_spec(r) for r in AUTO_REFERENCES]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = out or timings_dir() / f"{name}-auto-{stamp}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = TimingsMeta.collect(platform, purpose="automatic profile", sample=n, seed=seed,
                               references=list(AUTO_REFERENCES), drift_ref=DRIFT_REFERENCE)
    writer = TimingsWriter(path, meta)
    try:
        measure_networks(specs, platform, references=refs, rounds=1, seed=seed,
                         reference=reference_spec(DRIFT_REFERENCE), on_row=writer.write, progress=progress)
    finally:  # on Ctrl-C (MeasurementInterrupted) too: every row measured so far stays in the file
        writer.close()
    return path


def ensure_profile(name: str, progress: ProgressFn | None = None) -> Profile:
    """The profile of `name`; for a local platform without one, measure this machine and fit it first.

    A platform with no profile that cannot be measured here (no such device, or one measured elsewhere)
    raises ProfileError saying how to make one."""
    prof = find_profile(name)
    if prof is not None:
        return prof
    get_platform(name)  # unknown names: one line listing the known platforms
    try:
        backend_for(resolve_platform(name))
    except (PlatformError, MeasurementError) as exc:
        raise ProfileError(f"platform {name} has no latency profile and cannot be measured here ({exc}); measure "
                           f"it on its device with `nas measure --platform {name} --sample 100` and fit the file "
                           f"with `nas latency fit --platform {name} --timings FILE`") from None
    path = auto_measure(name, progress=progress)
    prof = fit_from_timings(name, [path], kinds=("roofline", "flops"))
    prof.save()
    return prof

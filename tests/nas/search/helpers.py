"""Helpers of the search tests: a synthetic timings file, so a local-platform profile exists without measuring."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latency_models.fitting import fit_from_timings
from latency_models.platform import builtin_platforms
from latency_models.stats import Timing
from latency_models.timings import TimingsMeta, TimingsWriter, network_row
from search_space.cost import cost
from search_space.space import SearchSpace


def synthetic_timings(path: Path, platform: str = "cpu", n: int = 30, seed: int = 0) -> Path:
    """A timings file whose latencies follow a simple cost law (0.01 ms / MFLOP + 0.002 ms / M MAC + 0.3 ms)."""
    plat = builtin_platforms()[platform]
    rng = np.random.default_rng(seed)
    space = SearchSpace.default()
    writer = TimingsWriter(path, TimingsMeta.collect(plat))
    for _ in range(n):
        spec = space.sample(rng)
        c = cost(spec)
        ms = 0.01 * c.flops_m + 0.002 * c.mac_m + 0.3
        writer.write(network_row(spec, Timing(ms, ms * 0.01, 0.01, ms * 0.98, 30, False), batch=plat.batch))
    writer.close()
    return path


def register_synthetic_profile(tmp: Path, platform: str = "cpu") -> None:
    """Fit and store a profile for `platform` from synthetic timings (NAS_HOME must point at a test folder)."""
    fit_from_timings(platform, [synthetic_timings(tmp / f"{platform}.csv", platform)], kinds=("roofline", "flops")).save()

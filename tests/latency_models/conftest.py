"""Shared fixtures: tiny networks and fast measurement protocols (tests assert behaviour, never speed)."""

from __future__ import annotations

import pytest

from latency_models.platform import builtin_platforms
from search_space.references import reference_spec
from search_space.spec import ArchSpec, UnitSpec, uniform_stages

TINY_RES = 32


@pytest.fixture
def tiny_spec() -> ArchSpec:
    """ShuffleNet v2 0.5x at 32x32 (a fraction of a millisecond per run)."""
    return reference_spec("shufflenet_v2_x0_5").with_resolution(TINY_RES)


def small_variant_specs() -> dict[str, ArchSpec]:
    """Every unit choice of the space in small networks: SE, residual, v2*, Xception-like, kernels, splits."""
    def net(unit: UnitSpec, widths=(24, 48, 96)) -> ArchSpec:
        return ArchSpec(stages=uniform_stages(widths, (2, 2, 1), unit), resolution=TINY_RES, head_width=128,
                        num_classes=10)
    return {
        "v2": net(UnitSpec()),
        "se": net(UnitSpec(se=True)),
        "residual": net(UnitSpec(residual=True)),
        "v2_star_k5": net(UnitSpec(variant="v2_star", kernel=5)),
        "xception_k7": net(UnitSpec(variant="xception", kernel=7)),
        "split_0_25_se_residual": net(UnitSpec(split_ratio=0.25, se=True, residual=True)),
        "split_0_75_xception": net(UnitSpec(split_ratio=0.75, variant="xception")),
    }


@pytest.fixture
def cpu_platforms():
    """The two CPU platforms with a tiny protocol."""
    plats = builtin_platforms()
    return [plats[n].with_(warmup=1, repeats=3) for n in ("cpu", "cpu-torch")]

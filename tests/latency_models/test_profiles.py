"""Platform profiles: shipped published profiles are current, the store, platform registration, estimates."""

from __future__ import annotations

import numpy as np
import pytest

from latency_models.fitting import fit_published_profile
from latency_models.profiles import (ProfileError, find_profile, get_platform, known_platforms, load_shipped_profile,
                                     require_profile, shipped_profile_names)
from search_space.references import reference_spec


@pytest.mark.parametrize("name", ["arm", "gpu-1080ti"])
def test_shipped_profiles_are_what_the_fit_gives_today(name):
    """The JSON in the package is reproducible from the published numbers (refit it when features change)."""
    shipped = load_shipped_profile(name)
    fresh = fit_published_profile(name)
    specs = [reference_spec(n) for n in ("shufflenet_v2_x0_5", "shufflenet_v2_x2_0", "mobilenet_v2_x1_0",
                                         "shufflenet_v1_g3_x1_0", "xception_x1_0")]
    assert np.allclose(shipped.predictor().predict(specs), fresh.predictor().predict(specs), rtol=1e-9)
    assert shipped.platform.source == "published" and shipped.provenance["source"] == "published"


def test_every_shipped_estimate_says_where_it_comes_from():
    prof = load_shipped_profile("arm")
    est = prof.estimate(reference_spec("shufflenet_v2_x0_5"))
    assert est.kind == "predicted" and est.platform == "arm" and est.source == "published"
    assert est.error_rmspe is not None and "calibrated from published measurements" in est.label()


def test_anchor_is_reproduced_and_flops_mislead_within_a_level():
    """ShuffleNet v2 1x is the anchor; at ~140-150 MFLOPs the profile does not order networks by FLOPs."""
    prof = load_shipped_profile("arm")
    assert prof.estimate(reference_spec("shufflenet_v2_x1_0")).latency_ms == pytest.approx(40.98, rel=0.01)
    level = ["shufflenet_v2_x1_0", "mobilenet_v1_x0_5", "mobilenet_v2_x0_6", "shufflenet_v1_g3_x1_0", "xception_x1_0"]
    ms = [prof.estimate(reference_spec(n)).latency_ms for n in level]
    assert len(set(np.round(ms, 3))) == len(level)


def test_user_store_overrides_and_registers(nas_home, tmp_path):
    from tests.nas.search.helpers import register_synthetic_profile
    assert "my-dev" not in known_platforms()
    register_synthetic_profile(tmp_path, "cpu")
    assert find_profile("cpu") is not None and (nas_home / "profiles" / "cpu.json").exists()
    assert set(shipped_profile_names()) >= {"arm", "gpu-1080ti"}


def test_missing_profile_says_how_to_make_one(nas_home):
    with pytest.raises(ProfileError, match="nas latency fit --platform cpu-torch"):
        require_profile("cpu-torch")
    with pytest.raises(Exception, match="known:"):
        get_platform("nope")


LEVELS = {"40M": ("shufflenet_v2_x0_5", "mobilenet_v2_x0_4", "shufflenet_v1_g3_x0_5", "xception_x0_5"),
          "140M": ("shufflenet_v2_x1_0", "mobilenet_v2_x0_75", "shufflenet_v1_g3_x1_0", "xception_x1_0"),
          "500M": ("shufflenet_v2_x2_0", "mobilenet_v2_x1_4", "shufflenet_v1_g3_x2_0", "xception_x2_0")}


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_gpu_profile_agrees_with_the_papers_text(level):
    """Section 4: on GPU ShuffleNet v2 is clearly faster than MobileNet v2, ShuffleNet v1 and Xception (at 500
    MFLOPs by 58%, 63% and 25%), and MobileNet v1 is about as fast or faster. Not fit to: only the anchor is."""
    prof = load_shipped_profile("gpu-1080ti")
    v2, *others = (prof.estimate(reference_spec(n)).latency_ms for n in LEVELS[level])
    assert all(o > 1.1 * v2 for o in others)
    mobilenet_v1 = {"40M": "mobilenet_v1_x0_25", "140M": "mobilenet_v1_x0_5", "500M": "mobilenet_v1_x1_0"}[level]
    assert prof.estimate(reference_spec(mobilenet_v1)).latency_ms < 1.1 * v2
    if level == "500M":
        assert [o / v2 for o in others] == pytest.approx([1.58, 1.63, 1.25], rel=0.15)

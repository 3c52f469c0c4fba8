"""The automatic profile of a local platform: what it measures (never a registered network), within its time budget,
paired with the drift reference, layers included; the held-out check on unseen networks and its error carried by
every estimate; `nas latency eval --measure` and `nas latency refresh`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import latency_models.autoprofile as auto
from latency_models.profiles import find_profile
from search_space.references import NETWORKS, reference_spec
from search_space.space import SearchSpace
from search_space.spec import ArchSpec, BaselineSpec


def test_auto_specs_mix_the_space_and_variants_of_every_family_but_never_a_registered_network():
    specs = auto.auto_specs(300, seed=1)
    registered = {reference_spec(n).arch_id for n in NETWORKS.names()}
    assert not {s.arch_id for s in specs} & registered
    families = {s.family for s in specs}
    assert {"shufflenet_v2", "mobilenet_v2", "densenet", "nasnet_a"} <= families
    assert any(isinstance(s, BaselineSpec) for s in specs) and any(isinstance(s, ArchSpec) for s in specs)
    assert {s.resolution for s in specs} == set(SearchSpace.default().resolutions)
    assert [s.arch_id for s in auto.auto_specs(20, seed=1)] == [s.arch_id for s in specs[:20]]  # seeded


def test_unseen_specs_are_fresh_members_at_every_resolution_and_every_registered_network():
    chosen = auto.unseen_specs(per_resolution=2, seed=5)
    samples = [s for s, r in chosen if r == "sample"]
    refs = {s.name for s, r in chosen if r == "reference"}
    assert sorted(s.resolution for s in samples) == sorted(SearchSpace.default().resolutions * 2)
    assert refs == set(NETWORKS.names()) - {auto.DRIFT_REFERENCE}
    assert not {s.arch_id for s in samples} & {s.arch_id for s in auto.auto_specs(300)}


def small_specs(n: int, seed: int = auto.AUTO_SEED) -> list:
    """Fast stand-ins for auto_specs: default-space members at 32-48 px (a millisecond each)."""
    rng = np.random.default_rng(seed)
    space = SearchSpace.default()
    return [space.with_fixed(resolution=int(rng.choice([32, 40, 48]))).sample(rng) for _ in range(n)]


@pytest.mark.slow
def test_first_use_measures_within_its_budget_fits_and_checks_on_unseen_networks(nas_home, monkeypatch, capsys):
    from nas.cli.main import main

    monkeypatch.setattr(auto, "auto_specs", lambda n, seed=auto.AUTO_SEED: small_specs(n, seed))
    monkeypatch.setattr(auto, "AUTO_BUDGET_S", 45.0)
    monkeypatch.setattr(auto, "unseen_specs", lambda per_resolution=2, seed=0: [(s, "sample") for s in
                                                                                 small_specs(6, seed + 1)])
    monkeypatch.setattr(auto, "DRIFT_REFERENCE", "shufflenet_v2_x0_5")
    prof = auto.ensure_profile("cpu")
    assert find_profile("cpu") is not None and set(prof.predictors) == {"layerwise", "roofline", "flops"}
    t = json.loads((nas_home / "profiles" / "cpu.json").read_text())["provenance"]["timings"][0]
    assert t["layers"] > t["networks"] > 10 and t["reference_ms"] > 0
    assert prof.reference_ms == pytest.approx(t["reference_ms"]) and prof.reference_network == "shufflenet_v2_x0_5"
    est = prof.estimate(small_specs(1, 99)[0])
    assert est.reference_ms == prof.reference_ms and est.error_rmspe == prof.error()

    code = main(["latency", "eval", "--platform", "cpu", "--measure", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    unseen = out["evaluation"][out["default"]]["unseen"]
    assert unseen["n"] == 6 and unseen["absolute"]["n"] == 6 and "unseen" in out["method"]
    again = find_profile("cpu")
    assert again.error() == pytest.approx(unseen["rmspe"])  # every estimate now carries the unseen error

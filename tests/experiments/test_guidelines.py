"""G1-G4: the networks have the FLOPs the paper states; runs end to end (predicted on arm, measured tiny)."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest

from experiments.config import RunSettings, load_config
from experiments.guidelines import build_items
from experiments.registry import run_experiment
from experiments.target import resolve_target
from search_space import microbench
from search_space.cost import cost

from .conftest import check_outputs

HW = 56 * 56


@pytest.fixture(scope="module")
def items_by_device():
    cfg = load_config("guidelines")
    return {dev: build_items(cfg, resolve_target(dev)) for dev in ("arm", "gpu-1080ti")}


def test_every_row_of_tables_1_to_4(items_by_device):
    for items in items_by_device.values():
        count = defaultdict(int)
        for i in items:
            count[i.table] += 1
        assert dict(count) == {"Table 1": 12, "Table 2": 12, "Table 3": 15, "Table 4": 12}


def test_channel_counts_are_the_papers_for_each_device(items_by_device):
    def g1(items):
        return {i.config: (i.spec.c1, i.spec.c2) for i in items if i.table == "Table 1" and i.group == "x1"}

    assert g1(items_by_device["arm"]) == {"1:1": (32, 32), "1:2": (22, 44), "1:6": (13, 78), "1:12": (9, 108)}
    assert g1(items_by_device["gpu-1080ti"]) == {"1:1": (128, 128), "1:2": (90, 180), "1:6": (52, 312),
                                                 "1:12": (36, 432)}
    g2 = {i.config: i.spec.c1 for i in items_by_device["arm"] if i.table == "Table 2" and i.group == "x1"}
    assert g2 == {"g=1": 64, "g=2": 90, "g=4": 128, "g=8": 184}  # 180 is not divisible by 8 (paper.py note)


def test_g1_flops_as_the_paper_derives(items_by_device):
    """20 1x1 convs of c1*c2 at 56x56: about 64 M multiply-adds on ARM and 1.03 G on GPU at x1; xk = k^2."""
    for dev, expected in (("arm", 64.2e6), ("gpu-1080ti", 1.03e9)):
        for i in items_by_device[dev]:
            if i.table == "Table 1":
                k = int(i.group[1:])
                assert cost(i.spec).flops_m * 1e6 == pytest.approx(20 * HW * i.spec.c1 * i.spec.c2 * k * k)
                assert cost(i.spec).flops_m * 1e6 == pytest.approx(expected * k * k, rel=0.06)


def test_fixed_flops_rows_are_equal_within_the_papers_rounding(items_by_device):
    """G1/G2/G3 rows of one column have equal multiply-adds within 6% (the paper's own pairs differ by 5.5%)."""
    for items in items_by_device.values():
        groups = defaultdict(list)
        for i in items:
            if i.table in ("Table 1", "Table 2", "Table 3"):
                groups[(i.table, i.group)].append(cost(i.spec).flops_m)
        assert len(groups) == 9
        for key, flops in groups.items():
            assert max(flops) / min(flops) - 1 < 0.06, key


def test_g2_g1_equals_g3_one_fragment_and_g4_variants_share_flops(items_by_device):
    """Table 2's g=1 at xk is Table 3's 1-fragment at k times the channels (the reading of 'xk' in CHOICES)."""
    for dev, base in (("arm", 64), ("gpu-1080ti", 128)):
        by = {(i.table, i.group, i.config): cost(i.spec).flops_m for i in items_by_device[dev]}
        for k in (1, 2, 4):
            assert by[("Table 2", f"x{k}", "g=1")] == pytest.approx(by[("Table 3", f"c={base * k}", "1-fragment")])
        for c in ("c=32", "c=64", "c=128"):
            assert len({v for (t, g, _), v in by.items() if t == "Table 4" and g == c}) == 1
    g4 = {i.group: cost(i.spec).flops_m for i in items_by_device["arm"] if i.table == "Table 4"}
    assert g4["c=64"] / g4["c=32"] == pytest.approx(4, rel=0.02)


def test_predicted_run_on_arm_compares_with_the_papers_numbers(tmp_path, private_home):
    result = run_experiment("guidelines", RunSettings("arm", out_dir=tmp_path))
    md = check_outputs(tmp_path, "guidelines")
    assert "predicted (profile calibrated from published measurements)" in md
    for number in ("76.2", "57.6", "40", "27.8", "35", "66.3", "56.7"):  # Tables 1-4, ARM column
        assert f"| {number} |" in md
    for value in microbench.CHOICES.values():
        assert value in md
    summary = pd.read_csv(tmp_path / "guidelines-summary.csv")
    assert set(summary["source"]) == {"predicted (profile calibrated from published measurements)"}
    first = summary.groupby(["table", "group"]).first()
    assert (first["speed_rel"] == 1).all() and (first["paper_speed_rel"] == 1).all()
    claims = {v.claim.split(" (")[0] for v in result.verdicts}
    assert claims == {"G1 equal channel width is fastest", "G2 fewer groups are faster",
                      "G3 one fragment beats four in parallel", "G3 one fragment beats four in series",
                      "G4 removing ReLU and shortcut speeds up"}
    g1 = next(v for v in result.verdicts if v.claim.startswith("G1") and "(x1)" in v.claim)
    assert g1.paper_ratio == pytest.approx(76.2 / 57.6, rel=1e-3)
    assert "G1 equal channel width is fastest (x1)" in md


def test_measured_quick_run_on_this_cpu(tmp_path, private_home):
    result = run_experiment("guidelines", RunSettings("cpu", out_dir=tmp_path, quick=True, repeats=1, warmup=0))
    check_outputs(tmp_path, "guidelines")
    raw = result.raw
    assert set(raw["source"]) == {"measured"} and (raw["latency_ms"] > 0).all()
    assert set(raw["group"]) == {"x1", "c=64", "c=32"}  # --quick: first column of each table
    assert (raw["resolution"] == 14).all()
    meta = result.meta
    assert meta["machine"]["cpu_model"] and meta["machine"]["versions"]["onnxruntime"]
    assert meta["choices"] == microbench.CHOICES

"""Appendix Table 1b: ten stacked units at equal FLOPs; predicted and measured runs."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest

from experiments.config import RunSettings, load_config
from experiments.registry import run_experiment
from experiments.target import resolve_target
from experiments.units import build_items
from search_space.cost import cost

from .conftest import check_outputs


def test_four_units_per_column_at_equal_flops(private_home):
    items = build_items(load_config("units"), resolve_target("arm"))
    assert len(items) == 24
    groups = defaultdict(dict)
    for i in items:
        groups[i.group][i.config] = cost(i.spec).flops_m
    assert set(groups) == {f"{r}x{r} c={c}" for r in (56, 28) for c in (64, 128, 256)}
    for group, flops in groups.items():
        assert list(flops) == ["ShuffleNet v2", "ShuffleNet v1", "MobileNet v2", "Xception"]
        v2 = flops["ShuffleNet v2"]
        c, hw = int(group.split("c=")[1]), int(group.split("x")[0]) ** 2
        assert v2 * 1e6 == pytest.approx(10 * hw * (2 * (c // 2) ** 2 + 9 * (c // 2)))  # 10 units, split 1/2
        for family, f in flops.items():  # the paper: "we adjust the number of channels to keep the FLOPs"
            assert abs(f / v2 - 1) < 0.08, (group, family)


def test_predicted_run_on_arm(tmp_path, private_home):
    result = run_experiment("units", RunSettings("arm", out_dir=tmp_path))
    md = check_outputs(tmp_path, "units")
    for number in ("34.8", "24.3", "25.8", "27", "174.5", "16.6"):
        assert f"| {number} |" in md
    assert len(result.verdicts) == 6
    summary = pd.read_csv(tmp_path / "units-summary.csv")
    assert {"unit_width", "flops_vs_v2"} <= set(summary.columns)
    assert (summary.groupby("group")["speed_rel"].first() == 1).all()


def test_measured_quick_run_on_this_cpu(tmp_path, private_home):
    result = run_experiment("units", RunSettings("cpu", out_dir=tmp_path, quick=True, repeats=1, warmup=0))
    check_outputs(tmp_path, "units")
    assert sorted(result.raw["resolution"].unique()) == [7, 14]
    assert len(result.raw) == 8 and (result.raw["latency_ms"] > 0).all()

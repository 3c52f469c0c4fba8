"""Table 8 networks at four complexity levels: MFLOPs, params, MAC, latency, Spearman rho of FLOPs vs latency."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from experiments.config import RunSettings, load_config
from experiments.networks import build_items, level_of, rank_correlations
from experiments.registry import run_experiment
from experiments.target import resolve_target
from search_space.cost import cost
from search_space.references import NETWORKS

from .conftest import check_outputs


def test_levels_hold_every_table8_network_with_shufflenet_v2_first(private_home):
    items = build_items(load_config("networks"), resolve_target("arm"))
    names = {i.config for i in items}
    assert names == {n for n, r in NETWORKS.items() if r.source == "Table 8"}
    assert [level_of(m) for m in (41, 146, 299, 591, 597)] == ["40M", "140M", "300M", "500M+", "500M+"]
    for level in ("40M", "140M", "300M", "500M+"):
        members = [i for i in items if i.group == level]
        assert members[0].config.startswith("shufflenet_v2_x") and members[0].position == 0
        assert {i.extra["family"] for i in members} >= {"shufflenet_v2", "mobilenet_v2", "shufflenet_v1", "xception"}
        for i in members:  # this package's count is the paper's, within its rounding of widths
            assert cost(i.spec).flops_m == pytest.approx(i.extra["paper_mflops"], rel=0.05)


def test_rank_correlations():
    s = pd.DataFrame({"group": ["a"] * 3 + ["b"] * 3, "flops_m": [1, 2, 3, 10, 11, 12],
                      "mac_m": [3, 2, 1, 5, 6, 7], "params_m": [1, 1, 1, 1, 1, 1],
                      "latency_ms": [1.0, 2.0, 3.0, 9.0, 8.0, 7.0]})
    rho = rank_correlations(s).set_index("level")
    assert rho.loc["a", "spearman_flops"] == pytest.approx(1) and rho.loc["b", "spearman_flops"] == pytest.approx(-1)
    assert rho.loc["a", "spearman_mac"] == pytest.approx(-1) and np.isnan(rho.loc["a", "spearman_params"])
    assert rho.loc["all", "networks"] == 6 and rho.loc["all", "latency_spread"] == pytest.approx(9)


def test_predicted_run_on_arm_and_gpu(tmp_path, private_home):
    result = run_experiment("networks", RunSettings("arm", out_dir=tmp_path / "arm"))
    md = check_outputs(tmp_path / "arm", "networks")
    assert "| 24.4 |" in md  # the Table 8 anchor, ShuffleNet v2 1x on ARM
    n_table8 = sum(1 for _, r in NETWORKS.items() if r.source == "Table 8")
    assert n_table8 == 37  # all of Table 8 (issue 14)
    assert "ρ(FLOPs, latency)" in md and f"| all | {n_table8} |" in md
    assert set(result.summary.columns) >= {"family", "paper_mflops", "paper_top1_err", "paper_text_speed_rel"}
    assert len(result.meta["rank_correlations"]) == 5
    run_experiment("networks", RunSettings("gpu-1080ti", out_dir=tmp_path / "gpu"))
    md = (tmp_path / "gpu" / "networks.md").read_text()
    assert "| 341 |" in md and "0.633" in md  # anchor; "58% faster than MobileNet v2"
    assert (pd.read_csv(tmp_path / "gpu" / "networks.csv")["batch"] == 8).all()  # Table 8's GPU batch


def test_measured_run_on_this_cpu(tmp_path, private_home):
    cfg = load_config("networks")
    cfg = dataclasses.replace(cfg, params={**cfg.params, "max_mflops": 45})  # the 40M level only
    result = run_experiment("networks", RunSettings("cpu-torch", out_dir=tmp_path, quick=True, repeats=1, warmup=0),
                            config=cfg)
    check_outputs(tmp_path, "networks")
    assert len(result.raw) == 7 and (result.raw["resolution"] == 64).all()  # DenseNet 0.5x (42) joins the six
    assert set(result.raw["source"]) == {"measured"}

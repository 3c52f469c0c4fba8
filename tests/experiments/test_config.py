"""Experiment configs and run settings."""

from __future__ import annotations

import json

import pytest

from experiments.config import ExperimentConfig, ExperimentError, RunSettings, load_config
from experiments.registry import EXPERIMENTS, list_experiments


def test_every_registered_experiment_has_a_valid_config():
    configs = list_experiments()
    assert [c.name for c in configs] == EXPERIMENTS.names() == ["guidelines", "units", "networks", "predictor"]
    for c in configs:
        assert c.title and c.description
        c.quick_version()  # the quick overrides apply cleanly


def test_quick_merges_params_and_explicit_settings_win():
    cfg = load_config("guidelines")
    quick = RunSettings("cpu", quick=True).apply(cfg)
    assert quick.params["resolution"] < cfg.params["resolution"]
    assert quick.params["tables"] == cfg.params["tables"]  # untouched keys kept
    assert quick.rounds == 1
    explicit = RunSettings("cpu", quick=True, repeats=7, rounds=2, warmup=0).apply(cfg)
    assert (explicit.repeats, explicit.rounds, explicit.warmup) == (7, 2, 0)


def test_bad_values_are_user_errors(tmp_path):
    with pytest.raises(ExperimentError, match="repeats"):
        RunSettings("cpu", repeats=0)
    with pytest.raises(ExperimentError, match="rounds"):
        ExperimentConfig("x", "t", "d", rounds=0)
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"name": "x", "title": "t", "description": "d", "colour": 1}))
    with pytest.raises(ExperimentError, match="unknown field 'colour'"):
        load_config("x", bad)
    bad.write_text("{")
    with pytest.raises(ExperimentError, match="not valid JSON"):
        load_config("x", bad)
    with pytest.raises(ExperimentError, match="no parameter"):
        load_config("units").param("nope")


def test_unknown_experiment_lists_the_known_ones():
    from experiments.registry import run_experiment

    with pytest.raises(Exception, match="known: guidelines, units, networks, predictor"):
        run_experiment("g5", RunSettings("arm"), write=False)


def test_shared_plotlyjs_directory(tmp_path, nas_home):
    from experiments.registry import run_experiment

    run_experiment("units", RunSettings("arm", out_dir=tmp_path, plotlyjs="directory"))
    html = (tmp_path / "units.html").read_text()
    assert 'src="plotly.min.js"' in html and len(html) < 500_000
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    with pytest.raises(ExperimentError, match="--plotlyjs"):
        RunSettings("arm", plotlyjs="web")
    run_experiment("units", RunSettings("arm", out_dir=tmp_path / "cdn", plotlyjs="cdn"))
    html = (tmp_path / "cdn" / "units.html").read_text()
    assert "cdn.plot.ly" in html and len(html) < 500_000

"""SUMMARY.md from a results folder: per platform, the verdicts next to the paper's ratios."""

from __future__ import annotations

import pytest

from experiments.config import ExperimentError, RunSettings
from experiments.registry import run_experiment
from experiments.summary import write_summary


def test_summary_of_a_results_folder(tmp_path, private_home):
    root = tmp_path / "results"
    for name in ("guidelines", "units", "networks", "predictor"):
        run_experiment(name, RunSettings("arm", out_dir=root / "arm"))
    run_experiment("units", RunSettings("cpu", out_dir=root / "cpu-onnxruntime", quick=True, repeats=1, warmup=0))
    path = write_summary(root)
    text = path.read_text()
    assert path == root / "SUMMARY.md"
    assert text.index("## cpu-onnxruntime: measured") < text.index("## arm: predicted")  # measured first
    assert "(quick run: not a result)" in text
    g1 = next(line for line in text.splitlines() if line.startswith("| G1 equal channel width is fastest (x1) |"))
    assert "| 1.32x |" in g1  # the paper's 76.2 / 57.6 images/s; `here` is the arm profile's prediction
    assert "ρ FLOPs" in text and "Fastest network per level" in text and "| flops | 76 published rows |" in text


def test_empty_or_missing_results_are_user_errors(tmp_path):
    with pytest.raises(ExperimentError, match="no results folder"):
        write_summary(tmp_path / "none")
    (tmp_path / "empty" / "arm").mkdir(parents=True)
    with pytest.raises(ExperimentError, match="holds no experiment results"):
        write_summary(tmp_path / "empty")

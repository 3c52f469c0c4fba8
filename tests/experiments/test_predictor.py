"""The predictor accuracy study on a (synthetic) timings file, and on the paper's published rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.config import ExperimentError, RunSettings
from experiments.predictor import RAW_COLUMNS, SUMMARY_COLUMNS
from experiments.registry import run_experiment
from latency_models.measure import resolve_platform
from latency_models.stats import Timing
from latency_models.timings import TimingsMeta, TimingsWriter, network_row
from search_space.cost import cost
from search_space.space import SearchSpace

from .conftest import check_outputs


@pytest.fixture
def timings_file(tmp_path):
    """40 sampled networks in two rounds: latency = 0.02 ms/MFLOP + 0.05 ms/M memory accesses + 1% noise."""
    rng = np.random.default_rng(0)
    space = SearchSpace.default()
    specs = [space.sample(rng).with_resolution(64) for _ in range(40)]
    path = tmp_path / "t.csv"
    with TimingsWriter(path, TimingsMeta.collect(resolve_platform("cpu"))) as w:
        for r in (1, 2):
            for s in specs:
                c = cost(s)
                ms = (0.02 * c.flops_m + 0.05 * c.mac_m + 0.1) * (1 + 0.01 * rng.standard_normal())
                w.write(network_row(s, Timing(ms, 0.01 * ms, 0.01, ms * 0.99, 30, False), 1, r))
    return path


def test_cross_validated_on_a_timings_file(tmp_path, timings_file, private_home):
    result = run_experiment("predictor", RunSettings("cpu", out_dir=tmp_path / "out", timings=(timings_file,)))
    check_outputs(tmp_path / "out", "predictor", RAW_COLUMNS, SUMMARY_COLUMNS)
    s = result.summary.set_index("kind")
    assert list(s.index) == ["flops", "roofline"]  # no unit timings: the per-block kinds are skipped, and said so
    assert s.loc["roofline", "rmspe"] < s.loc["flops", "rmspe"]
    assert s.loc["roofline", "n"] == 40
    md = (tmp_path / "out" / "predictor.md").read_text()
    assert "not scored: lut, learned" in md and "repeat noise" in md
    raw = pd.read_csv(tmp_path / "out" / "predictor.csv")
    assert len(raw) == 80 and set(raw["kind"]) == {"flops", "roofline"}


def test_on_the_papers_published_measurements(tmp_path, private_home):
    result = run_experiment("predictor", RunSettings("arm", out_dir=tmp_path))
    check_outputs(tmp_path, "predictor", RAW_COLUMNS, SUMMARY_COLUMNS)
    s = result.summary
    assert set(s["kind"]) == {"roofline", "flops"}
    assert any("leave-one-table-out" in e for e in s["evaluation"])
    by = s.drop_duplicates("kind").set_index("kind")
    assert by.loc["roofline", "rmspe"] < by.loc["flops", "rmspe"]  # the paper's point, on its own numbers


def test_missing_timings_file_is_a_user_error(tmp_path, private_home):
    with pytest.raises(ExperimentError, match="no such timings file"):
        run_experiment("predictor", RunSettings("cpu", timings=(tmp_path / "none.csv",)), write=False)

"""Normalisation to each group's first row, verdicts and markdown."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.compare import (SUMMARY_COLUMNS, comparison_markdown, markdown_table, outcome, summarize,
                                 verdict)
from experiments.timing import RAW_COLUMNS, Item
from search_space.microbench import MicroSpec


def _raw(latencies: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (group, config), values in latencies.items():
        for r, ms in enumerate(values, start=1):
            rows.append({c: None for c in RAW_COLUMNS} | {
                "experiment": "e", "table": "T", "group": group, "config": config, "round": r, "latency_ms": ms,
                "source": "measured", "platform": "cpu", "batch": 1, "resolution": 56, "flops_m": 1.0,
                "params_m": 0.1, "mac_m": 0.2})
    return pd.DataFrame(rows)


def test_speeds_are_normalised_to_the_first_row_of_each_group():
    spec = MicroSpec("g2", 8)
    items = [Item("T", "x1", "a", spec, 0, paper_value=40.0, paper_unit="images/s"),
             Item("T", "x1", "b", spec, 1, paper_value=30.0, paper_unit="images/s"),
             Item("T", "x2", "a", spec, 0, paper_value=10.0, paper_unit="images/s"),
             Item("T", "x2", "b", spec, 1, paper_value=12.5, paper_unit="images/s")]
    raw = _raw({("x1", "a"): [2.0, 2.2, 1.8], ("x1", "b"): [4.0, 4.0, 9.0], ("x2", "a"): [10.0], ("x2", "b"): [5.0]})
    s = summarize(raw, items, "arm")
    assert list(s.columns) == list(SUMMARY_COLUMNS)
    s = s.set_index(["group", "config"])
    assert s.loc[("x1", "a"), "latency_ms"] == 2.0 and s.loc[("x1", "b"), "latency_ms"] == 4.0  # medians
    assert s.loc[("x1", "a"), "speed_rel"] == 1.0 and s.loc[("x1", "b"), "speed_rel"] == pytest.approx(0.5)
    assert s.loc[("x2", "b"), "speed_rel"] == pytest.approx(2.0)
    assert s.loc[("x1", "b"), "paper_speed_rel"] == pytest.approx(0.75)
    assert s.loc[("x2", "b"), "paper_speed_rel"] == pytest.approx(1.25)
    assert s.loc[("x1", "b"), "speed_per_s"] == pytest.approx(250.0)
    v = verdict(s.reset_index(), "a beats b", "T", "x1", "a", "b", 0.03)
    assert v.ratio == pytest.approx(2.0) and v.paper_ratio == pytest.approx(40 / 30)
    assert v.outcome.startswith("holds")
    md = comparison_markdown(s.reset_index(), "T")
    assert "paper images/s" in md and "| x1 | b |" in md and "0.750" in md


def test_outcome_bands():
    assert outcome(1.10, 0.03).startswith("holds")
    assert outcome(1.01, 0.03).startswith("no clear effect")
    assert outcome(0.90, 0.03).startswith("reversed")
    assert outcome(float("nan"), 0.03) == "not measured"


def test_markdown_table():
    assert markdown_table(["a", "b"], [[1, 2]]) == "| a | b |\n|---|---|\n| 1 | 2 |"

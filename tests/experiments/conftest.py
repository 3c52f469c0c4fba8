"""Shared helpers of the experiment tests: tiny run settings and the documented output files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.compare import SUMMARY_COLUMNS
from experiments.timing import RAW_COLUMNS

OUTPUTS = ("{n}.csv", "{n}-summary.csv", "{n}.md", "{n}.html", "{n}.meta.json")


def check_outputs(out: Path, name: str, raw_columns=RAW_COLUMNS, summary_columns=SUMMARY_COLUMNS) -> str:
    """Every documented file exists, the CSVs have the documented columns; returns the markdown."""
    for pattern in OUTPUTS:
        assert (out / pattern.format(n=name)).is_file(), pattern
    raw = pd.read_csv(out / f"{name}.csv")
    assert list(raw.columns) == list(raw_columns)
    summary = pd.read_csv(out / f"{name}-summary.csv")
    assert list(summary.columns)[:len(summary_columns)] == list(summary_columns)
    html = (out / f"{name}.html").read_text()
    assert "Plotly.newPlot" in html and '<script src="http' not in html  # self-contained: plotly.js inlined
    assert len(html) > 1_000_000
    return (out / f"{name}.md").read_text()


@pytest.fixture
def private_home(nas_home):
    """No user profile shadows the shipped ones."""
    return nas_home

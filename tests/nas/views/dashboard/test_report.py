"""nas.views.dashboard.report: one self-contained HTML file; escaped; atomic; one-line errors."""

from __future__ import annotations

import re

import pytest

from nas.views.dashboard.data import load_study_data
from nas.views.dashboard.report import ReportError, write_report
from tests.nas.views.dashboard.conftest import SCRIPT_NAME
from tests.nas.views.dashboard.test_data import sha


def test_report_is_self_contained(synthetic_db, synthetic_data, tmp_path):
    before = sha(synthetic_db)
    path = write_report(synthetic_data, tmp_path / "r.html")
    html = path.read_text()
    assert sha(synthetic_db) == before
    assert html.startswith("<!DOCTYPE html>")
    # plotly.js is embedded, nothing is loaded from elsewhere
    assert "plotly.js v" in html or "plotly.min.js" in html
    assert not re.search(r"<script[^>]+src=", html) and "<link" not in html
    assert html.count('class="plotly-graph-div"') >= 4  # Pareto, hypervolume, architecture, breakdown
    for r in synthetic_data.rows:
        assert f">{r.arch_id}<" in html  # every trial in the table
    best = synthetic_data.best()
    assert f"Best within 25 ms: trial {best.number}" in html
    assert "nas export --storage" in html and f"--trial {best.number}" in html
    assert "Predictor quality" in html  # two trials were measured


def test_report_escapes_study_strings(script_db, tmp_path):
    data = load_study_data(script_db, SCRIPT_NAME)
    html = write_report(data, tmp_path / "x.html").read_text()
    assert "<img src=x" not in html and '<script>alert("x")' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_unwritable_out(synthetic_data, tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        write_report(synthetic_data, tmp_path / "missing" / "r.html")
    with pytest.raises(ReportError, match="is a folder"):
        write_report(synthetic_data, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no half-written file left behind

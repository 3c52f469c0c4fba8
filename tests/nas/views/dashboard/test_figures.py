"""nas.views.dashboard.figures: what each figure shows, and that study strings are escaped."""

from __future__ import annotations

import json

import pytest

from nas.views.dashboard import figures
from nas.views.dashboard.data import load_profile, load_study_data
from nas.views.dashboard.detail import trial_detail
from tests.nas.views.dashboard.conftest import SCRIPT_NAME
from tests.nas.views.dashboard.synthetic import BUDGET_MS, FRONT, HYPERVOLUME, TRIALS


def traces(fig, prefix):
    return [t for t in fig.data if (t.name or "").startswith(prefix)]


def test_pareto_figure_marks_categories_and_latency_kinds(synthetic_data):
    fig = figures.pareto_figure(synthetic_data)
    pareto = traces(fig, "Pareto front")
    got = sorted((y, x) for t in pareto for x, y in zip(t.x, t.y))
    assert got == sorted(FRONT)
    symbols = {t.name: t.marker.symbol for t in fig.data if t.name}
    assert symbols["Pareto front, within budget (measured latency)"] == "diamond"
    assert symbols["Pareto front, within budget (predicted latency)"] == "circle"
    assert {t.name for t in fig.data} >= {"dominated (predicted latency)", "over budget (measured latency)",
                                          "rejected: predicted over budget, not trained",
                                          "hand-designed networks (latency only)"}
    clickable = {c[0] for t in fig.data if t.customdata is not None for c in t.customdata if c[0] is not None}
    assert clickable == {n for n, t in TRIALS.items() if t[0] not in ("pruned", "failed")}
    # the budget as a vertical line across both panels
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert lines and all(s.x0 == s.x1 == BUDGET_MS for s in lines)
    refs = traces(fig, "hand-designed")[0]
    assert len(refs.x) == len(synthetic_data.references)
    assert "no accuracy on the proxy task" in json.dumps(fig.to_plotly_json()["layout"]["annotations"])


def test_selected_trial_is_highlighted(synthetic_data):
    fig = figures.pareto_figure(synthetic_data, selected=0)
    sel = traces(fig, "trial 0")
    assert sel and (sel[0].x[0], sel[0].y[0]) == (20.0, 0.70)


def test_hypervolume_figure(synthetic_data):
    fig = figures.hypervolume_figure(synthetic_data)
    assert list(fig.data[0].x) == sorted(TRIALS)
    assert fig.data[0].y[-1] == pytest.approx(HYPERVOLUME)
    assert f"{BUDGET_MS:g} ms = budget" in fig.layout.title.text


def test_architecture_and_breakdown_figures(synthetic_data):
    profile, _ = load_profile("arm")
    d = trial_detail(synthetic_data, 7, profile)
    fig = figures.architecture_figure(d)
    z = fig.data[0].z
    assert len(z) == len(d.stages)
    assert sum(1 for row in z for v in row if v is not None) == len(d.units)
    assert d.row.arch_id in fig.layout.title.text
    bars = figures.breakdown_figure(d)
    assert sum(bars.data[0].x) == pytest.approx(sum(d.breakdown_ms.values()))
    title = bars.layout.title.text
    assert "predicted" in title and "arm" in title and "RMSPE" in title and "measured 18.50 ms" in title


def test_predictor_figure_shows_the_measured_trials(synthetic_data):
    fig = figures.predictor_figure(synthetic_data)
    pts = traces(fig, "measured trials")[0]
    assert sorted(zip(pts.x, pts.y)) == [(18.0, 18.5), (23.0, 26.0)]


def test_empty_study_figures(tmp_path):
    from tests.nas.views.dashboard.synthetic import make_study

    data = load_study_data(make_study(tmp_path / "e.db", "e", extra_trials=False), "e")
    for fig in (figures.pareto_figure(data), figures.hypervolume_figure(data), figures.predictor_figure(data)):
        fig.to_json()


def test_study_strings_are_escaped(script_db):
    data = load_study_data(script_db, SCRIPT_NAME)
    profile, _ = load_profile("arm")
    figs = [figures.pareto_figure(data), figures.hypervolume_figure(data),
            figures.architecture_figure(trial_detail(data, 2, profile))]
    text = "".join(f.to_json() for f in figs)
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in figs[0].layout.title.text


def test_reference_tags():
    assert figures.reference_tag("shufflenet_v2_x0_5") == "0.5x"
    assert figures.reference_tag("shufflenet_v2_x2_0_se") == "2.0x SE"
    assert figures.reference_tag("odd") == "odd"

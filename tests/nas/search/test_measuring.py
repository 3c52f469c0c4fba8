"""Measurement in the loop: the measurement decides, the prediction is corrected by the study's measurements,
an unreachable device leaves the decision to the (labelled) prediction."""

from __future__ import annotations

from dataclasses import replace

import pytest

from latency_models.estimate import LatencyEstimate
from nas.search import trial as trial_mod
from nas.search.backends import SearchRun, get_backend
from nas.search.config import SearchConfig
from nas.search.measuring import LoopCalibration, Measurer, loop_summary
from nas.search.record import EVALUATED, REJECTED, TrialRecord, load_records
from nas.search.study import load_study

BUDGET = 30.0


class Scaled(Measurer):
    """A device `factor` times slower than the arm profile predicts; unreachable for the calls in `down`."""

    name = "test device"

    def __init__(self, factor: float, down: tuple[int, ...] = ()):
        self.factor, self.down, self.calls = factor, down, 0

    def measure(self, spec):
        self.calls += 1
        if self.calls in self.down:
            return None
        from latency_models.profiles import require_profile

        ms = require_profile("arm").estimate(spec).latency_ms * self.factor
        return LatencyEstimate(ms, "measured", "arm", "test", 1, spec.resolution, cv=0.01, reference_ms=10.0)


def _search(tmp_path, tiny_idx_dir, monkeypatch, measurer, trials=12):
    monkeypatch.setattr(trial_mod.SearchContext, "measurer", property(lambda self: measurer))
    config = SearchConfig(platform="arm", budget_ms=BUDGET, evaluator="synflow", dataset=f"fashion-mnist:{tiny_idx_dir}",
                          trials=trials, timeout_s=None, workers=1, train_examples=200, val_examples=100)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    get_backend("optuna").run(SearchRun(config, url, "m"))
    return load_records(load_study(url, "m"))


def test_the_measurement_decides_and_the_prediction_is_corrected(tmp_path, tiny_idx_dir, monkeypatch, nas_home):
    records = _search(tmp_path, tiny_idx_dir, monkeypatch, Scaled(1.3))
    trained = [r for r in records if r.status == EVALUATED]
    assert len(trained) == 12
    assert all(r.decided_by == "measured" and r.measured.latency_ms <= BUDGET for r in trained)
    over = [r for r in records if r.status == REJECTED and r.decided_by == "measured"]
    assert over and all(r.predicted.latency_ms <= BUDGET * 1.3 for r in over)  # the prediction alone let them in
    late = [r for r in records if r.loop_factor is not None][-3:]
    assert all(r.loop_factor == pytest.approx(1.3, rel=1e-6) for r in late)  # learnt from the study
    summary = loop_summary(records)
    assert summary.trained_over_budget == 0 and summary.measured == len(trained) + len(over)
    assert summary.near_budget_error_end == pytest.approx(0.0, abs=1e-9)


def test_an_unreachable_device_leaves_the_decision_to_the_labelled_prediction(tmp_path, tiny_idx_dir, monkeypatch,
                                                                              nas_home):
    records = _search(tmp_path, tiny_idx_dir, monkeypatch, Scaled(1.0, down=(2, 3)), trials=6)
    unmeasured = [r for r in records if r.measured is None and r.status == EVALUATED]
    assert len(unmeasured) >= 1 and all(r.decided_by == "predicted" and r.latency.kind == "predicted"
                                        for r in unmeasured)
    assert any(r.decided_by == "measured" for r in records[-3:])  # measured again once it was back


def test_calibration_needs_points_and_uses_their_spread():
    pred = LatencyEstimate(10.0, "predicted", "arm", "x", 1, 224, error_rmspe=0.1)
    base = TrialRecord.candidate(__import__("search_space.references", fromlist=["x"]).reference_spec(
        "shufflenet_v2_x0_5"), pred, BUDGET)
    recs = [replace(base, measured=replace(pred, kind="measured", latency_ms=12.0 + 0.1 * i), decided_by="measured")
            for i in range(5)]
    assert LoopCalibration.from_records(recs[:3], 0.1) == LoopCalibration(1.0, 0.1, 3)
    cal = LoopCalibration.from_records(recs, 0.1)
    assert cal.factor == pytest.approx(1.22) and cal.n == 5 and 0.02 <= cal.spread < 0.05
    assert cal.clearly_over(30.0, BUDGET) and not cal.clearly_over(25.0, BUDGET)

"""TrialRecord: the budget check, the round trip through a study, and studies written before records existed."""

from __future__ import annotations

from dataclasses import replace

import optuna
import pytest

from latency_models.estimate import LatencyEstimate
from nas.search.record import (ATTR_RECORD, INTERRUPTED, PRUNED, REJECTED, RUNNING, TrialRecord,
                               load_records, measurement_entry)
from nas.search.results import load_results
from nas.views.dashboard.data import study_data
from search_space.space import SearchSpace
from tests.nas.views.dashboard import synthetic

BUDGET = 25.0


def _spec(seed: int = 0):
    import numpy as np

    return SearchSpace.default().sample(np.random.default_rng(seed))


def _estimate(ms: float, kind: str = "predicted") -> LatencyEstimate:
    return LatencyEstimate(latency_ms=ms, kind=kind, platform="arm", runtime="paper-arm-neon", batch=1,
                           resolution=224, predictor="roofline" if kind == "predicted" else None,
                           error_rmspe=0.09 if kind == "predicted" else None)


def test_the_budget_check_uses_the_measured_figure_when_there_is_one():
    spec = _spec()
    assert TrialRecord.candidate(spec, _estimate(24.0), BUDGET).status == RUNNING
    assert TrialRecord.candidate(spec, _estimate(26.0), BUDGET).status == REJECTED
    rec = TrialRecord.candidate(spec, _estimate(24.0), BUDGET, measured=_estimate(26.0, "measured"))
    assert rec.status == REJECTED and rec.decided_by == "measured" and rec.latency_ms == 26.0
    rec = TrialRecord.candidate(spec, _estimate(26.0), BUDGET, measured=_estimate(24.0, "measured"))
    assert rec.status == RUNNING and rec.predicted.latency_ms == 26.0 and rec.constraint_ms == -1.0


def test_a_record_survives_the_study_unchanged(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'r.db'}", study_name="r")
    rec = TrialRecord.candidate(_spec(), _estimate(20.0), BUDGET).evaluated(synthetic.evaluation(0.8))
    study.add_trial(optuna.trial.create_trial(value=0.8, user_attrs=rec.to_attrs()))
    back = TrialRecord.from_trial(study.get_trials()[0])
    assert replace(back, number=-1, state="", duration_s=None) == rec
    assert back.number == 0 and back.state == "COMPLETE" and back.value == 0.8 and back.counted
    assert list(study.get_trials()[0].user_attrs) == [ATTR_RECORD]  # one attribute: the record


def test_statuses_and_what_counts():
    rec = TrialRecord.candidate(_spec(), _estimate(20.0), BUDGET)
    assert rec.pruned(3, 0.4).counted and rec.pruned(3, 0.4).status == PRUNED
    assert rec.failed("RuntimeError: nan").counted
    assert not rec.interrupted("killed").counted and rec.interrupted("killed").status == INTERRUPTED
    assert not TrialRecord.candidate(_spec(), _estimate(30.0), BUDGET).counted
    with pytest.raises(ValueError, match="status"):
        replace(rec, status="done")


def test_a_post_search_measurement_is_merged_in(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'm.db'}", study_name="m")
    rec = TrialRecord.candidate(_spec(), _estimate(20.0), BUDGET).evaluated(synthetic.evaluation(0.7))
    study.add_trial(optuna.trial.create_trial(value=0.7, user_attrs=rec.to_attrs()))
    study.set_user_attr("measured", {"0": measurement_entry(_estimate(26.5, "measured"), 20.0, "2026-01-01")})
    (back,) = load_records(study)
    assert back.latency.kind == "measured" and back.latency_ms == 26.5 and not back.within_budget
    assert back.predicted.latency_ms == 20.0


def _same_view(a, b):
    """Two dashboard views of one study show the same rows (every field but the time each trial was written)."""
    assert [replace(r, completed="") for r in a.rows] == [replace(r, completed="") for r in b.rows]
    assert a.counts == b.counts and a.hypervolume == b.hypervolume and a.metric == b.metric


def test_studies_written_before_records_read_the_same(tmp_path, nas_home):
    """The flat attributes of older studies (tests/nas/search/legacy.py) give the same results and dashboard."""
    new = synthetic.make_study(tmp_path / "new.db")
    old = synthetic.make_study(tmp_path / "old.db", legacy=True)
    s_new = optuna.load_study(study_name="synthetic", storage=f"sqlite:///{new}")
    s_old = optuna.load_study(study_name="synthetic", storage=f"sqlite:///{old}")
    assert ATTR_RECORD not in s_old.get_trials()[0].user_attrs
    r_new, r_old = load_results(s_new, "x"), load_results(s_old, "x")
    assert [r.number for r in r_new.pareto] == [r.number for r in r_old.pareto] == [7, 2, 4]
    assert r_new.counts == r_old.counts
    assert r_old.best.number == r_new.best.number == 2 and r_old.pareto[0].latency.kind == "measured"
    for a, b in zip(r_new.records, r_old.records):
        assert (a.status, a.arch_id, a.latency_ms, a.value, a.cost) == (b.status, b.arch_id, b.latency_ms,
                                                                        b.value, b.cost)
    _same_view(study_data(s_new, "x", with_references=False), study_data(s_old, "x", with_references=False))

"""Choosing what to export: a study's trial or best (storage opened read-only), an architecture; bad choices."""

from __future__ import annotations

import sqlite3

import pytest

from nas.views.source import SourceError
from nas.views.source import Source, open_study_read_only, source_from_arch, source_from_study
from search_space.references import reference_spec
from tests.nas.views.export.helpers import BUDGET_MS, sha, study_db, tiny_spec  # noqa: F401 - study_db is a fixture


def test_best_and_trial_carry_latency_and_accuracy_records(study_db):
    db, name, numbers = study_db
    before = sha(db)
    best = source_from_study(str(db), name, best=True)
    assert best.origin.selected_by == "best" and best.origin.status == "evaluated"
    assert best.latency is not None and best.latency.within_budget
    assert best.latency.kind in ("predicted", "measured") and best.latency.platform == "arm"
    assert best.accuracy.kind == "zero-cost proxy" and best.accuracy.evaluator == "synflow"
    assert best.dataset.startswith("fashion-mnist") and best.proxy_resolution == 32
    assert best.proxy_task is not None and best.proxy_task.resolution == 32
    one = source_from_study(str(db), None, trial=numbers["evaluated"])  # the only study: no name needed
    assert one.origin.trial == numbers["evaluated"] and one.spec.resolution == 32
    assert best.origin.trial == numbers["best"]
    assert sha(db) == before


def test_measured_latency_is_labelled_measured(study_db):
    db, name, numbers = study_db
    src = source_from_study(str(db), name, trial=numbers["measured"])
    assert src.latency.kind == "measured" and src.latency.latency_ms == 12.5
    assert src.latency.predicted_ms is not None and src.latency.measured_cv == 0.02
    assert "measured" in src.latency.label()


def test_rejected_trial_is_exportable_and_says_over_budget(study_db):
    db, name, numbers = study_db
    src = source_from_study(str(db), name, trial=numbers["rejected"])
    assert src.origin.status.startswith("rejected")
    assert src.latency.latency_ms > BUDGET_MS and src.latency.within_budget is False
    assert src.accuracy.value is None and src.accuracy.kind == "not evaluated"
    assert any("over budget" in n for n in src.notes)


@pytest.mark.parametrize("kwargs, message", [
    ({"trial": 999}, "no trial 999"),
    ({"trial": "failed"}, "failed"),
    ({"trial": "nospec"}, "has no architecture"),
])
def test_bad_trials_are_refused(study_db, kwargs, message):
    db, name, numbers = study_db
    before = sha(db)
    trial = kwargs["trial"] if isinstance(kwargs["trial"], int) else numbers[kwargs["trial"]]
    with pytest.raises(SourceError, match=message):
        source_from_study(str(db), name, trial=trial)
    assert sha(db) == before


def test_bad_storages_and_studies(study_db, tmp_path):
    db, _, _ = study_db
    with pytest.raises(SourceError, match="no study 'nope'"):
        source_from_study(str(db), "nope", best=True)
    with pytest.raises(SourceError, match="no study storage"):
        open_study_read_only(str(tmp_path / "missing.db"), None)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    with pytest.raises(SourceError, match="cannot open storage"):
        open_study_read_only(str(junk), None)
    assert junk.read_text() == "not a database"
    with pytest.raises(SourceError, match="cannot open storage"):
        open_study_read_only("postgresql+nodriver://localhost/x", None)
    with pytest.raises(SourceError, match="exactly one"):
        source_from_study(str(db), None)


def test_a_foreign_sqlite_file_is_not_written(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("create table mine (a)")
    con.commit()
    con.close()
    before = sha(path)
    with pytest.raises(SourceError):
        open_study_read_only(str(path), None)
    assert sha(path) == before  # read-only: Optuna did not add its tables


def test_arch_source_and_round_trip_of_the_record():
    src = source_from_arch(reference_spec("shufflenet_v2_x0_5"), "shufflenet_v2_x0_5", platform="arm")
    assert src.latency.kind == "predicted" and src.latency.predictor_error_rmspe is not None
    again = Source.from_dict(src.to_dict())
    assert again.spec == src.spec and again.latency == src.latency and again.origin == src.origin
    plain = source_from_arch(tiny_spec(), "tiny.json")
    assert plain.latency is None and any("no latency" in n for n in plain.notes)
    with pytest.raises(SourceError, match="damaged"):
        Source.from_dict({"spec": {}})

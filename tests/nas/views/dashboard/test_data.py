"""nas.views.dashboard.data / store / detail: categories, Pareto marking, hypervolume, references, read-only opening."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from nas.views.dashboard.data import (CATEGORIES, hypervolume_2d, hypervolume_history, load_profile, load_study_data,
                                reference_points)
from nas.views.dashboard.detail import export_command, trial_detail
from nas.search.storage import display_storage, open_read_only
from nas.search.study import open_study
from nas.search.storage import StorageError
from search_space.cost import cost
from search_space.lint import lint
from search_space.spec import spec_from_json
from tests.nas.views.dashboard.synthetic import BUDGET_MS, FRONT, HYPERVOLUME, TRIALS, make_study


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------ hypervolume
def test_hypervolume_of_a_known_front():
    # two points: 0.5 from 10 ms and 0.8 from 20 ms, reference (0, 30 ms): 0.5 * 10 + 0.8 * 10
    assert hypervolume_2d([(0.5, 10.0), (0.8, 20.0)], 0.0, 30.0) == pytest.approx(13.0)
    # a dominated point adds nothing, points beyond the reference count nothing, order does not matter
    assert hypervolume_2d([(0.8, 20.0), (0.4, 15.0), (0.5, 10.0), (0.9, 31.0), (-0.1, 5.0)], 0.0, 30.0) \
        == pytest.approx(13.0)
    assert hypervolume_2d([], 0.0, 30.0) == 0.0
    # one point is a rectangle
    assert hypervolume_2d([(0.25, 6.0)], 0.0, 10.0) == pytest.approx(1.0)
    # a reference value above zero shifts the base
    assert hypervolume_2d([(0.5, 10.0)], 0.3, 20.0) == pytest.approx(0.2 * 10.0)


def test_hypervolume_history_never_decreases(synthetic_data):
    hv = [v for _, v in synthetic_data.hypervolume]
    assert [n for n, _ in synthetic_data.hypervolume] == sorted(TRIALS)
    assert all(b >= a - 1e-12 for a, b in zip(hv, hv[1:]))
    assert hv[-1] == pytest.approx(HYPERVOLUME)
    assert synthetic_data.hv_reference == (0.0, BUDGET_MS)
    assert hypervolume_history(synthetic_data.rows, 0.0, BUDGET_MS)[-1][1] == pytest.approx(HYPERVOLUME)


# ------------------------------------------------------------------------------------------------ rows
def test_every_trial_is_categorised(synthetic_data):
    got = {r.number: r.category for r in synthetic_data.rows}
    assert got == {n: t[0] for n, t in TRIALS.items()}
    assert set(synthetic_data.counts) == set(CATEGORIES)
    assert sum(synthetic_data.counts.values()) == len(TRIALS)


def test_pareto_marking_uses_shown_latency(synthetic_data):
    front = sorted((r.value, r.latency_ms) for r in synthetic_data.rows if r.category == "pareto")
    assert front == sorted(FRONT)
    t7, t4 = synthetic_data.row(7), synthetic_data.row(4)
    assert (t7.latency_kind, t7.latency_ms, t7.predicted_ms, t7.measured_ms) == ("measured", 18.5, 18.0, 18.5)
    # predicted within budget, measured over it: evaluated but infeasible, never on the front
    assert (t4.latency_kind, t4.within_budget, t4.category) == ("measured", False, "over budget")
    assert synthetic_data.best().number == 2
    assert synthetic_data.row(0).latency_kind == "predicted"
    assert synthetic_data.row(0).predictor_error_rmspe is not None
    assert synthetic_data.row(3).value is None and "not trained" in synthetic_data.row(3).note
    assert "out of memory" in synthetic_data.row(6).note
    assert synthetic_data.metric == "val_accuracy" and synthetic_data.is_accuracy


def test_records_are_json_ready(synthetic_data):
    import json

    recs = [r.to_record() for r in synthetic_data.rows]
    assert all(rec["id"] == rec["number"] and "spec" not in rec for rec in recs)
    json.dumps(recs)


# ------------------------------------------------------------------------------------------------ references
def test_references_are_predicted_on_the_study_platform(synthetic_data):
    names = {r.name for r in synthetic_data.references}
    for scale in ("0_5", "1_0", "1_5", "2_0"):
        assert f"shufflenet_v2_x{scale}" in names
    assert {"mobilenet_v1_x1_0", "mobilenet_v2_x1_0", "shufflenet_v1_g3_x1_0", "xception_x1_0"} <= names
    profile, note = load_profile("arm")
    assert note == ""
    again = {r.name: r.latency_ms for r in reference_points(profile, 224, 10)}
    for r in synthetic_data.references:
        assert r.latency_ms > 0 and again[r.name] == pytest.approx(r.latency_ms)
    label = synthetic_data.profile.label()
    assert "predicted" in label and "arm" in label and "RMSPE" in label
    small, big = again["shufflenet_v2_x0_5"], again["shufflenet_v2_x2_0"]
    assert small < big


def test_unknown_platform_leaves_references_out():
    profile, note = load_profile("no-such-platform")
    assert profile is None and "no-such-platform" in note


# ------------------------------------------------------------------------------------------------ detail
def test_trial_detail_describes_the_architecture(synthetic_data):
    profile, _ = load_profile("arm")
    d = trial_detail(synthetic_data, 2, profile)
    spec = spec_from_json(synthetic_data.row(2).spec)
    assert len(d.units) == spec.units
    assert [s["width"] for s in d.stages] == [st.width for st in spec.stages]
    assert [s["units"] for s in d.stages] == [st.depth for st in spec.stages]
    u = d.units[0]
    first = spec.stages[0].units[0]
    assert (u.kernel, u.variant, u.split_ratio, u.se, u.residual) == (first.kernel, first.variant,
                                                                      first.split_ratio, first.se, first.residual)
    assert d.cost["flops_m"] == pytest.approx(cost(spec).flops_m)
    assert len(d.findings) == len(lint(spec).findings)
    assert set(d.breakdown_ms) >= {f"stage{i + 2}" for i in range(len(spec.stages))}
    assert "predicted" in d.breakdown_label and "arm" in d.breakdown_label
    assert "--trial 2 " in d.export_command and d.export_command.endswith("--format onnx")
    assert trial_detail(synthetic_data, 999, profile) is None


def test_export_command_is_shell_quoted():
    cmd = export_command("/tmp/my studies.db", "a'b; rm -rf x", 3)
    import shlex

    assert shlex.split(cmd) == ["nas", "export", "--storage", "/tmp/my studies.db", "--study", "a'b; rm -rf x",
                                "--trial", "3", "--format", "onnx"]


# ------------------------------------------------------------------------------------------------ read-only
def test_reading_changes_nothing_and_cannot_write(synthetic_db):
    before = sha(synthetic_db)
    load_study_data(synthetic_db, "synthetic")
    study = open_study(open_read_only(synthetic_db), "synthetic")
    with pytest.raises(Exception):
        study.set_user_attr("x", 1)
    assert sha(synthetic_db) == before


def test_storages_that_do_not_open(tmp_path):
    with pytest.raises(StorageError, match="no study storage"):
        open_read_only(str(tmp_path / "missing.db"))
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(StorageError, match="not an Optuna study storage"):
        open_read_only(str(empty))
    assert empty.stat().st_size == 0  # no tables were created in it
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError, match="cannot open storage"):
        open_read_only(str(junk))
    assert junk.read_bytes() == b"not a database" * 100


def test_study_choice(tmp_path, synthetic_db):
    store = open_read_only(synthetic_db)
    assert open_study(store, None).study_name == "synthetic"
    with pytest.raises(StorageError, match="no study 'nope'.*synthetic"):
        open_study(store, "nope")
    two = tmp_path / "two.db"
    make_study(two, "a", extra_trials=False)
    make_study(two, "b", extra_trials=False)
    with pytest.raises(StorageError, match="2 studies"):
        open_study(open_read_only(str(two)), None)
    empty = load_study_data(str(two), "a")  # a study with no trials yet
    assert empty.rows == () and empty.best() is None and empty.hypervolume == ()


def test_display_storage_hides_passwords():
    assert display_storage("postgresql://me:secret@db.example/nas") == "postgresql://me:***@db.example/nas"
    assert display_storage("/tmp/x.db") == "/tmp/x.db"


def test_hypervolume_history_matches_the_direct_computation(synthetic_data):
    import random
    from dataclasses import replace

    rng = random.Random(0)
    template = synthetic_data.row(0)
    rows = [replace(template, number=i, value=rng.random(), latency_ms=rng.uniform(5.0, 35.0)) for i in range(300)]
    hist = hypervolume_history(rows, 0.0, 30.0)
    for n in (0, 10, 99, 299):
        direct = hypervolume_2d([(r.value, r.latency_ms) for r in rows[:n + 1]], 0.0, 30.0)
        assert hist[n] == (n, pytest.approx(direct))

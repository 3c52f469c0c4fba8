"""FLOPs budgets (the paper's straw man): `nas search --budget 146MFLOPs` decides by multiply-adds, still shows
each network's latency on the platform, picks its references by FLOPs; latency studies stored before FLOPs
budgets existed still load and continue."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from latency_models.estimate import LatencyEstimate
from nas.cli.main import main
from nas.search.budget import Budget
from nas.search.config import SearchConfig, SearchConfigError
from nas.search.record import ATTR_RECORD, REJECTED, RUNNING, CostSummary, TrialRecord, load_records
from nas.search.references import choose_references
from nas.search.session import counted_trials
from nas.search.study import ATTR_CONFIG, load_study
from nas.search.trial import SearchContext
from nas.views.dashboard import figures
from nas.views.dashboard.data import study_data
from nas.views.dashboard.report import report_html
from search_space.references import NETWORKS
from search_space.space import SearchSpace
from search_space.spec import ArchSpec

BUDGET_MFLOPS = 146.0
SMALL = ["--train-examples", "200", "--val-examples", "100", "--timeout", "0", "--workers", "1",
         "--evaluator", "synflow"]


def run_cli(capsys, args) -> dict:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _estimate(ms: float) -> LatencyEstimate:
    return LatencyEstimate(latency_ms=ms, kind="predicted", platform="arm", runtime="paper-arm-neon", batch=1,
                           resolution=224, predictor="roofline", error_rmspe=0.09)


def _spec_with_flops(low: float, high: float):
    rng = np.random.default_rng(0)
    space = SearchSpace.default()
    for _ in range(2000):
        spec = space.sample(rng)
        if low <= CostSummary.of(spec).flops_m <= high:
            return spec
    raise AssertionError("no such architecture")


# ------------------------------------------------------------------------------------------------ the record
def test_a_flops_budget_is_decided_by_multiply_adds_whatever_the_latency():
    small, big = _spec_with_flops(20, 120), _spec_with_flops(200, 2000)
    budget = Budget(BUDGET_MFLOPS, "MFLOPs")
    rec = TrialRecord.candidate(small, _estimate(500.0), budget)  # slow on the device, yet within the FLOPs
    assert rec.status == RUNNING and rec.within_budget and rec.decided_by == "flops"
    assert rec.budget == budget and rec.budget_ms is None and rec.budget_mflops == BUDGET_MFLOPS
    assert rec.constraint_name == "flops_over_budget_mflops"
    assert rec.constraint == pytest.approx(rec.cost.flops_m - BUDGET_MFLOPS) and rec.constraint <= 0
    assert rec.latency_ms == 500.0 and rec.latency.kind == "predicted"  # the latency is still there
    over = TrialRecord.candidate(big, _estimate(0.1), budget)  # fast, but over the FLOPs budget
    assert over.status == REJECTED and not over.within_budget and over.constraint > 0
    assert over.objective_values(pareto=True) == [0.0, over.cost.flops_m]
    back = TrialRecord.from_dict(rec.to_dict())
    assert back.budget == budget and back.within_budget and back.decided_by == "flops"


def test_a_latency_record_is_unchanged():
    rec = TrialRecord.candidate(_spec_with_flops(0, 1e9), _estimate(24.0), 25.0)
    assert rec.budget == Budget(25.0) and rec.constraint_name == "latency_over_budget_ms"
    assert rec.constraint == rec.constraint_ms == -1.0 and rec.budget_mflops is None
    stored = rec.to_dict()
    stored.pop("budget_mflops")  # as records were stored before FLOPs budgets
    assert TrialRecord.from_dict(stored) == rec


def test_the_config_takes_exactly_one_budget_and_names_it_with_its_unit():
    c = SearchConfig(platform="cpu", budget_mflops=BUDGET_MFLOPS)
    assert c.budget == Budget(146.0, "MFLOPs") and c.default_study_name().startswith("cpu-146MFLOPs-constrained")
    assert SearchConfig(platform="arm", budget_ms=20.0).default_study_name().startswith("arm-20ms-constrained")
    with pytest.raises(SearchConfigError, match="--budget"):
        SearchConfig(platform="arm")
    with pytest.raises(SearchConfigError, match="--budget"):
        SearchConfig(platform="arm", budget_ms=20.0, budget_mflops=146.0)
    old = {k: v for k, v in SearchConfig(platform="arm", budget_ms=20.0).to_dict().items() if k != "budget_mflops"}
    assert SearchConfig.from_dict(old).budget == Budget(20.0)  # a config stored before FLOPs budgets


def test_references_are_chosen_by_flops(tiny_idx_dir):
    ctx = SearchContext(SearchConfig(platform="arm", budget_mflops=BUDGET_MFLOPS,
                                     dataset=f"fashion-mnist:{tiny_idx_dir}"))
    chosen = choose_references(ctx)
    flops = {n: CostSummary.of(s).flops_m for n, s in chosen}
    everything = {name: CostSummary.of(NETWORKS.get(name).spec().with_resolution(224).with_classes(10)).flops_m
                  for name in NETWORKS.names()}
    largest: dict[str, tuple[float, str]] = {}
    for name, f in everything.items():
        family = NETWORKS.get(name).family
        if f <= BUDGET_MFLOPS and f > largest.get(family, (-1.0, ""))[0]:
            largest[family] = (f, name)
    above = min((f for f in everything.values() if f > BUDGET_MFLOPS), default=None)
    assert "shufflenet_v2_x1_0" in {n for _, n in largest.values()}  # 146 MFLOPs in Table 5; a 10-class head is smaller
    assert len(largest) >= 6  # most families of Table 8 have a network at this level
    assert {n for n, f in flops.items() if f <= BUDGET_MFLOPS} == {n for _, n in largest.values()}
    assert [f for f in flops.values() if f > BUDGET_MFLOPS] == ([above] if above is not None else [])
    assert chosen[-1][0] == min((n for n in everything if everything[n] > BUDGET_MFLOPS), key=everything.__getitem__)


# ------------------------------------------------------------------------------------------------ end to end
def test_flops_budget_search_end_to_end(tiny_idx_dir, tmp_path, capsys, nas_home):
    db = tmp_path / "f.db"
    args = ["search", "--platform", "arm", "--budget", "146MFLOPs", "--dataset", f"fashion-mnist:{tiny_idx_dir}",
            "--trials", "4", "--storage", str(db), "--seed", "3"] + SMALL
    out = run_cli(capsys, args + ["--json"])
    assert out["budget"] == {"value": 146.0, "unit": "MFLOPs", "kind": "flops"} and out["budget_ms"] is None
    assert out["study"] == "arm-146MFLOPs-constrained-synflow-fashion-mnist"
    study = load_study(str(db), out["study"])
    assert counted_trials(study) == 4
    for t in study.get_trials():
        rec = TrialRecord.from_trial(t)
        assert rec.budget == Budget(146.0, "MFLOPs") and rec.latency_ms > 0 and rec.latency.platform == "arm"
        if rec.reference is not None:  # evaluated whatever its FLOPs; judged by them
            assert rec.within_budget == (rec.cost.flops_m <= BUDGET_MFLOPS)
            continue
        assert rec.decided_by == "flops" and rec.predicted.kind == "predicted"
        over = t.system_attrs["constraints:flops_over_budget_mflops"]
        assert "constraints:latency_over_budget_ms" not in t.system_attrs
        assert over == pytest.approx(rec.cost.flops_m - BUDGET_MFLOPS)
        if rec.status == REJECTED:
            assert rec.cost.flops_m > BUDGET_MFLOPS and rec.evaluation is None
        else:  # no evaluated candidate exceeds the FLOPs budget
            assert rec.cost.flops_m <= BUDGET_MFLOPS and over <= 0
    best = out["best"]
    assert best is not None and best["flops_m"] <= BUDGET_MFLOPS and best["within_budget"]
    assert best["latency_kind"] == "predicted" and best["latency_ms"] > 0 and best["platform"] == "arm"
    assert all(c["latency_ms"] > 0 and c["flops_m"] <= BUDGET_MFLOPS for c in out["pareto"])
    refs = {r["name"]: r for r in out["references"]}
    assert "shufflenet_v2_x1_0" in refs and refs["shufflenet_v2_x1_0"]["within_budget"]
    assert sum(not r["within_budget"] for r in refs.values()) <= 1  # the nearest above, by FLOPs
    assert all(r["within_budget"] == (r["flops_m"] <= BUDGET_MFLOPS) for r in refs.values())
    if out["versus_reference"] is not None:
        assert out["versus_reference"]["flops_ratio"] > 0 and out["versus_reference"]["latency_ratio"] > 0

    # the summary says the budget with its unit and the latencies on the platform (a rerun: nothing to add)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "FLOPs budget 146 MFLOPs" in text and "best within 146 MFLOPs" in text and "ms predicted" in text
    assert "versus the hand design" in text

    # the dashboard: no budget line on the latency axis, the FLOPs budget in the title
    data = study_data(load_study(str(db), out["study"]), "x", with_references=False)
    fig = figures.pareto_figure(data)
    assert not [s for s in fig.layout.shapes if s.type == "line"]
    assert "FLOPs budget 146 MFLOPs" in fig.layout.title.text
    assert data.hv_reference[1] > 0 and np.isfinite(data.hv_reference[1])
    assert "1.1x the slowest" in figures.hypervolume_figure(data).layout.title.text
    page = report_html(data, None)
    assert "FLOPs budget 146 MFLOPs" in page and "Best within 146 MFLOPs" in page


def _copy_as_stored_before_flops_budgets(src: str, dst: str, name: str) -> None:
    """The study `name` of `src` as today's latency-only code stored it: no budget_mflops in the config or in any
    record (an exact copy otherwise)."""
    old = optuna.load_study(study_name=name, storage=src)
    new = optuna.create_study(study_name=name, storage=dst, directions=[d.name.lower() for d in old.directions])
    for key, value in old.user_attrs.items():
        if key == ATTR_CONFIG:
            value = {k: v for k, v in value.items() if k != "budget_mflops"}
        new.set_user_attr(key, value)
    for t in old.get_trials():
        attrs = dict(t.user_attrs)
        if ATTR_RECORD in attrs:
            attrs[ATTR_RECORD] = {k: v for k, v in attrs[ATTR_RECORD].items() if k != "budget_mflops"}
        new.add_trial(optuna.trial.create_trial(
            state=t.state, values=t.values, params=t.params, distributions=t.distributions, user_attrs=attrs,
            system_attrs=t.system_attrs, intermediate_values=t.intermediate_values))


def test_a_latency_study_stored_before_flops_budgets_still_continues(tiny_idx_dir, tmp_path, capsys, nas_home):
    args = ["search", "--platform", "arm", "--budget", "30ms", "--dataset", f"fashion-mnist:{tiny_idx_dir}",
            "--references", "none", "--json", "--seed", "5"] + SMALL
    first = run_cli(capsys, args + ["--trials", "2", "--storage", str(tmp_path / "new.db")])
    src, dst = f"sqlite:///{tmp_path / 'new.db'}", f"sqlite:///{tmp_path / 'old.db'}"
    _copy_as_stored_before_flops_budgets(src, dst, first["study"])
    stored = optuna.load_study(study_name=first["study"], storage=dst)
    assert "budget_mflops" not in stored.user_attrs[ATTR_CONFIG]
    second = run_cli(capsys, args + ["--trials", "4", "--storage", str(tmp_path / "old.db")])
    assert second["study"] == first["study"] == "arm-30ms-constrained-synflow-fashion-mnist"
    assert second["budget_ms"] == 30.0 and second["budget"]["unit"] == "ms"
    study = load_study(str(tmp_path / "old.db"), first["study"])
    assert counted_trials(study) == 4
    for rec in load_records(study):
        assert rec.budget == Budget(30.0) and rec.decided_by == "predicted"
        assert rec.within_budget == (rec.latency_ms <= 30.0)

"""A budget relative to a registered network: parsed, fixed once (measured or predicted), kept on resume, and the
in-loop measurements put on its time frame by the network timed beside each candidate."""

from __future__ import annotations

import json

import pytest

from latency_models.profiles import require_profile
from latency_models.stats import summarize
from nas.cli.main import main
from nas.search.budget import Budget, BudgetError, RelativeBudget, TimeFrame, read_budget_or_relative
from nas.search.config import SearchConfig, SearchConfigError
from nas.search.measuring import LocalMeasurer, frame_spec
from latency_models.measure import KeptNetworks, backend_for
from nas.search.relative import resolve_relative
from latency_models.platform import builtin_platforms
from search_space.references import reference_spec

SN05 = "shufflenet_v2_x0_5"


@pytest.mark.parametrize("text, ratio, network", [
    (SN05, 1.0, SN05), ("0.8x shufflenet_v2_x0_5", 0.8, SN05), ("0.8xshufflenet_v2_x0_5", 0.8, SN05),
    ("2*mobilenet_v2_x1_0", 2.0, "mobilenet_v2_x1_0"), (" 1.5 x: shufflenet_v2_x1_0 ", 1.5, "shufflenet_v2_x1_0")])
def test_relative_budgets_are_read(text, ratio, network):
    assert read_budget_or_relative(text) == RelativeBudget(ratio, network)


@pytest.mark.parametrize("text, kind", [("20ms", Budget(20.0)), ("146MFLOPs", Budget(146.0, "MFLOPs"))])
def test_absolute_budgets_read_as_before(text, kind):
    assert read_budget_or_relative(text) == kind


@pytest.mark.parametrize("text", ["no_such_net", "0x shufflenet_v2_x0_5", "-1x shufflenet_v2_x0_5", "20 parsecs"])
def test_bad_relative_budgets_are_one_line_errors(text):
    with pytest.raises(BudgetError) as err:
        read_budget_or_relative(text)
    assert "\n" not in str(err.value)


def test_a_resolved_budget_keeps_its_frame_and_multiple():
    budget = RelativeBudget(0.8, SN05).resolved(2.5)
    assert budget.value == pytest.approx(2.0) and budget.frame == TimeFrame(SN05, 2.5)
    assert budget.relative() == RelativeBudget(0.8, SN05) and budget.label() == "2 ms (0.8x shufflenet_v2_x0_5)"
    assert Budget.from_dict(budget.to_dict()) == budget and Budget(2.0).relative() is None


def test_the_config_stores_the_frame_and_names_the_study_by_the_multiple():
    config = SearchConfig(platform="cpu", budget_ms=2.0, budget_frame=SN05, budget_frame_ms=2.5)
    assert config.budget.frame == TimeFrame(SN05, 2.5)
    assert config.default_study_name().startswith("cpu-0.8xshufflenet_v2_x0_5-constrained")
    assert SearchConfig.from_dict(config.to_dict()) == config
    with pytest.raises(SearchConfigError):
        SearchConfig(platform="cpu", budget_ms=2.0, budget_frame=SN05)
    with pytest.raises(SearchConfigError):
        SearchConfig(platform="cpu", budget_ms=2.0, budget_frame="no_such_net", budget_frame_ms=2.5)


def _fake_time_beside(ms_by_arch):
    def fake(self, spec, kept):
        return summarize([ms_by_arch[spec.arch_id]] * 5), summarize([ms_by_arch[kept.arch_id]] * 5)
    return fake


def test_a_measurement_is_put_on_the_frame_by_the_network_timed_beside(monkeypatch):
    """The machine runs at 1.5x the budget's speed now: the frame network reads 3 ms where the budget was fixed
    at 2 ms, so a candidate reading 2.4 ms is 1.6 ms on the budget's frame (0.8x the network: within 1x)."""
    cand = reference_spec("mobilenet_v1_x0_25").with_resolution(224).with_classes(10)
    anchor = frame_spec(SN05, 224, 10)
    monkeypatch.setattr(KeptNetworks, "time_beside", _fake_time_beside({cand.arch_id: 2.4, anchor.arch_id: 3.0}))
    measurer = LocalMeasurer(builtin_platforms()["cpu"], TimeFrame(SN05, 2.0))
    est = measurer.measure(cand)
    assert est.kind == "measured" and est.latency_ms == pytest.approx(1.6) and est.frame_scale == pytest.approx(2 / 3)
    assert est.reference_ms == pytest.approx(3.0) and not est.drifted and "time frame" in est.label()
    itself = measurer.measure(anchor)  # the frame network is the budget's figure by definition
    assert itself.latency_ms == pytest.approx(2.0)


def test_a_real_measurement_on_the_frame(nas_home):
    """Timed here: the frame network reads its frame figure exactly, a smaller network less, both scaled alike."""
    platform = builtin_platforms()["cpu"]
    measurer = LocalMeasurer(platform, TimeFrame(SN05, 10.0))
    small = reference_spec("mobilenet_v1_x0_25").with_resolution(96).with_classes(10)
    itself = measurer.measure(frame_spec(SN05, 96, 10))
    est = measurer.measure(small)
    assert itself.latency_ms == pytest.approx(10.0) and itself.frame_scale > 0
    assert 0 < est.latency_ms and est.frame_scale > 0 and est.reference_ms > 0


def test_the_frame_network_is_prepared_once_and_freed_on_close():
    """Beside many candidates the frame network is exported and loaded once (per input size), not once each."""
    platform = builtin_platforms()["cpu"]
    backend = backend_for(platform)
    prepared = []

    class Counting(type(backend)):
        def prepare(self, target, input_shape, platform, label=""):
            prepared.append(target.arch_id)
            p = super().prepare(target, input_shape, platform, label)
            kept.append(p)
            return p

    kept = []
    measurer = LocalMeasurer(platform, TimeFrame(SN05, 10.0), Counting())
    anchor = frame_spec(SN05, 64, 10)
    nets = [reference_spec(n).with_resolution(64).with_classes(10) for n in ("mobilenet_v1_x0_25", "shufflenet_v2_x1_0")]
    for spec in nets + nets[:1]:
        assert measurer.measure(spec).frame_scale > 0
    assert prepared.count(anchor.arch_id) == 1 and len(prepared) == 4
    frame_prepared = kept[prepared.index(anchor.arch_id)]
    assert not frame_prepared.closed and all(p.closed for p in kept if p is not frame_prepared)
    measurer.close()
    assert frame_prepared.closed


def test_a_stored_study_keeps_its_frame_and_a_predicted_platform_predicts_it():
    relative = RelativeBudget(1.0, SN05)
    stored = SearchConfig(platform="arm", budget_ms=19.0, budget_frame=SN05, budget_frame_ms=19.0)
    assert resolve_relative(relative, "arm", 224, 10, stored=stored) == (stored.budget, "stored")
    budget, how = resolve_relative(RelativeBudget(2.0, SN05), "arm", 224, 10, stored=stored)  # another multiple
    expected = require_profile("arm").estimate(frame_spec(SN05, 224, 10)).latency_ms
    assert how == "predicted" and budget.frame.ms == pytest.approx(expected) and budget.value == pytest.approx(
        2 * expected)


def test_cli_search_with_a_relative_budget_and_its_resume(tiny_idx_dir, tmp_path, capsys, nas_home):
    args = ["search", "--platform", "arm", "--budget", SN05, "--dataset", f"fashion-mnist:{tiny_idx_dir}",
            "--evaluator", "synflow", "--trials", "2", "--workers", "1", "--references", "none",
            "--storage", str(tmp_path / "s.db"), "--timeout", "0"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    predicted = require_profile("arm").estimate(frame_spec(SN05, 224, 10)).latency_ms
    assert out["study"].startswith("arm-1xshufflenet_v2_x0_5-constrained")
    assert out["budget"]["frame_network"] == SN05 and out["budget_ms"] == pytest.approx(predicted)
    assert main(args + ["--trials", "3"]) == 0  # resumed: the same study, its frame kept
    printed = capsys.readouterr().out
    assert "when the study began" in printed and out["study"] in printed

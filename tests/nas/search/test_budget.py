"""Budget strings: the accepted forms (latency and FLOPs) and one-line errors for everything else."""

import subprocess
import sys

import pytest

from nas.search.budget import Budget, BudgetError, parse_budget, read_budget


@pytest.mark.parametrize("text, ms", [("20ms", 20.0), ("20 ms", 20.0), ("0.02s", 20.0), ("20000us", 20.0),
                                      ("20000µs", 20.0), ("12.5ms", 12.5), (" 3 s ", 3000.0), ("1e1ms", 10.0)])
def test_valid_budgets(text, ms):
    assert parse_budget(text) == pytest.approx(ms)


@pytest.mark.parametrize("text", ["20", "-20ms", "0ms", "0s", "ms", "", "twenty ms", "20 m s", "20kg", "inf ms",
                                  "nan ms", "20ms5", "--20ms", "1e999ms"])
def test_invalid_budgets(text):
    with pytest.raises(BudgetError):
        parse_budget(text)


@pytest.mark.parametrize("text", ["20", "-5ms", "abc"])
def test_cli_rejects_bad_budget_with_one_line_and_exit_2(text, tmp_path):
    out = subprocess.run([sys.executable, "-m", "nas.cli.main", "search", "--platform", "arm", "--budget", text],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "budget" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "nas-studies.db").exists()


@pytest.mark.parametrize("text, mflops", [("146MFLOPs", 146.0), ("146 MFLOPs", 146.0), ("0.146GFLOPs", 146.0),
                                          ("146mflops", 146.0), ("146 MFLOPS", 146.0), (" 0.5 gflops ", 500.0),
                                          ("41.5MFLOPs", 41.5), ("1e2MFLOPs", 100.0)])
def test_flops_budgets(text, mflops):
    budget = read_budget(text)
    assert budget.unit == "MFLOPs" and budget.kind == "flops" and budget.value == pytest.approx(mflops)
    assert budget.mflops == pytest.approx(mflops) and budget.ms is None


@pytest.mark.parametrize("text, ms", [("20ms", 20.0), ("0.02s", 20.0), ("20000us", 20.0)])
def test_latency_budgets_read_as_a_typed_budget(text, ms):
    budget = read_budget(text)
    assert (budget.unit, budget.kind, budget.ms, budget.mflops) == ("ms", "latency", pytest.approx(ms), None)
    assert budget.text() == f"{ms:g}ms" and budget.label() == f"{ms:g} ms"


@pytest.mark.parametrize("text", ["146", "146 FLOPs", "146MFLOP", "146 M FLOPs", "-146MFLOPs", "0MFLOPs",
                                  "0 GFLOPs", "MFLOPs", "146TFLOPs", "inf MFLOPs", "nan GFLOPs", "146MFLOPs2",
                                  "1e999MFLOPs", "146 MFLOPs/s"])
def test_invalid_flops_budgets(text):
    with pytest.raises(BudgetError) as err:
        read_budget(text)
    assert "\n" not in str(err.value)


def test_the_error_names_the_accepted_forms():
    with pytest.raises(BudgetError) as err:
        read_budget("fast")
    assert "20ms" in str(err.value) and "146MFLOPs" in str(err.value) and "0.146GFLOPs" in str(err.value)


def test_a_latency_only_option_refuses_a_flops_budget():
    with pytest.raises(BudgetError, match="latency"):
        parse_budget("146MFLOPs")


def test_budget_text_names_its_unit():
    assert Budget(146.0, "MFLOPs").text() == "146MFLOPs" and Budget(146.0, "MFLOPs").label() == "146 MFLOPs"
    assert Budget.of(budget_mflops=41.0) == Budget(41.0, "MFLOPs") and Budget.of(budget_ms=20.0) == Budget(20.0)
    assert Budget.from_dict(Budget(146.0, "MFLOPs").to_dict()) == Budget(146.0, "MFLOPs")


@pytest.mark.parametrize("text", ["146 FLOPs", "-146MFLOPs"])
def test_cli_rejects_a_bad_flops_budget_with_one_line_naming_the_forms(text, tmp_path):
    out = subprocess.run([sys.executable, "-m", "nas.cli.main", "search", "--platform", "arm", "--budget", text],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "budget" in out.stderr
    assert not (tmp_path / "nas-studies.db").exists()

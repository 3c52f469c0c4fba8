"""Budget strings: the accepted forms and one-line errors for everything else."""

import subprocess
import sys

import pytest

from nas.search.budget import BudgetError, parse_budget


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

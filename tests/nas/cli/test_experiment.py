"""`nas experiment list|run`, in-process through nas.cli.main.main."""

from __future__ import annotations

import json

import pytest

from nas.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, _ = run(capsys, "experiment", "list")
    assert code == 0
    for name in ("guidelines", "units", "networks", "predictor"):
        assert name in out
    code, out, _ = run(capsys, "experiment", "list", "--json")
    assert [e["name"] for e in json.loads(out)] == ["guidelines", "units", "networks", "predictor"]


def test_run_predicted_json(tmp_path, capsys, nas_home):
    code, out, err = run(capsys, "experiment", "run", "guidelines", "--platform", "arm", "--out", str(tmp_path),
                         "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["meta"]["source"] == "predicted (profile calibrated from published measurements)"
    assert {"raw", "summary", "markdown", "html", "meta"} <= set(data["files"])
    assert any(v["claim"].startswith("G2") for v in data["verdicts"])
    assert (tmp_path / "guidelines.md").is_file()


def test_run_measured_quick_prints_verdicts_and_files(tmp_path, capsys, nas_home):
    code, out, err = run(capsys, "experiment", "run", "units", "-p", "cpu", "--quick", "--repeats", "1",
                         "--warmup", "0", "-o", str(tmp_path))
    assert code == 0, err
    assert "ShuffleNet v2 unit fastest at equal FLOPs (56x56 c=64)" in out
    assert str(tmp_path / "units.csv") in out


@pytest.mark.parametrize("args, message", [
    (("experiment", "run", "g5", "-p", "arm"), "unknown experiment 'g5'"),
    (("experiment", "run", "units", "-p", "tpu"), "unknown platform 'tpu'"),
    (("experiment", "run", "units", "-p", "cpu", "--repeats", "0"), "--repeats"),
    (("experiment", "run", "predictor", "-p", "cpu", "-t", "/nonexistent.csv"), "no such timings file"),
])
def test_user_errors_are_one_line_and_exit_2(capsys, nas_home, args, message):
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_run_all_predicted(tmp_path, capsys, nas_home):
    code, out, err = run(capsys, "experiment", "run", "all", "-p", "arm", "-o", str(tmp_path), "--json")
    assert code == 0, err
    assert [r["experiment"] for r in json.loads(out)] == ["guidelines", "units", "networks", "predictor"]
    assert {p.name for p in tmp_path.glob("*.md")} == {"guidelines.md", "units.md", "networks.md", "predictor.md"}


def test_summary_command(tmp_path, capsys, nas_home):
    assert run(capsys, "experiment", "run", "guidelines", "-p", "arm", "-o", str(tmp_path / "arm"))[0] == 0
    code, out, err = run(capsys, "experiment", "summary", "--results", str(tmp_path))
    assert code == 0, err
    assert "G4 removing ReLU and shortcut speeds up" in (tmp_path / "SUMMARY.md").read_text()

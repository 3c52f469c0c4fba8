"""`nas latency fit|eval|predict` on synthetic timings files and the shipped published profiles."""

from __future__ import annotations

import json

import pytest

from nas.cli.main import main
from tests.nas.search.helpers import synthetic_timings


def run(capsys, args):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predict_on_the_shipped_arm_profile(capsys, nas_home):
    code, out, _ = run(capsys, ["latency", "predict", "--platform", "arm", "--arch", "shufflenet_v2_x1_0", "--json"])
    assert code == 0
    d = json.loads(out)
    assert d["kind"] == "predicted" and d["platform"] == "arm" and d["batch"] == 1 and d["source"] == "published"
    assert d["latency_ms"] == pytest.approx(40.98, rel=0.02)  # the one published whole-network anchor
    assert d["error_rmspe"] > 0 and d["runtime"] == "paper-arm-neon"
    assert set(d["breakdown_ms"]) >= {"stem", "stage2", "stage3", "stage4", "head"}


def test_gpu_1080ti_is_one_batch_of_8(capsys, nas_home):
    code, out, _ = run(capsys, ["latency", "predict", "--platform", "gpu-1080ti", "--arch", "shufflenet_v2_x1_0",
                                "--json"])
    d = json.loads(out)
    assert code == 0 and d["batch"] == 8 and d["latency_ms"] == pytest.approx(2.93, rel=0.05)


def test_fit_a_user_platform_from_a_timings_file_then_use_it(capsys, nas_home, tmp_path):
    path = synthetic_timings(tmp_path / "pi.csv", "cpu", n=30)
    code, out, err = run(capsys, ["latency", "fit", "--platform", "my-pi", "--timings", str(path), "--json"])
    assert code == 0, err
    d = json.loads(out)
    assert d["platform"]["name"] == "my-pi" and d["default"] == "roofline"
    assert d["evaluation"]["roofline"]["within_10pct"] > 0.9  # the synthetic law is exactly a roofline
    assert (nas_home / "profiles" / "my-pi.json").exists()
    code, out, _ = run(capsys, ["latency", "predict", "--platform", "my-pi", "--arch", "shufflenet_v2_x0_5", "--json"])
    assert code == 0 and json.loads(out)["platform"] == "my-pi"
    held_out = synthetic_timings(tmp_path / "pi2.csv", "cpu", n=15, seed=5)
    html = tmp_path / "eval.html"
    code, out, _ = run(capsys, ["latency", "eval", "--platform", "my-pi", "--timings", str(held_out), "--json",
                                "--html", str(html)])
    d = json.loads(out)
    assert code == 0 and set(d["evaluation"]) >= {"roofline", "flops"} and html.stat().st_size > 10000
    for a in d["evaluation"].values():
        assert {"within_5pct", "within_10pct", "rmspe", "spearman"} <= set(a)


def test_refit_a_published_profile(capsys, nas_home):
    code, out, _ = run(capsys, ["latency", "fit", "--platform", "arm", "--json"])
    d = json.loads(out)
    assert code == 0 and d["provenance"]["source"] == "published" and "Table 8" in d["provenance"]["tables"]


@pytest.mark.parametrize("args, words", [
    (["latency", "predict", "--platform", "mars", "--arch", "shufflenet_v2_x1_0"], "known:"),
    (["latency", "predict", "--platform", "gpu", "--arch", "shufflenet_v2_x1_0"], "nas latency fit"),
    (["latency", "predict", "--platform", "arm", "--arch", "nonet"], "unknown network"),
    (["latency", "eval", "--platform", "mars"], "unknown platform"),
    (["latency", "fit", "--platform", "arm", "--timings", "/nonexistent.csv"], "no such timings file"),
])
def test_bad_input_is_one_line(args, words, capsys, nas_home):
    code, _, err = run(capsys, args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and words in lines[0]


def test_malformed_timings_file_names_the_column(capsys, nas_home, tmp_path):
    path = synthetic_timings(tmp_path / "t.csv", "cpu", n=12)
    text = path.read_text().replace("latency_ms", "latency_us", 1)
    path.write_text(text)
    code, _, err = run(capsys, ["latency", "fit", "--platform", "x", "--timings", str(path)])
    assert code == 2 and "latency_us" in err and len(err.strip().splitlines()) == 1

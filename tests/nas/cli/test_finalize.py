"""`nas finalize`: the top found networks and the best reference retrained with several seeds, judged by mean."""

from __future__ import annotations

import json

import pytest

from nas.cli.main import main
from nas.search.study import load_study
from nas.views.finals import ATTR_FINALS
from search_space.references import NETWORKS


@pytest.mark.slow
def test_finalize_trains_top_and_reference_and_continues(tiny_idx_dir, tmp_path, capsys, nas_home):
    db = str(tmp_path / "f.db")
    code = main(["search", "--platform", "arm", "--budget", "30ms", "--evaluator", "synflow", "--trials", "3",
                 "--workers", "1", "--dataset", f"fashion-mnist:{tiny_idx_dir}", "--train-examples", "100",
                 "--val-examples", "50", "--timeout", "0", "--storage", db, "--study-name", "fin", "--json"])
    assert code == 0, capsys.readouterr().err
    searched = json.loads(capsys.readouterr().out)
    assert searched["references"] and searched["versus_reference"] is not None
    args = ["finalize", "--study", "fin", "--storage", db, "--top", "1", "--seeds", "2", "--epochs", "1",
            "--train-examples", "200", "--batch-size", "32", "--out", str(tmp_path / "runs"), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    kinds = sorted(f["kind"] for f in out["finals"])
    assert kinds == ["found", "reference"]
    for f in out["finals"]:
        assert len(f["test_accuracy"]) == 2 and 0.0 <= f["mean"] <= 1.0 and f["std"] >= 0.0
    assert out["best"]["kind"] == "found" and out["versus_reference"]["name"] in NETWORKS.names()
    stored = load_study(db, "fin").user_attrs[ATTR_FINALS]
    assert len(stored) == 2
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 4  # 2 networks x 2 seeds
    mtimes = {p: p.stat().st_mtime for p in (tmp_path / "runs").rglob("final.pt")}
    assert main(args) == 0  # a rerun reads the finished runs back
    assert json.loads(capsys.readouterr().out)["finals"] == out["finals"]
    assert {p: p.stat().st_mtime for p in (tmp_path / "runs").rglob("final.pt")} == mtimes

"""`nas export` from a study's best / a trial / an architecture / trained weights, and its one-line refusals."""

from __future__ import annotations

import json

import pytest
import torch

from nas.cli.main import main
from nas.views.export import load_exported
from tests.nas.views.export.helpers import (BUDGET_MS, sha, study_db, tiny_spec, trained_dir,  # noqa: F401 - fixtures
                                      write_spec)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_export_best_as_onnx(study_db, tmp_path, capsys, nas_home):
    db, name, numbers = study_db
    before = sha(db)
    res = run_json(capsys, "export", "--storage", str(db), "--study", name, "--best", "--format", "onnx",
                   "--out", str(tmp_path / "best"))
    meta = res["metadata"]
    assert meta["source"]["trial"] == numbers["best"] and meta["source"]["selected_by"] == "best"
    assert meta["latency"]["kind"] == "predicted" and meta["latency"]["platform"] == "arm"
    assert meta["latency"]["runtime"] == "paper-arm-neon" and meta["latency"]["predictor_error_rmspe"] > 0
    assert meta["within_budget"] is True and meta["budget_ms"] == BUDGET_MS
    assert meta["accuracy"]["search"]["evaluator"] == "synflow"
    assert meta["accuracy"]["search"]["metric"] == "synflow score" and meta["accuracy"]["final"] is None
    assert meta["weights"]["trained"] is False and meta["dataset"].startswith("fashion-mnist")
    assert meta["proxy_task"]["resolution"] == 32 and meta["cost"]["flops_m"] > 0
    assert meta["platform"]["name"] == "arm" and meta["model"]["input"]["shape"] == ["batch", 3, 32, 32]
    assert meta["checks"][0]["runtime"] == "ONNX Runtime" and meta["checks"][0]["passed"]
    assert load_exported(res["out"]).input_shape[0] == "batch"
    assert sha(db) == before  # read-only


def test_export_trial_with_measured_latency_and_human_output(study_db, tmp_path, capsys, nas_home):
    db, name, numbers = study_db
    code, out, err = run(capsys, "export", "--storage", str(db), "--trial", str(numbers["measured"]), "--format",
                         "torchscript", "--out", str(tmp_path / "m"))
    assert code == 0, err
    assert "12.50 ms measured" in out and "check: TorchScript" in out and "untrained" in out
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["latency"]["kind"] == "measured" and meta["latency"]["measured_cv"] == 0.02


def test_export_rejected_trial_says_over_budget(study_db, tmp_path, capsys, nas_home):
    db, name, numbers = study_db
    res = run_json(capsys, "export", "--storage", str(db), "--trial", str(numbers["rejected"]), "--format",
                   "pytorch", "--out", str(tmp_path / "r"))
    meta = res["metadata"]
    assert meta["within_budget"] is False and meta["source"]["status"].startswith("rejected")
    assert any("over budget" in n for n in meta["notes"]) and meta["accuracy"]["search"]["value"] is None


def test_export_arch_with_platform_and_default_out(tmp_path, capsys, nas_home, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec_file = write_spec(tmp_path / "tiny.json")
    res = run_json(capsys, "export", "--arch", str(spec_file), "--platform", "arm", "--format", "pytorch")
    assert res["out"] == str(tmp_path / f"export-{tiny_spec().arch_id}-pytorch")
    assert res["metadata"]["latency"]["kind"] == "predicted" and res["metadata"]["source"]["kind"] == "arch"
    named = run_json(capsys, "export", "--arch", "shufflenet_v2_x0_5", "--resolution", "32", "--classes", "10",
                     "--format", "pytorch", "--out", str(tmp_path / "v2"))
    assert named["metadata"]["model"]["input"]["shape"] == ["batch", 3, 32, 32]
    assert named["metadata"]["latency"] is None


def test_export_trained_weights(trained_dir, tmp_path, capsys, nas_home):
    res = run_json(capsys, "export", "--weights", str(trained_dir / "final.pt"), "--format", "onnx", "--out",
                   str(tmp_path / "w"))
    meta = res["metadata"]
    assert meta["weights"]["trained"] and meta["accuracy"]["final"]["test_accuracy"] is not None
    assert meta["preprocessing"]["mean"] and meta["source"]["kind"] == "arch"
    code, out, err = run(capsys, "export", "--arch", str(write_spec(tmp_path / "t.json")), "--weights",
                         str(trained_dir), "--format", "torchscript", "--out", str(tmp_path / "w2"))
    assert code == 0, err
    assert "test top-1" in out and "trained 1/1 epochs" in out


def test_export_to_a_model_file_path(tmp_path, capsys, nas_home, monkeypatch):
    """`--out m.onnx` is the model file itself (m.spec.json, m.metadata.json beside it), not a folder named m.onnx."""
    import onnx

    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "export", "--arch", "shufflenet_v2_x0_5", "--format", "onnx", "--out", "m.onnx")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.metadata.json", "m.onnx", "m.spec.json"]
    assert (tmp_path / "m.onnx").is_file()
    assert f"to {tmp_path / 'm.onnx'} (m.spec.json, m.metadata.json beside it)" in out
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")))
    assert load_exported("m.onnx").input_shape == ["batch", 3, 224, 224]
    meta = json.loads((tmp_path / "m.metadata.json").read_text())
    assert meta["files"] == {"model": "m.onnx", "spec": "m.spec.json", "metadata": "m.metadata.json"}
    code, _, err = run(capsys, "export", "--arch", "shufflenet_v2_x0_5", "--format", "onnx", "--out", "m.onnx")
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1, err
    res = run_json(capsys, "export", "--arch", str(write_spec(tmp_path / "t.json")), "--format", "pytorch", "--out",
                   str(tmp_path / "sub" / "n.pt"))
    assert res["layout"] == "file" and res["out"] == res["model"] == str(tmp_path / "sub" / "n.pt")
    assert res["spec"] == str(tmp_path / "sub" / "n.spec.json")
    assert res["metadata_file"] == str(tmp_path / "sub" / "n.metadata.json")
    assert isinstance(load_exported(res["out"]), torch.nn.Module)
    folder = run_json(capsys, "export", "--arch", str(tmp_path / "t.json"), "--format", "pytorch", "--out",
                      str(tmp_path / "f"))
    assert folder["layout"] == "folder" and folder["model"] == str(tmp_path / "f" / "model.pt")


@pytest.mark.parametrize("fmt, out", [("onnx", "m.pt"), ("torchscript", "m.onnx"), ("pytorch", "m.ts")])
def test_export_to_another_formats_suffix_is_one_line(tmp_path, capsys, nas_home, monkeypatch, fmt, out):
    monkeypatch.chdir(tmp_path)
    spec_file = write_spec(tmp_path / "t.json")
    code, _, err = run(capsys, "export", "--arch", str(spec_file), "--format", fmt, "--out", out)
    assert code == 2 and "ends in" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


BAD = [
    (["--study", "nope", "--best"], "no study 'nope'"),
    (["--trial", "999"], "no trial 999"),
    (["--trial", "{failed}"], "failed"),
    (["--trial", "{nospec}"], "has no architecture"),
    (["--trial", "0", "--best"], "one of --trial, --best and --arch"),
    (["--best", "--format", "tflite"], "unknown 'tflite'"),
    (["--best", "--out", "{file}/sub"], "cannot write"),
    (["--best", "--platform", "arm"], "--platform applies to --arch"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_is_one_line_and_changes_nothing(study_db, tmp_path, capsys, nas_home, args, message):
    db, name, numbers = study_db
    before = sha(db)
    (tmp_path / "file").write_text("x")
    args = [a.format(file=tmp_path / "file", **numbers) for a in args]
    fmt = [] if "--format" in args else ["--format", "onnx"]
    code, out, err = run(capsys, "export", "--storage", str(db), *args, *fmt)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sha(db) == before


@pytest.mark.parametrize("storage, message", [("missing.db", "no study storage"), ("junk.db", "cannot open storage"),
                                              ("mysql+nodriver://h/db", "cannot open storage")])
def test_storages_that_do_not_open(tmp_path, capsys, nas_home, storage, message):
    (tmp_path / "junk.db").write_text("junk")
    target = storage if "://" in storage else str(tmp_path / storage)
    code, _, err = run(capsys, "export", "--storage", target, "--best", "--format", "onnx")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "junk.db").read_text() == "junk" and not (tmp_path / "missing.db").exists()


def test_nothing_chosen(capsys):
    code, _, err = run(capsys, "export", "--format", "onnx")
    assert code == 2 and "choose the network" in err


@pytest.mark.slow
def test_search_train_export_end_to_end(tiny_idx_dir, tmp_path, capsys, nas_home):
    """The documented path: `nas search` -> `nas train --best` -> `nas export --best --weights` (ONNX)."""
    db = str(tmp_path / "e2e.db")
    code, out, err = run(capsys, "search", "--platform", "arm", "--budget", "30ms", "--evaluator", "synflow",
                         "--trials", "3", "--workers", "1", "--timeout", "0", "--train-examples", "200",
                         "--val-examples", "100", "--dataset", f"fashion-mnist:{tiny_idx_dir}", "--storage", db,
                         "--json")
    assert code == 0, err
    before = sha(tmp_path / "e2e.db")
    code, _, err = run(capsys, "train", "--storage", db, "--best", "--epochs", "1", "--train-examples", "64",
                       "--batch-size", "32", "--threads", "1", "--out", str(tmp_path / "run"))
    assert code == 0, err
    res = run_json(capsys, "export", "--storage", db, "--best", "--weights", str(tmp_path / "run"), "--format",
                   "onnx", "--out", str(tmp_path / "exp"))
    meta = res["metadata"]
    assert meta["source"]["selected_by"] == "best" and meta["weights"]["trained"]
    assert meta["latency"]["kind"] == "predicted" and meta["latency_exported"]["resolution"] == 32
    assert meta["accuracy"]["search"]["evaluator"] == "synflow" and meta["accuracy"]["final"]["test_accuracy"] >= 0
    assert sha(tmp_path / "e2e.db") == before

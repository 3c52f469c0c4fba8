"""`nas train`: one epoch on a tiny dataset then `nas export --weights`, resume, Ctrl-C, one-line refusals."""

from __future__ import annotations

import json

import pytest

from nas.cli.main import main
from nas.views.train import prepare_data, prepare_out_dir, train_network
from tests.nas.views.export.helpers import sha, study_db, tiny_setup, write_spec  # noqa: F401 - study_db is a fixture


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_export(tiny_idx_dir, tmp_path, capsys, nas_home):
    spec = write_spec(tmp_path / "tiny.json")
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "--arch", str(spec), "--dataset", f"fashion-mnist:{tiny_idx_dir}",
                            "--epochs", "1", "--out", str(out), "--batch-size", "64", "--threads", "1", "--json")
    assert code == 0, err
    metrics = json.loads(stdout)
    assert metrics["final"]["test_accuracy"] is not None and len(metrics["epochs"]) == 1
    assert metrics["recipe"]["optimizer"] == "sgd" and metrics["recipe"]["lr"] == pytest.approx(0.05)
    assert (out / "final.pt").is_file() and (out / "checkpoint.pt").is_file()
    code, stdout, err = run(capsys, "export", "--weights", str(out / "final.pt"), "--format", "onnx", "--out",
                            str(tmp_path / "exp"))
    assert code == 0, err
    assert "trained 1/1 epochs" in stdout and "test top-1" in stdout and "ONNX Runtime" in stdout
    code, _, err = run(capsys, "train", "--arch", str(spec), "--epochs", "1", "--out", str(out))
    assert code == 2 and "already holds a training run" in err


def test_a_network_of_another_family_trains_as_its_proxy(tiny_idx_dir, tmp_path, capsys, nas_home):
    out = tmp_path / "mb"
    common = ["--dataset", f"fashion-mnist:{tiny_idx_dir}", "--batch-size", "64", "--threads", "1"]
    code, _, err = run(capsys, "train", "--arch", "mobilenet_v2_x0_15", "--epochs", "1", "--out", str(out), *common)
    assert code == 0, err
    first = json.loads((out / "metrics.json").read_text())
    assert first["final"]["test_accuracy"] is not None and first["network"]["resolution"] == 32
    # its weights are of the proxy network (stem adapted to 32 px): exported from the deployment spec instead
    code, _, err = run(capsys, "export", "--weights", str(out / "final.pt"), "--format", "onnx", "--out",
                       str(tmp_path / "exp"))
    assert code == 2 and "--arch mobilenet_v2_x0_15" in err and len(err.strip().splitlines()) == 1, err


def test_train_a_trial_of_a_study_with_the_studys_dataset(study_db, tmp_path, capsys, nas_home):
    db, name, numbers = study_db
    before = sha(db)
    code, out, err = run(capsys, "train", "--storage", str(db), "--trial", str(numbers["evaluated"]), "--epochs", "1",
                         "--out", str(tmp_path / "t"), "--train-examples", "64", "--batch-size", "32", "--threads",
                         "1")
    assert code == 0, err
    assert f"trial {numbers['evaluated']} of study s" in out and "final test accuracy" in out
    assert "at 32 px" in out  # the study's proxy resolution
    assert sha(db) == before


def test_resume_from_the_cli_and_options_that_differ(tiny_idx_dir, tmp_path, capsys, nas_home):
    setup = tiny_setup(tiny_idx_dir, epochs=2)
    data = prepare_data(setup)
    out = tmp_path / "cut"
    prepare_out_dir(out, resume=False)

    def stop(done: int, total: int, label: str) -> None:
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_network(setup, data, out, threads=1, progress=stop)
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--epochs", "5")
    assert code == 2 and "--epochs 5 differs" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "train", "--out", str(out), "--resume", "--arch", "shufflenet_v2_x0_5")
    assert code == 2 and "--arch" in err and "differs" in err
    same = str(write_spec(tmp_path / "t.json"))
    code, stdout, err = run(capsys, "train", "--out", str(out), "--resume", "--arch", same, "--threads", "1", "--json")
    assert code == 0, err
    assert json.loads(stdout)["resumed_at_epochs"] == [1]
    code, _, err = run(capsys, "train", "--out", str(out), "--resume")
    assert code == 2 and "has finished" in err


def test_ctrl_c_keeps_the_checkpoint_and_says_how_to_resume(tiny_idx_dir, tmp_path, capsys, nas_home, monkeypatch):
    import nas.views.train as train_pkg

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_pkg, "train_network", interrupted)
    code, _, err = run(capsys, "train", "--arch", str(write_spec(tmp_path / "t.json")), "--dataset",
                       f"fashion-mnist:{tiny_idx_dir}", "--epochs", "1", "--out", str(tmp_path / "run"))
    assert code == 130 and "--resume" in err


@pytest.mark.parametrize("args, message", [
    (["--epochs", "1"], "choose the network"),
    (["--arch", "shufflenet_v2_x0_5"], "--epochs is required"),
    (["--arch", "shufflenet_v2_x0_5", "--epochs", "1", "--lr", "-1"], "--lr"),
    (["--arch", "shufflenet_v2_x0_5", "--epochs", "1", "--dataset", "nosuch:/x"], "unknown dataset kind"),
    (["--resume"], "nothing to resume"),
    (["--trial", "0", "--storage", "{tmp}/missing.db", "--epochs", "1"], "no study storage"),
])
def test_bad_input(tiny_idx_dir, tmp_path, capsys, nas_home, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    if "--dataset" not in args:
        args += ["--dataset", f"fashion-mnist:{tiny_idx_dir}"]
    code, _, err = run(capsys, "train", *args, "--out", str(tmp_path / "out"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()  # nothing created for a refused run

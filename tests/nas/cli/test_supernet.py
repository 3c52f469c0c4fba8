"""`nas supernet train|show`: a tiny supernet trained from the CLI, resumed to more epochs, refusals in one line, and
the file accepted by the supernet evaluator on the search's data."""

from __future__ import annotations

import json

import pytest

import nas.evaluators.supernet.train as supernet_train
from nas.cli.main import main
from nas.data.proxy import prepare_proxy
from nas.data.registry import load_dataset
from nas.evaluators import make_evaluator
from nas.evaluators.base import torch_threads
from nas.evaluators.supernet import file_sha256
from tests.nas.evaluators.conftest import tiny_spec
from tests.nas.evaluators.supernet.conftest import TINY_SPACE


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny_space(monkeypatch):
    """`nas supernet train` over the tests' tiny space instead of the default one (166 M parameters)."""
    monkeypatch.setattr(supernet_train, "default_space", lambda: TINY_SPACE)


def test_train_resume_show_and_evaluate(tiny_idx_dir, tmp_path, capsys, nas_home, tiny_space):
    out = tmp_path / "sn.pt"
    dataset = f"fashion-mnist:{tiny_idx_dir}"
    common = ("--train-examples", "64", "--batch-size", "16", "--proxy-resolution", "16", "--threads", "1")
    code, stdout, err = run(capsys, "supernet", "train", "--dataset", dataset, "--epochs", "1", "--out", str(out),
                            *common)
    assert code == 0, err
    assert f"wrote {out}" in stdout and "sha256" in stdout and "epoch 1: train loss" in stdout
    assert "next: nas search --evaluator supernet --supernet" in stdout and "--proxy-resolution 16" in stdout
    code, _, err = run(capsys, "supernet", "train", "--dataset", dataset, "--epochs", "1", "--out", str(out))
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "supernet", "train", "--out", str(out), "--resume", "--epochs", "2", "--seed", "3")
    assert code == 2 and "--seed 3 differs" in err and len(err.strip().splitlines()) == 1
    code, stdout, err = run(capsys, "supernet", "train", "--out", str(out), "--resume", "--epochs", "2",
                            "--threads", "1", "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["epochs_done"], summary["resumed_at"], [h["epoch"] for h in summary["history"]]) == (2, [1], [1, 2])
    assert summary["sha256"] == file_sha256(out) and summary["task"]["train_examples"] == 64
    code, stdout, err = run(capsys, "supernet", "show", str(out), "--json")
    assert code == 0 and json.loads(stdout)["sha256"] == summary["sha256"]
    code, stdout, err = run(capsys, "supernet", "show", str(out))
    assert code == 0 and "trained 2/2 epochs" in stdout and summary["sha256"] in stdout

    # the search's proxy data (same dataset, proxy resolution and seed) is what the evaluator accepts
    data = prepare_proxy(load_dataset(dataset), resolution=16, channels=3, max_train=64, max_val=50, seed=0)
    ev = make_evaluator("supernet", supernet=str(out), bn_batches=2)
    with torch_threads(1):
        result = ev.evaluate(tiny_spec(), data, seed=0)
    assert 0.0 <= result.accuracy <= 1.0 and result.epochs == 2.0 and result.train_examples == 64


def test_refusals_are_one_line(tmp_path, capsys, nas_home, tiny_space):
    cases = [(("--epochs", "1", "--platform", "arm"), "--platform and --budget go together"),
             (("--epochs", "1", "--platform", "arm", "--budget", "fast"), "bad budget"),
             (("--epochs", "1", "--platform", "no-such-platform", "--budget", "20ms"), "no-such-platform"),
             ((), "--epochs is required"),
             (("--epochs", "1", "--path-draw", "edge"), "--path-draw: 'edge' is not one of uniform, spread"),
             (("--resume",), "nothing to resume")]
    for args, message in cases:
        code, _, err = run(capsys, "supernet", "train", "--out", str(tmp_path / "x.pt"), *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    code, _, err = run(capsys, "supernet", "show", str(tmp_path / "none.pt"))
    assert code == 2 and "no such supernet file" in err


def test_search_scores_candidates_with_the_supernet(tiny_idx_dir, tmp_path, capsys, nas_home, monkeypatch):
    """`nas search --supernet FILE`: the evaluator is the supernet (the default when a file is given), the study
    records the file's sha256 and the BatchNorm batches, and continuing it with other ones is refused."""
    from search_space.space import SearchSpace

    monkeypatch.setattr(SearchSpace, "default", classmethod(lambda cls: TINY_SPACE))  # supernet and search alike
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sn.pt"
    dataset = f"fashion-mnist:{tiny_idx_dir}"
    code, _, err = run(capsys, "supernet", "train", "--dataset", dataset, "--epochs", "1", "--out", str(out),
                       "--train-examples", "64", "--batch-size", "16", "--proxy-resolution", "16", "--threads", "1")
    assert code == 0, err
    search = ("search", "--platform", "arm", "--budget", "500ms", "--trials", "3", "--sampler", "random",
              "--workers", "1", "--timeout", "0", "--dataset", dataset, "--proxy-resolution", "16",
              "--train-examples", "64", "--val-examples", "40", "--resolution", "64", "--references", "none",
              "--no-verify", "--storage", str(tmp_path / "s.db"), "--study-name", "sn")
    code, stdout, err = run(capsys, *search, "--supernet", str(out), "--bn-batches", "2", "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["evaluator"] == "supernet" and res["trials"]["evaluated"] == 3
    assert all(c["evaluator"] == "supernet" for c in res["pareto"]) and res["best"]["fidelity"]["epochs"] == 1.0
    import optuna

    stored = optuna.load_study(study_name="sn", storage=f"sqlite:///{tmp_path / 's.db'}").user_attrs["search_config"]
    assert dict(map(tuple, stored["evaluator_options"])) == {"supernet": str(out), "supernet_sha256": file_sha256(out),
                                                             "bn_batches": 2}
    code, _, err = run(capsys, *search, "--supernet", str(out), "--bn-batches", "4")
    assert code == 2 and "evaluator_options" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, *search, "--evaluator", "train", "--supernet", str(out))
    assert code == 2 and "--supernet does not apply to --evaluator train" in err
    code, _, err = run(capsys, *search, "--evaluator", "supernet")
    assert code == 2 and "no supernet file given" in err
    code, _, err = run(capsys, *search, "--supernet", str(out), "--proxy-resolution", "24", "--study-name", "x")
    assert code == 2 and "trained on" in err and len(err.strip().splitlines()) == 1


def test_train_with_a_teacher_records_it_and_refuses_another_split(tiny_idx_dir, tmp_path, capsys, nas_home,
                                                                    tiny_space):
    """`--teacher DIR` (a finished `nas train` run on the same split): recorded with its sha256, reloaded on
    --resume; a teacher of another split, a changed teacher file or --distill-weight alone: one line."""
    dataset = f"fashion-mnist:{tiny_idx_dir}"
    small = ("--dataset", dataset, "--train-examples", "64", "--batch-size", "16", "--threads", "1")
    teachers = {}
    for seed in (0, 1):
        teachers[seed] = tmp_path / f"teacher-s{seed}"
        code, _, err = run(capsys, "train", "--arch", "shufflenet_v2_x0_5", "--out", str(teachers[seed]),
                           "--epochs", "1", "--resolution", "16", "--seed", str(seed), *small)
        assert code == 0, err
    out = tmp_path / "kd.pt"
    common = (*small, "--proxy-resolution", "16")
    code, stdout, err = run(capsys, "supernet", "train", "--epochs", "1", "--out", str(out), "--teacher",
                            str(teachers[0]), *common)
    assert code == 0, err
    assert "distilling from shufflenet_v2_x0_5 at weight 0.5" in stdout
    code, stdout, err = run(capsys, "supernet", "show", str(out), "--json")
    recorded = json.loads(stdout)["run"]
    assert recorded["teacher"] == str(teachers[0] / "final.pt")
    assert recorded["teacher_sha256"] == file_sha256(teachers[0] / "final.pt") and recorded["distill_weight"] == 0.5
    code, stdout, err = run(capsys, "supernet", "show", str(out))
    assert f"distilled from {teachers[0] / 'final.pt'}" in stdout
    ev = make_evaluator("supernet", supernet=str(out))
    assert ev.describe()["supernet"]["teacher"] == {"file": recorded["teacher"], "sha256": recorded["teacher_sha256"],
                                                    "distill_weight": 0.5}
    code, _, err = run(capsys, "supernet", "train", "--out", str(out), "--resume", "--epochs", "2", "--threads", "1",
                       "--teacher", str(teachers[0]))  # named again: the recorded file, read once
    assert code == 0, err
    cases = [(("--epochs", "1", "--out", str(tmp_path / "s1.pt"), "--teacher", str(teachers[1]), *common),
              "split seed 1"),
             (("--epochs", "1", "--out", str(tmp_path / "w.pt"), "--distill-weight", "0.3", *common),
              "--distill-weight needs --teacher")]
    (teachers[0] / "final.pt").write_bytes((teachers[1] / "final.pt").read_bytes())  # the teacher file replaced
    cases.append((("--out", str(out), "--resume", "--epochs", "3"), "has changed since the supernet started"))
    cases.append((("--out", str(out), "--resume", "--epochs", "3", "--teacher", str(teachers[0])),
                  "has changed since the supernet started"))
    for args, message in cases:
        code, _, err = run(capsys, "supernet", "train", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "s1.pt").exists() and json.loads(run(capsys, "supernet", "show", str(out), "--json")[1]
                                                            )["epochs_done"] == 2

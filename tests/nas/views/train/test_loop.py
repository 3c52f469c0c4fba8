"""train_network on a tiny dataset: files, metrics, exact resume after an interruption, refusals."""

from __future__ import annotations

import json

import pytest
import torch

from nas.views.train import (CHECKPOINT_FILE, FINAL_FILE, METRICS_FILE, DivergedError, TrainError, load_weights,
                       prepare_data, prepare_out_dir, read_checkpoint, train_network)
from tests.nas.views.export.helpers import tiny_setup, train_tiny, trained_dir  # noqa: F401 - trained_dir is a fixture


def test_one_epoch_writes_weights_and_metrics(trained_dir):
    assert {p.name for p in trained_dir.iterdir()} == {CHECKPOINT_FILE, FINAL_FILE, METRICS_FILE}
    metrics = json.loads((trained_dir / METRICS_FILE).read_text())
    assert len(metrics["epochs"]) == 1
    epoch = metrics["epochs"][0]
    assert epoch["train_loss"] > 0 and 0.0 <= epoch["val_accuracy"] <= 1.0 and epoch["seconds"] > 0
    assert 0.0 <= metrics["final"]["test_accuracy"] <= 1.0 and metrics["examples"]["test"] == 200
    assert metrics["examples"] == {"train": 540, "val": 60, "test": 200}
    assert metrics["recipe"]["label_smoothing"] == 0.1 and metrics["recipe"]["augment"] == "crop+flip"
    assert metrics["network"]["resolution"] == 32 and metrics["seconds"] > 0
    w = load_weights(trained_dir)
    assert w.final and w.epochs_done == 1 and w.test_accuracy == metrics["final"]["test_accuracy"]
    assert w.spec.resolution == 32 and w.setup.source.spec.name == "tiny"


class Interrupt(Exception):
    pass


def test_resume_after_an_interruption_gives_the_same_weights(tmp_path, tiny_idx_dir):
    whole = train_tiny(tmp_path / "whole", tiny_idx_dir, epochs=2)
    setup = tiny_setup(tiny_idx_dir, epochs=2)
    data = prepare_data(setup)
    out = tmp_path / "cut"
    prepare_out_dir(out, resume=False)
    per_epoch = len(data.train) // setup.recipe.batch_size

    def stop_in_epoch_two(done: int, total: int, label: str) -> None:
        if done == per_epoch + 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_network(setup, data, out, threads=1, progress=stop_in_epoch_two)
    assert (out / CHECKPOINT_FILE).is_file() and not (out / FINAL_FILE).exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-written temporary file
    prepare_out_dir(out, resume=True)
    stored, ck = read_checkpoint(out)
    assert ck["epochs_done"] == 1 and stored.to_dict() == setup.to_dict()
    resumed = train_network(stored, prepare_data(stored), out, checkpoint=ck, threads=1)
    assert resumed.resumed_at == (1,)
    a, b = load_weights(tmp_path / "whole"), load_weights(out)
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert [h.train_loss for h in whole.history] == [h.train_loss for h in resumed.history]
    assert whole.test_accuracy == resumed.test_accuracy


def test_out_dir_refusals(tmp_path, trained_dir):
    with pytest.raises(TrainError, match="already holds a training run"):
        prepare_out_dir(trained_dir, resume=False)
    with pytest.raises(TrainError, match="has finished"):
        prepare_out_dir(trained_dir, resume=True)
    with pytest.raises(TrainError, match="nothing to resume"):
        prepare_out_dir(tmp_path, resume=True)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrainError, match="is a file"):
        prepare_out_dir(blocker, resume=False)
    with pytest.raises(TrainError, match="cannot write"):
        prepare_out_dir(blocker / "sub", resume=False)


def test_divergence_is_one_line_and_keeps_the_checkpoint(tmp_path, tiny_idx_dir, monkeypatch):
    import nas.views.train.loop as loop

    setup = tiny_setup(tiny_idx_dir, epochs=2)
    data = prepare_data(setup)
    calls = {"n": 0}
    real = loop.F.cross_entropy

    def nan_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] > len(data.train) // 64 else loss

    monkeypatch.setattr(loop.F, "cross_entropy", nan_in_epoch_two)
    out = tmp_path / "nan"
    prepare_out_dir(out, resume=False)
    with pytest.raises(DivergedError, match="diverged; lower --lr"):
        train_network(setup, data, out, threads=1)
    assert read_checkpoint(out)[1]["epochs_done"] == 1


def test_batch_larger_than_the_data_is_refused(tmp_path, tiny_idx_dir):
    setup = tiny_setup(tiny_idx_dir, epochs=1)
    from dataclasses import replace

    setup = replace(setup, recipe=replace(setup.recipe, batch_size=10_000))
    with pytest.raises(TrainError, match="larger than the training split"):
        train_network(setup, prepare_data(setup), tmp_path, threads=1)

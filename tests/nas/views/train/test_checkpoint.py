"""Atomic writes and reading weights files of `nas train`."""

from __future__ import annotations

import pytest
import torch

from nas.views.train import TrainError, load_weights
from nas.views.train.checkpoint import read_torch, save_json
from search_space.fileio import atomic_write


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.json"
    save_json({"a": 1}, target)

    def broken(path):
        path.write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_text().strip() == '{\n  "a": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_weights_files_that_are_not_ours_are_refused(tmp_path):
    with pytest.raises(TrainError, match="no such file"):
        read_torch(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(TrainError, match="not a weights file"):
        load_weights(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(TrainError, match="not a checkpoint"):
        load_weights(tmp_path / "other.pt")
    with pytest.raises(TrainError, match="holds no final.pt"):
        load_weights(tmp_path)

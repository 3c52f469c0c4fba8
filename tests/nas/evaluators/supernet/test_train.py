"""Supernet training: the file after every epoch, resume (exactly, and to a larger --epochs), budget-restricted
paths, refusals."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from nas.evaluators.supernet import (PathSampler, Supernet, SupernetTrainError, check_out, epoch_paths,
                                     read_supernet, resume_state, train_supernet)
from nas.evaluators.supernet.train import lr_at, path_sampler, sampling_space
from tests.nas.evaluators.supernet.conftest import TINY_SPACE, interrupt_in_epoch, tiny_run, train_tiny


def test_the_file_records_what_was_trained(supernet_file, tiny_data):
    sf = read_supernet(supernet_file)
    assert (sf.epochs_done, sf.epochs, sf.step) == (1, 1, 256 // 32) and sf.complete
    assert sf.task == tiny_data.task and sf.space == sampling_space(TINY_SPACE, tiny_run(), 4)
    h = sf.history[0]
    assert h["epoch"] == 1 and h["paths"] == 8 and 0 <= h["train_accuracy"] <= 1 and np.isfinite(h["train_loss"])
    assert sf.run["dataset"] == "bars:mem" and sf.run["batch_size"] == 32
    assert "trained 1/1 epochs on bars:mem at 16 px" in sf.describe()


def test_resume_continues_exactly(tiny_data, tmp_path):
    whole = train_tiny(tiny_data, tmp_path / "whole.pt", epochs=2)
    cut = tmp_path / "cut.pt"
    with pytest.raises(KeyboardInterrupt):
        train_supernet(tiny_run(), 2, tiny_data, cut, space=TINY_SPACE, threads=1,
                       progress=interrupt_in_epoch(2, 8))
    assert read_supernet(cut).epochs_done == 1  # the file of the last finished epoch
    result = train_supernet(tiny_run(), 2, tiny_data, cut, resume=read_supernet(cut, mmap=False), threads=1)
    a, b = read_supernet(whole), read_supernet(cut)
    assert (b.epochs_done, b.step, result.resumed_at) == (2, 16, (1,))
    assert [h["epoch"] for h in b.history] == [1, 2]
    for key, value in a.raw["state_dict"].items():
        assert torch.equal(value, b.raw["state_dict"][key]), key
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]


def test_resume_to_more_epochs_continues_the_epoch_count(tiny_data, tmp_path):
    out = train_tiny(tiny_data, tmp_path / "sn.pt", epochs=1)
    first = read_supernet(out)
    result = train_supernet(tiny_run(), 3, tiny_data, out, resume=read_supernet(out, mmap=False), threads=1)
    sf = read_supernet(out)
    assert (sf.epochs_done, sf.epochs, sf.step, result.epochs_done) == (3, 3, 24, 3)
    assert [h["epoch"] for h in sf.history] == [1, 2, 3] and sf.history[0] == first.history[0]
    assert sf.raw["resumed_at"] == [1]
    # the learning rate follows the cosine of the new total from the current step on
    assert sf.history[1]["lr"] == pytest.approx(lr_at(15, 24, tiny_run()))


def test_resume_refusals(tiny_data, tmp_path, monkeypatch):
    out = train_tiny(tiny_data, tmp_path / "sn.pt", epochs=1)
    with pytest.raises(SupernetTrainError, match="already exists"):
        check_out(out, resume=False)
    with pytest.raises(SupernetTrainError, match="nothing to resume"):
        check_out(tmp_path / "none.pt", resume=True)
    with pytest.raises(SupernetTrainError, match="is a folder"):
        check_out(tmp_path, resume=False)
    with pytest.raises(SupernetTrainError, match="--seed 3 differs from the supernet's 0"):
        resume_state(out, 2, {"seed": 3})
    with pytest.raises(SupernetTrainError, match="has trained its 1 epochs"):
        resume_state(out, None, {})
    with pytest.raises(SupernetTrainError, match="already trained 1 epochs"):
        resume_state(out, 0, {})


@dataclass(frozen=True)
class _Estimate:
    latency_ms: float


class _WidthProfile:
    """A stand-in latency profile: 'latency' = sum of stage widths x depths / 10 ms."""

    class platform:  # noqa: N801 - mimics Profile.platform.name
        name = "fake"

    def __init__(self):
        self.calls = 0

    def estimates(self, specs, kind=None):
        self.calls += 1
        return [_Estimate(sum(st.width * st.depth for st in s.stages) / 10.0) for s in specs]


def test_paths_within_a_budget_are_drawn_by_rejection(tiny_data, tmp_path):
    space = sampling_space(TINY_SPACE, tiny_run(), 4)
    profile = _WidthProfile()
    sampler = PathSampler(space, profile, budget_ms=10.0, chunk=16)
    rng = np.random.default_rng(0)
    drawn = [sampler.draw(rng) for _ in range(20)]
    assert all(profile.estimates([s])[0].latency_ms <= 10.0 for s in drawn)
    assert sampler.accepted == 20 and sampler.draws > 20 and sampler.draws % 16 == 0
    out = tmp_path / "budget.pt"
    train_supernet(tiny_run(platform="fake", budget_ms=10.0), 1, tiny_data, out, space=TINY_SPACE, threads=1,
                   sampler=PathSampler(space, _WidthProfile(), budget_ms=10.0, chunk=16))
    h = read_supernet(out).history[0]
    assert h["paths"] == 8 and h["draws"] >= 16
    with pytest.raises(SupernetTrainError, match="none of 64 paths drawn from the space fits on fake"):
        PathSampler(space, _WidthProfile(), budget_ms=0.1, chunk=16, max_draws=64).draw(rng)


def test_epoch_paths_draws_again_the_paths_a_supernet_was_trained_on(tiny_data, tmp_path, monkeypatch):
    trained = []
    member = Supernet.member
    monkeypatch.setattr(Supernet, "member", lambda self, spec: trained.append(spec) or member(self, spec))
    out = train_tiny(tiny_data, tmp_path / "paths.pt", epochs=2)
    sf = read_supernet(out)
    run = tiny_run()
    per_epoch = len(tiny_data.train) // run.batch_size
    sampler = PathSampler(sf.space)
    again = [p for epoch in range(2) for p in itertools.islice(epoch_paths(run, sampler, epoch), per_epoch)]
    assert len(trained) == 2 * per_epoch and again == trained
    assert len({p.arch_id for p in trained}) > 1


def test_a_replica_trains_other_weights_on_other_paths_over_the_same_split(supernet_file, tiny_data, tmp_path):
    trained: dict[int, list] = {}
    sampler = PathSampler(read_supernet(supernet_file).space)
    for replica in (0, 1):
        run = tiny_run(replica=replica)
        trained[replica] = list(itertools.islice(epoch_paths(run, sampler, 0), 8))
    assert trained[0] != trained[1]
    out = train_tiny(tiny_data, tmp_path / "r1.pt", replica=1)
    a, b = read_supernet(supernet_file), read_supernet(out)
    assert a.task == b.task  # the same split: one search's validation images are held out of both
    assert b.run["replica"] == 1 and a.run["replica"] == 0
    assert any(not torch.equal(v, b.raw["state_dict"][k]) for k, v in a.raw["state_dict"].items())
    # replica 0 is the run of its seed alone: its generators and initial weights are those of the seed
    assert tiny_run(replica=0).stream(22, 3) == [0, 22, 3] and tiny_run(replica=0).weight_seed == 0
    assert tiny_run(replica=2).weight_seed != tiny_run(replica=1).weight_seed


def test_spread_paths_are_drawn_as_sample_scaled_draws_them(tiny_data, tmp_path):
    space = sampling_space(TINY_SPACE, tiny_run(), 4)
    sampler = PathSampler(space, spread=True)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [sampler.draw(a) for _ in range(6)] == [space.sample_scaled(b) for _ in range(6)]
    run = tiny_run(path_draw="spread")
    out = train_tiny(tiny_data, tmp_path / "spread.pt", path_draw="spread")
    sf = read_supernet(out)
    assert sf.run["path_draw"] == "spread"
    # the paths it trained on are drawn again by its own sampler (what the benchmark's coverage relies on)
    again = list(itertools.islice(epoch_paths(run, path_sampler(run, sf.space), 0), 8))
    uniform = list(itertools.islice(epoch_paths(tiny_run(), path_sampler(tiny_run(), sf.space), 0), 8))
    assert again == list(itertools.islice(epoch_paths(run, PathSampler(sf.space, spread=True), 0), 8))
    assert again != uniform


def test_bad_options_are_one_line_errors():
    with pytest.raises(SupernetTrainError, match="--path-draw: 'edge' is not one of uniform, spread"):
        tiny_run(path_draw="edge")
    with pytest.raises(SupernetTrainError, match="--platform and --budget go together"):
        tiny_run(platform="arm")
    with pytest.raises(SupernetTrainError, match="--batch-size"):
        tiny_run(batch_size=1)
    with pytest.raises(SupernetTrainError, match="--replica"):
        tiny_run(replica=-1)

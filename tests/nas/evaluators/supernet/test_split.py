"""Few-shot parts: a depth split partitions a stage's depths, a part's supernet started from its parent computes
what the parent computes on the part's paths, and training a part draws only its paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.evaluators.supernet import SupernetTrainError, file_sha256, read_supernet, train_supernet
from nas.evaluators.supernet.model import Supernet
from nas.evaluators.supernet.split import DepthSplit, SplitError, warm_start
from nas.evaluators.supernet.train import sampling_space
from search_space.space import SearchSpace

from tests.nas.evaluators.supernet.conftest import TINY_SPACE, tiny_run


def test_parse_reads_contiguous_parts_and_names_them():
    split = DepthSplit.parse("s1_depth=4-5,6-7,8-10", SearchSpace.default())
    assert (split.stage, split.groups) == (1, ((4, 5), (6, 7), (8, 10)))
    assert str(split) == "s1_depth=4-5,6-7,8-10" and split.label(2) == "s1 depth 8-10"
    assert DepthSplit.parse("s0_depth=1,2", TINY_SPACE).groups == ((1, 1), (2, 2))


@pytest.mark.parametrize("text", ["s1_depth=4-6,8-10", "s1_depth=4-10", "s1_depth=5-7,8-10", "s1_depth=4-7,8-9",
                                  "s1_depth=6-7,4-5,8-10", "s7_depth=4-5,6-10", "s1_width=4-5,6-10",
                                  "s1_depth=a-5,6-10"])
def test_parse_refuses_what_does_not_partition_the_stage_in_one_line(text):
    with pytest.raises(SplitError) as err:
        DepthSplit.parse(text, SearchSpace.default())
    assert "--split" in str(err.value) and "\n" not in str(err.value)


def test_part_space_narrows_the_stage_and_part_of_finds_it():
    split = DepthSplit.parse("s1_depth=4-5,6-7,8-10", SearchSpace.default())
    part = split.part_space(SearchSpace.default(), 1)
    assert (part.stages[1].depth_low, part.stages[1].depth_high) == (6, 7)
    assert part.stages[0] == SearchSpace.default().stages[0] and part.stages[2] == SearchSpace.default().stages[2]
    rng = np.random.default_rng(0)
    for _ in range(20):
        spec = SearchSpace.default().sample(rng)
        k = split.part_of(spec)
        assert split.part_space(SearchSpace.default(), k).contains(spec)


def test_a_part_started_from_its_parent_computes_what_the_parent_computes(supernet_file):
    sf = read_supernet(supernet_file)
    parent = sf.build(device="cpu").eval()
    split = DepthSplit.parse("s1_depth=1,2", sf.space)
    x = torch.randn(3, sf.task.channels, sf.task.resolution, sf.task.resolution)
    for k in range(2):
        child = Supernet(split.part_space(sf.space, k), sf.task, seed=7)
        assert warm_start(child, parent) == len(child.state_dict())
        child.eval()
        spec = child.space.sample(np.random.default_rng(k))
        with torch.no_grad():
            assert torch.equal(child(x, spec), parent(x, spec))


def test_warm_start_refuses_a_parent_over_a_smaller_space(supernet_file):
    sf = read_supernet(supernet_file)
    small = Supernet(DepthSplit.parse("s1_depth=1,2", sf.space).part_space(sf.space, 0), sf.task)
    with pytest.raises(SplitError, match="no weights for"):
        warm_start(Supernet(sf.space, sf.task), small)


def test_a_part_trains_from_its_parent_over_its_paths_alone(supernet_file, tiny_data, tmp_path, monkeypatch):
    parent = read_supernet(supernet_file)
    run = tiny_run(split="s1_depth=1,2", part=1, init_from=str(supernet_file), init_sha256=file_sha256(supernet_file))
    drawn = []
    real_member = Supernet.member
    monkeypatch.setattr(Supernet, "member", lambda self, spec: drawn.append(spec) or real_member(self, spec))
    train_supernet(run, 1, tiny_data, tmp_path / "p1.pt", space=TINY_SPACE, threads=1, init=parent)
    sf = read_supernet(tmp_path / "p1.pt")
    assert (sf.space.stages[1].depth_low, sf.space.stages[1].depth_high) == (2, 2)
    assert sf.space == sampling_space(TINY_SPACE, run, tiny_data.task.num_classes)
    assert drawn and all(len(s.stages[1].units) == 2 for s in drawn)
    assert sf.run["init_sha256"] == file_sha256(supernet_file) and sf.run["split"] == "s1_depth=1,2"
    assert f"part 1 of s1_depth=1,2, started from {supernet_file}" in sf.describe()


def test_a_part_refuses_another_parent_or_none(supernet_file, tiny_data, tmp_path):
    run = tiny_run(split="s1_depth=1,2", part=0, init_from=str(supernet_file), init_sha256="0" * 64)
    with pytest.raises(SupernetTrainError, match="not the parent"):
        train_supernet(run, 1, tiny_data, tmp_path / "a.pt", space=TINY_SPACE, threads=1,
                       init=read_supernet(supernet_file))
    with pytest.raises(SupernetTrainError, match="give its file"):
        train_supernet(run, 1, tiny_data, tmp_path / "b.pt", space=TINY_SPACE, threads=1)
    with pytest.raises(SupernetTrainError, match="--part 2"):
        train_supernet(tiny_run(split="s1_depth=1,2", part=2), 1, tiny_data, tmp_path / "c.pt", space=TINY_SPACE,
                       threads=1)
    assert not any(tmp_path.iterdir())

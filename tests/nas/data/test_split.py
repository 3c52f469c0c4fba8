"""TensorSplit batches and the seeded, stratified split/subset helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.data.errors import DatasetError
from nas.data.split import TensorSplit, stratified_split, stratified_subset


def _labels(n=200, classes=4):
    return np.arange(n) % classes


def _split(n=10, c=1, side=4):
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, c, side, side).contiguous()
    return TensorSplit(images, torch.arange(n, dtype=torch.int64) % 3)


def test_split_deterministic_disjoint_complete():
    labels = _labels()
    tr1, va1 = stratified_split(labels, 0.1, seed=7)
    tr2, va2 = stratified_split(labels, 0.1, seed=7)
    np.testing.assert_array_equal(tr1, tr2)
    np.testing.assert_array_equal(va1, va2)
    assert not set(tr1) & set(va1)
    assert sorted(np.concatenate([tr1, va1]).tolist()) == list(range(200))
    assert len(va1) == 20 and np.bincount(labels[va1]).tolist() == [5, 5, 5, 5]
    assert np.all(np.diff(tr1) > 0) and np.all(np.diff(va1) > 0)


def test_split_seed_changes_membership():
    labels = _labels()
    assert not np.array_equal(stratified_split(labels, 0.1, 1)[1], stratified_split(labels, 0.1, 2)[1])


def test_split_accepts_generator_and_zero_fraction():
    tr, va = stratified_split(_labels(), 0.0, np.random.default_rng(0))
    assert len(tr) == 200 and len(va) == 0


def test_split_keeps_one_training_example_per_class():
    tr, va = stratified_split(np.array([0, 1, 1]), 0.9, 0)
    assert set(np.array([0, 1, 1])[tr]) == {0, 1}


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_bad_fraction(fraction):
    with pytest.raises(DatasetError, match="validation fraction"):
        stratified_split(_labels(), fraction, 0)


def test_subset_proportional_and_fixed():
    labels = np.array([0] * 80 + [1] * 20)
    a = stratified_subset(labels, 10, seed=3)
    assert len(a) == 10 and np.bincount(labels[a]).tolist() == [8, 2]
    np.testing.assert_array_equal(a, stratified_subset(labels, 10, seed=3))
    assert np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(stratified_subset(labels, 500, seed=3), np.arange(100))
    with pytest.raises(DatasetError, match="limit"):
        stratified_subset(labels, -1, 0)


def test_tensor_split_validation():
    with pytest.raises(ValueError, match="uint8"):
        TensorSplit(torch.zeros(2, 1, 3, 3), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="int64"):
        TensorSplit(torch.zeros(2, 1, 3, 3, dtype=torch.uint8), torch.zeros(2, dtype=torch.int32))
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        TensorSplit(torch.zeros(2, 1, 3, 3, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))


def test_batches_cover_every_example_once():
    split = _split(10)
    seen = []
    for images, labels in split.batches(4, shuffle=True, seed=5):
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        seen.extend(images[:, 0, 0, 0].tolist())
        np.testing.assert_array_equal(labels.numpy(), images[:, 0, 0, 0].numpy() % 3)
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    sizes = [len(y) for _, y in split.batches(4)]
    assert sizes == [4, 4, 2]
    assert [len(y) for _, y in split.batches(4, drop_last=True)] == [4, 4]


def test_batches_same_seed_same_order():
    split = _split(20)
    a = torch.cat([y for _, y in split.batches(6, shuffle=True, seed=1)])
    b = torch.cat([y for _, y in split.batches(6, shuffle=True, seed=1)])
    c = [x[:, 0, 0, 0] for x, _ in split.batches(6, shuffle=True, seed=2)]
    assert torch.equal(a, b)
    assert torch.cat(c).tolist() != list(range(20))


def test_batch_indices_say_where_each_example_of_a_batch_sits():
    split = _split(10)
    plain = list(split.batches(4, shuffle=True, seed=5, drop_last=True))
    indices = list(split.batch_indices(4, shuffle=True, seed=5, drop_last=True))
    assert len(plain) == len(indices) == 2
    for (x, y), idx in zip(plain, indices):
        assert idx.dtype == torch.int64 and idx.tolist() == x[:, 0, 0, 0].tolist()  # image k holds the value k
        xt, yt = split.batch_at(idx)
        assert torch.equal(x, xt) and torch.equal(y, yt)


def test_bad_batch_size():
    with pytest.raises(DatasetError, match="batch size"):
        next(_split().batches(0))


def test_take_and_select():
    split = _split(30)
    small = split.take(9, seed=0)
    assert len(small) == 9 and small.class_counts(3).tolist() == [3, 3, 3]
    assert split.take(None) is split and split.take(100) is split
    assert split.select([4, 2]).images[:, 0, 0, 0].tolist() == [4, 2]
    assert split.channels == 1 and split.image_size == (4, 4)

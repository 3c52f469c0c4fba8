"""The proxy task: transform shapes/dtypes/channels/normalisation, fixed splits, record and rebuild."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nas.data.dataset import Dataset
from nas.data.errors import DatasetError
from nas.data.proxy import ProxyTask, channel_stats, convert_channels, prepare_from_task, prepare_proxy
from nas.data.split import TensorSplit


def _task(**kw):
    base = dict(dataset="d", resolution=32, channels=3, num_classes=10, train_examples=1, val_examples=1,
                test_examples=0, val_fraction=0.1, seed=0, mean=(0.5,) * 3, std=(0.25,) * 3, source_channels=1)
    base.update(kw)
    return ProxyTask(**base)


def _dataset(n_train=100, n_test=30, channels=1, side=8, classes=5):
    """Pixel [0, 0, 0] of train image i holds i, so split membership can be read back from the images."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_train, channels, side, side), dtype=torch.uint8, generator=g)
    images[:, 0, 0, 0] = torch.arange(n_train, dtype=torch.uint8)
    train = TensorSplit(images, torch.arange(n_train) % classes)
    test = TensorSplit(torch.randint(0, 256, (n_test, channels, side, side), dtype=torch.uint8, generator=g),
                       torch.arange(n_test) % classes)
    return Dataset(spec="test:mem", kind="test", source="mem", class_names=tuple("abcde"[:classes]),
                   train=train, test=test)


def test_apply_gray_to_three_channels():
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    out = _task(resolution=32).apply(images)
    assert out.shape == (4, 3, 32, 32) and out.dtype == torch.float32
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_apply_normalises_constant_image():
    images = torch.full((2, 1, 16, 16), 255, dtype=torch.uint8)
    out = _task(resolution=8).apply(images)
    torch.testing.assert_close(out, torch.full((2, 3, 8, 8), 2.0))


def test_apply_same_resolution_is_exact():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    task = _task(source_channels=3, mean=(0.0,) * 3, std=(1.0,) * 3)
    torch.testing.assert_close(task.apply(images), images.float() / 255)


def test_apply_rgb_to_gray_and_check_input():
    images = torch.zeros((2, 3, 10, 10), dtype=torch.uint8)
    images[:, 1] = 255
    out = _task(resolution=8, channels=1, source_channels=3, mean=(0.0,), std=(1.0,)).apply(images)
    assert out.shape == (2, 1, 8, 8)
    torch.testing.assert_close(out, torch.full_like(out, 0.587))
    with pytest.raises(ValueError, match="expected"):
        _task().apply(images)


def test_convert_channels_rejects_other_counts():
    with pytest.raises(ValueError, match="cannot map 2"):
        convert_channels(torch.zeros(1, 2, 2, 2), 3)


@pytest.mark.parametrize("kw, match", [
    (dict(resolution=4), "resolution"), (dict(channels=2), "channels"), (dict(mean=(0.5,)), "mean/std"),
    (dict(std=(0.0, 1.0, 1.0)), "positive"), (dict(num_classes=0), "classes"), (dict(source_channels=4), "source"),
])
def test_task_validation(kw, match):
    with pytest.raises(DatasetError, match=match):
        _task(**kw)


def test_to_dict_round_trip():
    task = _task()
    d = task.to_dict()
    assert json.loads(json.dumps(d)) == d and d["mean"] == [0.5, 0.5, 0.5]
    assert ProxyTask.from_dict(d) == task
    with pytest.raises(DatasetError, match="missing"):
        ProxyTask.from_dict({k: v for k, v in d.items() if k != "seed"})


def test_prepare_sizes_and_disjoint():
    ds = _dataset()
    data = prepare_proxy(ds, resolution=16, val_fraction=0.2, seed=3)
    train_ids = set(data.train.images[:, 0, 0, 0].tolist())
    val_ids = set(data.val.images[:, 0, 0, 0].tolist())
    assert len(data.train) == 80 and len(data.val) == 20 and not train_ids & val_ids
    assert train_ids | val_ids == set(range(100))
    assert data.val.class_counts(5).tolist() == [4] * 5
    assert data.test is ds.test and data.task.test_examples == 30
    t = data.task
    assert (t.dataset, t.resolution, t.channels, t.num_classes, t.source_channels) == ("test:mem", 16, 3, 5, 1)
    assert (t.train_examples, t.val_examples, t.seed) == (80, 20, 3)


def test_prepare_deterministic_and_seed_dependent():
    ds = _dataset()
    a, b = prepare_proxy(ds, seed=1), prepare_proxy(ds, seed=1)
    assert torch.equal(a.val.images, b.val.images) and a.task == b.task
    c = prepare_proxy(ds, seed=2)
    assert not torch.equal(a.val.images, c.val.images)


def test_limits_are_stratified_and_do_not_move_val():
    ds = _dataset()
    full = prepare_proxy(ds, seed=4)
    small = prepare_proxy(ds, max_train=25, max_val=5, max_test=10, seed=4)
    assert (len(small.train), len(small.val), len(small.test)) == (25, 5, 10)
    assert small.train.class_counts(5).tolist() == [5] * 5
    assert set(small.val.images[:, 0, 0, 0].tolist()) <= set(full.val.images[:, 0, 0, 0].tolist())
    assert set(small.train.images[:, 0, 0, 0].tolist()) <= set(full.train.images[:, 0, 0, 0].tolist())
    with pytest.raises(DatasetError, match="max_train"):
        prepare_proxy(ds, max_train=0)


def test_normalisation_from_training_split():
    ds = _dataset(channels=3)
    data = prepare_proxy(ds, channels=3, seed=0)
    pixels = data.train.images.double() / 255
    np.testing.assert_allclose(data.task.mean, pixels.mean(dim=(0, 2, 3)).numpy(), rtol=1e-9)
    np.testing.assert_allclose(data.task.std, pixels.std(dim=(0, 2, 3), unbiased=False).numpy(), rtol=1e-7)
    x, _ = next(data.train.batches(len(data.train), proxy=data.task))
    assert abs(float(x.mean())) < 0.05
    raw = prepare_proxy(ds, normalize=False)
    assert raw.task.mean == (0.0,) * 3 and raw.task.std == (1.0,) * 3


def test_stats_gray_replicated():
    ds = _dataset(channels=1)
    mean, std = channel_stats(ds.train, 3)
    assert len(set(mean)) == 1 and len(set(std)) == 1


def test_batches_through_proxy():
    data = prepare_proxy(_dataset(side=28), resolution=32, seed=0)
    x, y = next(data.train.batches(16, shuffle=True, seed=0, proxy=data.task))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (16,)


def test_rebuild_from_record():
    ds = _dataset()
    data = prepare_proxy(ds, max_train=30, max_val=10, seed=9)
    again = prepare_from_task(ds, ProxyTask.from_dict(data.task.to_dict()))
    assert torch.equal(again.train.images, data.train.images) and torch.equal(again.val.labels, data.val.labels)
    assert again.task == data.task
    other = Dataset(spec="other:x", kind="o", source="x", class_names=ds.class_names, train=ds.train, test=None)
    with pytest.raises(DatasetError, match="recorded on test:mem"):
        prepare_from_task(other, data.task)


def test_bad_seed():
    with pytest.raises(DatasetError, match="seed"):
        prepare_proxy(_dataset(), seed=1.5)  # type: ignore[arg-type]

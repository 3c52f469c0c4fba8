"""CIFAR-10/100 python batches: layout, names, sub-folder resolution, and refusal of anything but batch dicts."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from nas.data.cifar import load_cifar10, load_cifar100, read_batch
from nas.data.errors import DatasetError


def test_cifar10_loads(tmp_path, make_cifar10):
    root = make_cifar10(tmp_path / "c10", per_batch=4, n_test=5)
    ds = load_cifar10(root, "cifar10:x")
    assert ds.train.images.shape == (20, 3, 32, 32) and ds.train.images.dtype == torch.uint8
    assert ds.test is not None and len(ds.test) == 5
    assert ds.class_names == tuple(f"c{i}" for i in range(10))
    assert ds.kind == "cifar10" and ds.channels == 3


def test_cifar10_pixel_layout(tmp_path, make_cifar10):
    """Row of 3072 bytes = 1024 red, 1024 green, 1024 blue, each row-major 32 x 32."""
    root = make_cifar10(tmp_path / "c10")
    batch = read_batch(root / "data_batch_1")
    row = np.asarray(batch["data"])[0]
    ds = load_cifar10(root, "s")
    first = ds.train.images[0].numpy()
    np.testing.assert_array_equal(first[0], row[:1024].reshape(32, 32))
    np.testing.assert_array_equal(first[2, 1], row[2048 + 32:2048 + 64])
    assert ds.train.labels[0].item() == batch["labels"][0]


def test_cifar10_inner_folder(tmp_path, make_cifar10):
    make_cifar10(tmp_path / "cifar-10-batches-py")
    ds = load_cifar10(tmp_path, "s")
    assert ds.source.endswith("cifar-10-batches-py") and len(ds.train) == 20


def test_cifar10_missing_batch(tmp_path, make_cifar10):
    root = make_cifar10(tmp_path / "c10")
    (root / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="missing data_batch_3"):
        load_cifar10(root, "s")


def test_cifar10_without_meta_or_test(tmp_path, make_cifar10):
    root = make_cifar10(tmp_path / "c10")
    (root / "batches.meta").unlink()
    (root / "test_batch").unlink()
    ds = load_cifar10(root, "s")
    assert ds.class_names == tuple(str(i) for i in range(10)) and ds.test is None


def test_cifar100_fine_labels(tmp_path, make_cifar100):
    root = make_cifar100(tmp_path / "cifar-100-python", n_train=12, n_test=6)
    ds = load_cifar100(tmp_path, "cifar100:x")
    assert len(ds.train) == 12 and ds.test is not None and len(ds.test) == 6
    assert ds.num_classes == 100 and ds.class_names[7] == "f7"
    np.testing.assert_array_equal(ds.train.labels.numpy(), read_batch(root / "train")["fine_labels"])


def test_str_keys_accepted(tmp_path, make_cifar100, dump_pickle):
    root = make_cifar100(tmp_path / "c100")
    dump_pickle(root / "train", {"data": np.zeros((2, 3072), np.uint8), "fine_labels": [3, 4]})
    assert load_cifar100(root, "s").train.labels.tolist() == [3, 4]


def test_non_dict_refused(tmp_path, make_cifar10, dump_pickle):
    root = make_cifar10(tmp_path / "c10")
    dump_pickle(root / "data_batch_2", [1, 2, 3])
    with pytest.raises(DatasetError, match="data_batch_2: expected a dict, found list"):
        load_cifar10(root, "s")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_arbitrary_globals_refused(tmp_path, make_cifar10, dump_pickle):
    root = make_cifar10(tmp_path / "c10")
    dump_pickle(root / "data_batch_1", {b"data": _Evil(), b"labels": []})
    with pytest.raises(DatasetError, match="data_batch_1: refusing to load .*system"):
        load_cifar10(root, "s")


def test_garbage_file(tmp_path, make_cifar10):
    root = make_cifar10(tmp_path / "c10")
    (root / "test_batch").write_bytes(b"this is not a pickle")
    with pytest.raises(DatasetError, match="test_batch: not a readable pickle"):
        load_cifar10(root, "s")


def test_bad_data_shape(tmp_path, make_cifar10, dump_pickle):
    root = make_cifar10(tmp_path / "c10")
    dump_pickle(root / "data_batch_4", {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DatasetError, match="data_batch_4: 'data' must be uint8 N x 3072"):
        load_cifar10(root, "s")


def test_label_count_and_range(tmp_path, make_cifar10, dump_pickle):
    root = make_cifar10(tmp_path / "c10")
    dump_pickle(root / "data_batch_5", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]})
    with pytest.raises(DatasetError, match="data_batch_5: 1 labels for 2 images"):
        load_cifar10(root, "s")
    dump_pickle(root / "data_batch_5", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]})
    with pytest.raises(DatasetError, match="data_batch_5: label 10 is out of range"):
        load_cifar10(root, "s")


def test_missing_key(tmp_path, make_cifar100, dump_pickle):
    root = make_cifar100(tmp_path / "c100")
    dump_pickle(root / "train", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DatasetError, match="train: missing key 'data' or 'fine_labels'"):
        load_cifar100(root, "s")


def test_not_a_folder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_cifar10(tmp_path / "none", "s")


def test_python2_published_format(tmp_path, make_cifar10, dump_py2_pickle):
    """The published files are Python 2 pickles: str keys/names, numpy.core.multiarray array reconstruction."""
    root = make_cifar10(tmp_path / "c10")
    data = np.arange(2 * 3072, dtype=np.uint64).astype(np.uint8).reshape(2, 3072)
    dump_py2_pickle(root / "data_batch_1", {"batch_label": "training batch 1 of 5", "data": data,
                                            "labels": [6, 9], "filenames": ["a.png", "b.png"]})
    dump_py2_pickle(root / "batches.meta", {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                            "frog", "horse", "ship", "truck"], "num_vis": 3072})
    ds = load_cifar10(root, "s")
    assert ds.class_names[0] == "airplane" and ds.class_names[9] == "truck"
    assert ds.train.labels[:2].tolist() == [6, 9]
    np.testing.assert_array_equal(ds.train.images[:2].reshape(2, 3072).numpy(), data)

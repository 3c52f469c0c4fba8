"""Dataset spec strings and load_dataset: kinds, defaults, errors; the real Fashion-MNIST when installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nas.data.errors import DatasetError
from nas.data.registry import (
    FASHION_MNIST_DIR,
    DatasetKind,
    DatasetSpec,
    default_kinds,
    load_dataset,
    parse_spec,
)
from search_space.errors import UserError
from search_space.registry import DuplicateNameError


@pytest.mark.parametrize("text, kind, path", [
    ("fashion-mnist", "fashion-mnist", None),
    ("Fashion_MNIST:/d", "fashion-mnist", "/d"),
    (" folder:/a/b:c ", "folder", "/a/b:c"),
    ("cifar10:rel/dir", "cifar10", "rel/dir"),
])
def test_parse_spec(text, kind, path):
    assert parse_spec(text) == DatasetSpec(kind, path)


@pytest.mark.parametrize("text, match", [("", "expected KIND"), (":x", "expected KIND"), ("folder:", "empty path")])
def test_parse_spec_errors(text, match):
    with pytest.raises(DatasetError, match=match):
        parse_spec(text)


def test_spec_str():
    assert str(DatasetSpec("cifar10", "/x")) == "cifar10:/x" and str(DatasetSpec("mnist", None)) == "mnist"


def test_registry_has_builtin_kinds_and_rejects_duplicates():
    kinds = default_kinds()
    assert {"fashion-mnist", "mnist", "idx", "folder", "cifar10", "cifar100"} <= set(kinds.names())
    assert kinds.get("fashion-mnist").default_path == FASHION_MNIST_DIR
    with pytest.raises(DuplicateNameError):
        kinds.add("folder", kinds.get("folder"))


def test_unknown_kind_is_one_line_user_error():
    with pytest.raises(UserError) as info:
        load_dataset("imagenet:/x")
    msg = str(info.value)
    assert "unknown dataset kind 'imagenet'" in msg and "fashion-mnist" in msg and "\n" not in msg


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"cifar10:{tmp_path / 'none'}")


def test_kind_without_default_needs_path():
    with pytest.raises(DatasetError, match="needs a folder: folder:PATH"):
        load_dataset("folder")


def test_default_missing_mentions_debian_package(tmp_path):
    kinds = default_kinds()
    real = kinds.get("fashion-mnist")
    custom = type(kinds)("dataset kind")
    custom.add("fashion-mnist", DatasetKind("fashion-mnist", real.loader, real.description, str(tmp_path / "gone")))
    with pytest.raises(DatasetError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist", kinds=custom)


def test_fashion_mnist_from_user_folder(tmp_path, make_idx_dir):
    root = make_idx_dir(tmp_path / "fm", n_train=40, n_test=10, side=28)
    ds = load_dataset(f"fashion-mnist:{root}")
    assert ds.spec == f"fashion-mnist:{root.resolve()}" and ds.source == str(root.resolve())
    assert (len(ds.train), len(ds.test), ds.num_classes, ds.image_size) == (40, 10, 10, (28, 28))
    assert ds.summary()["class_names"][-1] == "Ankle boot"


def test_idx_and_mnist_kinds(tmp_path, make_idx_dir):
    root = make_idx_dir(tmp_path / "d", classes=3, gz=False)
    assert load_dataset(f"idx:{root}").class_names == ("0", "1", "2")
    assert load_dataset(f"mnist:{root}").num_classes == 10


def test_cifar_kinds(tmp_path, make_cifar10, make_cifar100):
    assert len(load_dataset(f"cifar10:{make_cifar10(tmp_path / 'a')}").train) == 20
    assert load_dataset(f"cifar100:{make_cifar100(tmp_path / 'b')}").num_classes == 100


def test_image_size_only_for_folders(tmp_path, make_idx_dir):
    root = make_idx_dir(tmp_path / "d")
    with pytest.raises(DatasetError, match="only to folder"):
        load_dataset(f"idx:{root}", image_size=32)


def test_folder_kind(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for cls in ("b", "a"):
        (tmp_path / cls).mkdir()
        image.fromarray(np.zeros((6, 6), np.uint8), mode="L").save(tmp_path / cls / "0.png")
    ds = load_dataset(f"folder:{tmp_path}", image_size=10)
    assert ds.class_names == ("a", "b") and ds.image_size == (10, 10)


def test_require_test(tmp_path, make_idx_dir):
    root = make_idx_dir(tmp_path / "d")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (root / name).unlink()
    ds = load_dataset(f"idx:{root}")
    with pytest.raises(DatasetError, match="has no test split"):
        ds.require_test()


@pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(),
                    reason=f"{FASHION_MNIST_DIR} absent (Debian package dataset-fashion-mnist not installed)")
def test_real_fashion_mnist():
    ds = load_dataset()
    assert ds.spec == f"fashion-mnist:{FASHION_MNIST_DIR}"
    assert len(ds.train) == 60000 and ds.test is not None and len(ds.test) == 10000
    assert ds.num_classes == 10 and ds.channels == 1 and ds.image_size == (28, 28)
    assert ds.train.class_counts(10).tolist() == [6000] * 10
    assert ds.test.class_counts(10).tolist() == [1000] * 10

"""ImageFolder loader on tiny PNGs written by the test: classes, channels, sizes, split layout, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.data.errors import DatasetError
from nas.data.folder import DEFAULT_MIXED_SIZE, load_image_folder

Image = pytest.importorskip("PIL.Image")


def _png(path, h=5, w=4, mode="RGB", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    array = np.full(shape, value, dtype=np.uint8)
    array.flat[0] = (value + 1) % 256
    Image.fromarray(array, mode=mode).save(path)
    return array


def test_flat_layout_sorted_classes(tmp_path):
    for cls, n in (("zebra", 2), ("apple", 3)):
        for i in range(n):
            _png(tmp_path / cls / f"{i}.png", value=10 * i + (100 if cls == "zebra" else 0))
    (tmp_path / "apple" / "notes.txt").write_text("not an image")
    ds = load_image_folder(tmp_path, "folder:x")
    assert ds.class_names == ("apple", "zebra")
    assert ds.train.labels.tolist() == [0, 0, 0, 1, 1]
    assert ds.train.images.shape == (5, 3, 5, 4) and ds.train.images.dtype == torch.uint8
    assert ds.test is None and ds.kind == "folder"
    assert ds.train.images[3, :, 1, 1].tolist() == [100, 100, 100]


def test_pixels_kept_in_chw(tmp_path):
    expected = _png(tmp_path / "a" / "x.png", h=3, w=2, value=7)
    ds = load_image_folder(tmp_path, "s")
    np.testing.assert_array_equal(ds.train.images[0].permute(1, 2, 0).numpy(), expected)


def test_gray_stays_one_channel(tmp_path):
    _png(tmp_path / "a" / "0.png", mode="L", value=50)
    _png(tmp_path / "b" / "0.png", mode="L", value=60)
    ds = load_image_folder(tmp_path, "s")
    assert ds.channels == 1 and ds.train.images.shape == (2, 1, 5, 4)


def test_mixed_gray_and_rgb_becomes_rgb(tmp_path):
    _png(tmp_path / "a" / "0.png", mode="L", value=50)
    _png(tmp_path / "b" / "0.png", mode="RGB", value=60)
    ds = load_image_folder(tmp_path, "s")
    assert ds.channels == 3 and ds.train.images[0, :, 2, 2].tolist() == [50, 50, 50]


def test_mixed_sizes_resized_to_default(tmp_path):
    _png(tmp_path / "a" / "0.png", h=5, w=4)
    _png(tmp_path / "a" / "1.png", h=9, w=7)
    ds = load_image_folder(tmp_path, "s")
    assert ds.image_size == (DEFAULT_MIXED_SIZE, DEFAULT_MIXED_SIZE)


def test_explicit_image_size(tmp_path):
    _png(tmp_path / "a" / "0.png", h=5, w=4)
    assert load_image_folder(tmp_path, "s", image_size=12).train.images.shape == (1, 3, 12, 12)
    with pytest.raises(DatasetError, match="bad image size 0"):
        load_image_folder(tmp_path, "s", image_size=0)


def test_train_test_layout(tmp_path):
    for split in ("train", "test"):
        _png(tmp_path / split / "cat" / "0.png")
        _png(tmp_path / split / "dog" / "0.png")
    _png(tmp_path / "train" / "dog" / "1.png")
    ds = load_image_folder(tmp_path, "s")
    assert ds.class_names == ("cat", "dog") and len(ds.train) == 3
    assert ds.test is not None and ds.test.labels.tolist() == [0, 1]


def test_val_layout_with_subset_of_classes(tmp_path):
    _png(tmp_path / "train" / "cat" / "0.png")
    _png(tmp_path / "train" / "dog" / "0.png")
    _png(tmp_path / "val" / "dog" / "0.png")
    ds = load_image_folder(tmp_path, "s")
    assert ds.test is not None and ds.test.labels.tolist() == [1]


def test_test_class_unknown(tmp_path):
    _png(tmp_path / "train" / "cat" / "0.png")
    _png(tmp_path / "test" / "cow" / "0.png")
    with pytest.raises(DatasetError, match=r"\['cow'\] are not in"):
        load_image_folder(tmp_path, "s")


def test_empty_class_folder(tmp_path):
    _png(tmp_path / "a" / "0.png")
    (tmp_path / "b").mkdir()
    with pytest.raises(DatasetError, match="class folder 'b' has no images"):
        load_image_folder(tmp_path, "s")


def test_corrupt_image_names_file(tmp_path):
    _png(tmp_path / "a" / "0.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DatasetError, match="broken.png"):
        load_image_folder(tmp_path, "s")


def test_no_class_folders(tmp_path):
    _png(tmp_path / "loose.png")
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_image_folder(tmp_path, "s")


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_image_folder(tmp_path / "nope", "s")

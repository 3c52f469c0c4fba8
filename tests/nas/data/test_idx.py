"""IDX reader and folder loader: round trips (gz and raw), validation errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.data.errors import DatasetError
from nas.data.idx import FASHION_MNIST_CLASSES, load_idx_folder, parse_idx, read_idx
from search_space.errors import UserError


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_round_trip(tmp_path, write_idx, gz, dtype):
    array = (np.arange(2 * 3 * 4) - (0 if dtype == "uint8" else 5)).reshape(2, 3, 4).astype(dtype)
    path = write_idx(tmp_path / "x-idx3", array, gz=gz)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.flags.writeable
    np.testing.assert_array_equal(got, array)


def test_gzip_detected_by_content_not_name(tmp_path, write_idx):
    path = write_idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.uint8), gz=True)
    renamed = path.rename(tmp_path / "labels-no-suffix")
    np.testing.assert_array_equal(read_idx(renamed), [1, 2, 3])


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_magic_names_file(tmp_path):
    path = _write(tmp_path, "bad-magic", b"\x01\x02\x08\x01" + b"\x00\x00\x00\x01" + b"\x05")
    with pytest.raises(DatasetError, match="bad-magic.*bad magic"):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    path = _write(tmp_path, "bad-type", b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")
    with pytest.raises(DatasetError, match="bad-type.*type code 0x07"):
        read_idx(path)


def test_truncated_data_names_file(tmp_path, write_idx):
    path = write_idx(tmp_path / "short", np.zeros((4, 5, 5), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DatasetError, match="short.*truncated"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = _write(tmp_path, "hdr", b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DatasetError, match="hdr.*truncated header"):
        read_idx(path)


def test_too_short_and_trailing(tmp_path, write_idx):
    with pytest.raises(DatasetError, match="tiny.*too short"):
        read_idx(_write(tmp_path, "tiny", b"\x00\x00"))
    path = write_idx(tmp_path / "long", np.zeros(3, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DatasetError, match="long.*trailing"):
        read_idx(path)


def test_truncated_gzip_names_file(tmp_path, write_idx):
    path = write_idx(tmp_path / "cut", np.zeros((10, 8, 8), dtype=np.uint8), gz=True)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DatasetError, match="cut.gz.*gzip"):
        read_idx(path)


def test_missing_file_is_user_error(tmp_path):
    with pytest.raises(UserError, match="nope"):
        read_idx(tmp_path / "nope")


def test_huge_dims_are_truncated_not_overflowed():
    data = b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3 + b"\x00" * 8
    with pytest.raises(DatasetError, match="truncated"):
        parse_idx(data, "huge")


def test_parse_idx_zero_dims():
    with pytest.raises(DatasetError, match="zero dimensions"):
        parse_idx(b"\x00\x00\x08\x00")


def test_load_folder_gz(tmp_path, make_idx_dir):
    root = make_idx_dir(tmp_path / "fm", n_train=30, n_test=10, side=6)
    ds = load_idx_folder(root, "fashion-mnist:x", "fashion-mnist", FASHION_MNIST_CLASSES)
    assert len(ds.train) == 30 and ds.test is not None and len(ds.test) == 10
    assert ds.train.images.shape == (30, 1, 6, 6) and ds.train.images.dtype == torch.uint8
    assert ds.train.labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert ds.num_classes == 10 and ds.channels == 1 and ds.image_size == (6, 6)
    assert ds.class_names[0] == "T-shirt/top"


def test_load_folder_raw_and_dotted_names(tmp_path, write_idx):
    root = tmp_path / "raw"
    root.mkdir()
    images = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    write_idx(root / "train-images.idx3-ubyte", images)
    write_idx(root / "train-labels.idx1-ubyte", np.array([0, 2, 1], dtype=np.uint8))
    ds = load_idx_folder(root, "idx:x", "idx")
    assert ds.test is None
    assert ds.class_names == ("0", "1", "2")
    np.testing.assert_array_equal(ds.train.images[:, 0].numpy(), images)


def test_missing_labels_names_file(tmp_path, make_idx_dir):
    root = make_idx_dir(tmp_path / "fm")
    (root / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="missing train-labels-idx1-ubyte"):
        load_idx_folder(root, "s", "idx")


def test_half_test_split_is_an_error(tmp_path, make_idx_dir):
    root = make_idx_dir(tmp_path / "fm")
    (root / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-images"):
        load_idx_folder(root, "s", "idx")


def test_label_count_mismatch(tmp_path, write_idx):
    root = tmp_path / "m"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte", np.zeros((3, 4, 4), dtype=np.uint8))
    write_idx(root / "train-labels-idx1-ubyte", np.zeros(2, dtype=np.uint8))
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte: 2 labels for 3 images"):
        load_idx_folder(root, "s", "idx")


def test_label_out_of_range(tmp_path, write_idx):
    root = tmp_path / "m"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte", np.zeros((2, 4, 4), dtype=np.uint8))
    write_idx(root / "train-labels-idx1-ubyte", np.array([0, 10], dtype=np.uint8))
    with pytest.raises(DatasetError, match="label 10 is out of range"):
        load_idx_folder(root, "s", "fashion-mnist", FASHION_MNIST_CLASSES)


def test_wrong_shapes(tmp_path, write_idx):
    root = tmp_path / "m"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte", np.zeros((2, 16), dtype=np.uint8))
    write_idx(root / "train-labels-idx1-ubyte", np.zeros(2, dtype=np.uint8))
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte: expected unsigned-byte images"):
        load_idx_folder(root, "s", "idx")


def test_not_a_folder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_idx_folder(tmp_path / "absent", "s", "idx")


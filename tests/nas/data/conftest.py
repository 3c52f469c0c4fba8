"""Fixtures that write small datasets in the published file formats (IDX, CIFAR pickles) into tmp_path."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

_IDX_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B, np.dtype("int32"): 0x0C,
              np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of an array: magic 0x0000TTDD, big-endian uint32 dims, big-endian data."""
    code = _IDX_CODES[array.dtype]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture
def write_idx() -> Callable[..., Path]:
    """write_idx(path, array, gz=False) -> the written path (with .gz appended when gz)."""
    return _write_idx


def _make_idx_dir(root: Path, n_train: int = 60, n_test: int = 20, side: int = 8, classes: int = 10,
                  gz: bool = True, seed: int = 0) -> Path:
    """Fashion-MNIST-shaped folder: balanced labels, pixel [0,0] of image i holds i % 256 (to tell images apart)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        images[:, 0, 0] = np.arange(n) % 256
        labels = (np.arange(n) % classes).astype(np.uint8)
        _write_idx(root / f"{prefix}-images-idx3-ubyte", images, gz)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, gz)
    return root


@pytest.fixture
def make_idx_dir() -> Callable[..., Path]:
    """make_idx_dir(root, n_train=60, n_test=20, side=8, classes=10, gz=True, seed=0) -> root."""
    return _make_idx_dir


def _cifar_batch(n: int, classes: int, label_key: bytes, seed: int) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"testing batch",
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        label_key: [int(v) for v in rng.integers(0, classes, size=n)],
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def _dump(path: Path, obj: object) -> None:
    with path.open("wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def _make_cifar10(root: Path, per_batch: int = 4, n_test: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        _dump(root / f"data_batch_{i}", _cifar_batch(per_batch, 10, b"labels", seed=i))
    _dump(root / "test_batch", _cifar_batch(n_test, 10, b"labels", seed=99))
    _dump(root / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072})
    return root


def _make_cifar100(root: Path, n_train: int = 12, n_test: int = 6) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        batch = _cifar_batch(n, 100, b"fine_labels", seed)
        batch[b"coarse_labels"] = [0] * n
        _dump(root / name, batch)
    _dump(root / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                          b"coarse_label_names": [f"k{i}".encode() for i in range(20)]})
    return root


@pytest.fixture
def make_cifar10() -> Callable[..., Path]:
    """make_cifar10(root, per_batch=4, n_test=5) -> root with data_batch_1..5, test_batch, batches.meta."""
    return _make_cifar10


@pytest.fixture
def make_cifar100() -> Callable[..., Path]:
    """make_cifar100(root, n_train=12, n_test=6) -> root with train, test, meta."""
    return _make_cifar100


@pytest.fixture
def dump_pickle() -> Callable[[Path, object], None]:
    """dump_pickle(path, obj): write obj with pickle protocol 2 (as the published CIFAR files)."""
    return _dump


def _py2_str(data: bytes) -> bytes:
    return (b"U" + bytes([len(data)]) if len(data) < 256 else b"T" + struct.pack("<I", len(data))) + data


def _py2_int(value: int) -> bytes:
    return b"K" + bytes([value]) if 0 <= value < 256 else b"J" + struct.pack("<i", value)


def _py2_obj(obj: object) -> bytes:
    """Pickle opcodes (protocol 2) as Python 2's cPickle wrote them for the published CIFAR files."""
    if isinstance(obj, str):
        return _py2_str(obj.encode("latin1"))
    if isinstance(obj, bool) or obj is None:
        return {True: b"\x88", False: b"\x89", None: b"N"}[obj]
    if isinstance(obj, int):
        return _py2_int(obj)
    if isinstance(obj, list):
        return b"](" + b"".join(_py2_obj(v) for v in obj) + b"e"
    if isinstance(obj, tuple):
        return b"(" + b"".join(_py2_obj(v) for v in obj) + b"t"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2_obj(k) + _py2_obj(v) for k, v in obj.items()) + b"u"
    if isinstance(obj, np.ndarray):
        assert obj.dtype == np.uint8
        dtype = (b"cnumpy\ndtype\n" + _py2_obj(("u1", 0, 1)) + b"R"
                 + _py2_obj((3, "|", None, None, None, -1, -1, 0)) + b"b")
        state = b"(" + _py2_int(1) + _py2_obj(obj.shape) + dtype + b"\x89" + _py2_str(obj.tobytes()) + b"t"
        return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + _py2_obj((0,)) + _py2_str(b"b")
                + b"\x87R" + state + b"b")
    raise TypeError(type(obj))


@pytest.fixture
def dump_py2_pickle() -> Callable[[Path, object], None]:
    """dump_py2_pickle(path, obj): write str-keyed dicts/lists/uint8 arrays as a Python 2 protocol-2 pickle."""
    def dump(path: Path, obj: object) -> None:
        path.write_bytes(b"\x80\x02" + _py2_obj(obj) + b".")
    return dump

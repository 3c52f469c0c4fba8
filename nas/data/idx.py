"""IDX files (the MNIST / Fashion-MNIST format, gzip or raw): a validating reader and a folder loader."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from nas.data.dataset import Dataset
from nas.data.errors import DatasetError
from nas.data.split import TensorSplit

#: IDX type code -> big-endian numpy dtype.
IDX_TYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
#: Base names of the four files; each may be gzipped (.gz) and may use the older `train-images.idx3-ubyte` spelling.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc.strerror or exc}") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"IDX file {path}: corrupt or truncated gzip data ({exc})") from None


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (magic 0x0000TTDD, big-endian uint32 dims, big-endian data) to a writable native array."""
    if len(data) < 4:
        raise DatasetError(f"IDX file {name}: only {len(data)} bytes, too short for the header")
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(f"IDX file {name}: bad magic number 0x{data[:4].hex()} (must start with two zero bytes)")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_TYPES:
        raise DatasetError(f"IDX file {name}: unknown data type code 0x{type_code:02x} in the magic number")
    if ndim < 1:
        raise DatasetError(f"IDX file {name}: zero dimensions in the magic number")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"IDX file {name}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[type_code])
    expected = math.prod(dims) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes after the data"
        raise DatasetError(f"IDX file {name}: {what} (dims {dims} need {expected} data bytes, found {got})")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file, gzip-compressed or raw (detected from its first bytes); errors name the file."""
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def find_idx_file(root: Path, base: str) -> Path | None:
    """The file for `base` in `root`: base, base.gz, or the dotted spelling (train-images.idx3-ubyte), else None."""
    dotted = base.replace("-idx", ".idx")
    for name in (base, base + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def _images(path: Path) -> torch.Tensor:
    array = read_idx(path)
    if array.ndim != 3 or array.dtype != np.uint8:
        raise DatasetError(f"IDX file {path}: expected unsigned-byte images N x H x W, got {array.dtype} {array.shape}")
    return torch.from_numpy(array).unsqueeze(1)


def _labels(path: Path, count: int, num_classes: int | None) -> torch.Tensor:
    array = read_idx(path)
    if array.ndim != 1 or array.dtype != np.uint8:
        raise DatasetError(f"IDX file {path}: expected unsigned-byte labels (N,), got {array.dtype} {array.shape}")
    if len(array) != count:
        raise DatasetError(f"IDX file {path}: {len(array)} labels for {count} images")
    if num_classes is not None and len(array) and int(array.max()) >= num_classes:
        raise DatasetError(f"IDX file {path}: label {int(array.max())} is out of range for {num_classes} classes")
    return torch.from_numpy(array.astype(np.int64))


def _split(root: Path, which: str, num_classes: int | None, required: bool) -> TensorSplit | None:
    img_base, lab_base = IDX_FILES[f"{which}_images"], IDX_FILES[f"{which}_labels"]
    img, lab = find_idx_file(root, img_base), find_idx_file(root, lab_base)
    if img is None or lab is None:
        if not required and img is None and lab is None:
            return None
        missing = img_base if img is None else lab_base
        raise DatasetError(f"IDX folder {root}: missing {missing} (or {missing}.gz)")
    images = _images(img)
    return TensorSplit(images, _labels(lab, len(images), num_classes))


def load_idx_folder(
    root: str | Path, spec: str, kind: str, class_names: tuple[str, ...] | None = None
) -> Dataset:
    """Load train-/t10k- IDX image and label files from `root`; class names default to '0'..'K-1' from the labels."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"IDX folder {root} does not exist or is not a folder")
    num = len(class_names) if class_names is not None else None
    train = _split(root, "train", num, required=True)
    assert train is not None
    test = _split(root, "test", num, required=False)
    if test is not None and test.image_size != train.image_size:
        raise DatasetError(f"IDX folder {root}: test images are {test.image_size}, train images {train.image_size}")
    if class_names is None:
        tops = [int(s.labels.max()) for s in (train, test) if s is not None and len(s)]
        class_names = tuple(str(i) for i in range(max(tops, default=0) + 1))
    return Dataset(spec=spec, kind=kind, source=str(root), class_names=class_names, train=train, test=test)

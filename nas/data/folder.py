"""A user's image folder in ImageFolder layout (one sub-folder per class, names sorted), read with Pillow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.dataset import Dataset
from nas.data.errors import DatasetError
from nas.data.split import TensorSplit

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp"})
#: Sub-folder names that mark a root holding separate splits: root/train/<class>/..., root/test/<class>/...
TRAIN_DIR = "train"
TEST_DIRS = ("test", "val", "valid", "validation")
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
#: Side (pixels) that images of mixed sizes are resized to when no image_size is given.
DEFAULT_MIXED_SIZE = 64


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError("reading an image folder needs Pillow: pip install Pillow") from None
    return Image


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folders) and (file, label) pairs under `root`."""
    classes = _subdirs(root)
    if not classes:
        raise DatasetError(f"image folder {root}: no class sub-folders (expected {root}/<class>/<image>)")
    items: list[tuple[Path, int]] = []
    for label, cls in enumerate(classes):
        files = sorted(p for p in cls.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            raise DatasetError(f"image folder {root}: class folder {cls.name!r} has no images "
                               f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        items.extend((f, label) for f in files)
    return [c.name for c in classes], items


def _headers(items: list[tuple[Path, int]]) -> list[tuple[tuple[int, int], str]]:
    """((width, height), mode) of every image, reading headers only."""
    image_mod = _pil()
    out = []
    for path, _ in items:
        try:
            with image_mod.open(path) as im:
                out.append((im.size, im.mode))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"image {path}: cannot be read as an image ({exc})") from None
    return out


def _decode(items: list[tuple[Path, int]], size_wh: tuple[int, int] | None, mode: str) -> TensorSplit:
    image_mod = _pil()
    channels = 1 if mode == "L" else 3
    n = len(items)
    arrays: list[np.ndarray] = []
    for path, _ in items:
        try:
            with image_mod.open(path) as im:
                im = im.convert(mode)
                if size_wh is not None and im.size != size_wh:
                    im = im.resize(size_wh, image_mod.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"image {path}: cannot be decoded ({exc})") from None
        arrays.append(arr.reshape(arr.shape[0], arr.shape[1], channels))
    stacked = np.stack(arrays) if n else np.zeros((0, 1, 1, channels), dtype=np.uint8)
    images = torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)))
    labels = torch.tensor([label for _, label in items], dtype=torch.int64)
    return TensorSplit(images, labels)


def load_image_folder(root: str | Path, spec: str, image_size: int | None = None) -> Dataset:
    """Load root/<class>/* (all training) or root/train/<class>/* + root/test|val/<class>/* into memory.

    `image_size` resizes every image to image_size x image_size (bilinear); when None, images keep their size if all
    agree, else they are resized to DEFAULT_MIXED_SIZE square. Gray stays 1 channel only when every image is gray.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    if image_size is not None and image_size < 1:
        raise DatasetError(f"bad image size {image_size}: must be at least 1 pixel")
    names = {p.name for p in _subdirs(root)}
    test_dir = next((root / d for d in TEST_DIRS if d in names), None)
    if TRAIN_DIR in names and names <= {TRAIN_DIR, *TEST_DIRS}:
        classes, train_items = _scan(root / TRAIN_DIR)
        test_items: list[tuple[Path, int]] = []
        if test_dir is not None:
            test_classes, raw_test = _scan(test_dir)
            unknown = sorted(set(test_classes) - set(classes))
            if unknown:
                raise DatasetError(f"image folder {test_dir}: classes {unknown} are not in {root / TRAIN_DIR}")
            test_items = [(p, classes.index(test_classes[lab])) for p, lab in raw_test]
    else:
        test_dir = None
        classes, train_items = _scan(root)
        test_items = []
    headers = _headers(train_items + test_items)
    mode = "L" if all(m in GRAY_MODES for _, m in headers) else "RGB"
    if image_size is not None:
        size_wh: tuple[int, int] | None = (image_size, image_size)
    elif len({s for s, _ in headers}) == 1:
        size_wh = None
    else:
        size_wh = (DEFAULT_MIXED_SIZE, DEFAULT_MIXED_SIZE)
    train = _decode(train_items, size_wh, mode)
    test = _decode(test_items, size_wh, mode) if test_dir is not None else None
    return Dataset(spec=spec, kind="folder", source=str(root), class_names=tuple(classes), train=train, test=test)


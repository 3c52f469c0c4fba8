"""CIFAR-10 / CIFAR-100 in their published python-pickle batch format, read with a restricted unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.dataset import Dataset
from nas.data.errors import DatasetError
from nas.data.split import TensorSplit

CIFAR_SIDE = 32
CIFAR_ROW = 3 * CIFAR_SIDE * CIFAR_SIDE  # 3072 bytes per image: 1024 red, 1024 green, 1024 blue, row-major
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR100_FOLDER = "cifar-100-python"

#: The only globals a CIFAR batch needs (numpy array reconstruction; _codecs.encode is how Python 3 writes bytes
#: at protocol 2); anything else is refused.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array globals, so a batch file cannot run arbitrary code."""

    def __init__(self, file: Any, name: str):
        super().__init__(file, encoding="latin1")
        self._name = name

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise DatasetError(f"CIFAR batch {self._name}: refusing to load {module}.{name} (not a CIFAR batch file)")


def read_batch(path: Path) -> dict[str, Any]:
    """Load one CIFAR pickle batch as a dict with str keys (bytes keys decoded); errors name the file."""
    try:
        with path.open("rb") as fh:
            obj = _BatchUnpickler(fh, str(path)).load()
    except DatasetError:
        raise
    except OSError as exc:
        raise DatasetError(f"cannot read CIFAR batch {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # pickle raises many types on malformed input
        raise DatasetError(f"CIFAR batch {path}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"CIFAR batch {path}: expected a dict, found {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _decode_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    batch = read_batch(path)
    if "data" not in batch or label_key not in batch:
        raise DatasetError(f"CIFAR batch {path}: missing key 'data' or '{label_key}' (has {sorted(batch)})")
    try:
        data = np.asarray(batch["data"])
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"CIFAR batch {path}: data or labels are not arrays ({exc})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_ROW:
        raise DatasetError(f"CIFAR batch {path}: 'data' must be uint8 N x {CIFAR_ROW}, got {data.dtype} {data.shape}")
    if labels.ndim != 1 or len(labels) != len(data):
        raise DatasetError(f"CIFAR batch {path}: {labels.size} labels for {len(data)} images")
    if len(labels) and labels.min() < 0:
        raise DatasetError(f"CIFAR batch {path}: negative label {int(labels.min())}")
    return data.reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE), labels


def _load_split(paths: list[Path], label_key: str, num_classes: int) -> TensorSplit:
    parts = [_decode_batch(p, label_key) for p in paths]
    labels = np.concatenate([lab for _, lab in parts])
    if len(labels) and labels.max() >= num_classes:
        bad = next(p for p, (_, lab) in zip(paths, parts) if len(lab) and lab.max() >= num_classes)
        raise DatasetError(f"CIFAR batch {bad}: label {int(labels.max())} is out of range for {num_classes} classes")
    images = np.concatenate([img for img, _ in parts])
    return TensorSplit(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))


def _resolve(root: Path, inner: str, marker: str) -> Path:
    root = root.expanduser()
    if not root.is_dir():
        raise DatasetError(f"CIFAR folder {root} does not exist or is not a folder")
    if not (root / marker).is_file() and (root / inner / marker).is_file():
        return root / inner
    return root


def _names(meta_path: Path, key: str, count: int) -> tuple[str, ...]:
    if not meta_path.is_file():
        return tuple(str(i) for i in range(count))
    meta = read_batch(meta_path)
    names = meta.get(key)
    if not isinstance(names, (list, tuple)) or len(names) != count:
        raise DatasetError(f"CIFAR meta file {meta_path}: '{key}' must list {count} class names")
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


def load_cifar10(root: str | Path, spec: str) -> Dataset:
    """CIFAR-10 from `root` (or root/cifar-10-batches-py): data_batch_1..5, test_batch, batches.meta names."""
    folder = _resolve(Path(root), CIFAR10_FOLDER, CIFAR10_TRAIN[0])
    train_paths = [folder / n for n in CIFAR10_TRAIN]
    missing = [p.name for p in train_paths if not p.is_file()]
    if missing:
        raise DatasetError(f"CIFAR-10 folder {folder}: missing {', '.join(missing)}")
    train = _load_split(train_paths, "labels", 10)
    test = _load_split([folder / "test_batch"], "labels", 10) if (folder / "test_batch").is_file() else None
    names = _names(folder / "batches.meta", "label_names", 10)
    return Dataset(spec=spec, kind="cifar10", source=str(folder), class_names=names, train=train, test=test)


def load_cifar100(root: str | Path, spec: str) -> Dataset:
    """CIFAR-100 (fine labels) from `root` (or root/cifar-100-python): train, test, meta names."""
    folder = _resolve(Path(root), CIFAR100_FOLDER, "train")
    if not (folder / "train").is_file():
        raise DatasetError(f"CIFAR-100 folder {folder}: missing train")
    train = _load_split([folder / "train"], "fine_labels", 100)
    test = _load_split([folder / "test"], "fine_labels", 100) if (folder / "test").is_file() else None
    names = _names(folder / "meta", "fine_label_names", 100)
    return Dataset(spec=spec, kind="cifar100", source=str(folder), class_names=names, train=train, test=test)

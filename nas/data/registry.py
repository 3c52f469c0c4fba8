"""Dataset spec strings (`KIND` or `KIND:PATH`) and the registry of kinds that resolve them; nothing is downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from search_space.registry import Registry

from nas.data.cifar import load_cifar10, load_cifar100
from nas.data.dataset import Dataset
from nas.data.errors import DatasetError
from nas.data.folder import load_image_folder
from nas.data.idx import FASHION_MNIST_CLASSES, load_idx_folder

#: Where Debian's package dataset-fashion-mnist installs the four IDX .gz files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
DEFAULT_DATASET = "fashion-mnist"
MNIST_CLASSES = tuple(str(i) for i in range(10))

Loader = Callable[[Path, str, "int | None"], Dataset]


@dataclass(frozen=True)
class DatasetKind:
    """One `KIND` of spec: its loader (folder, canonical spec, image_size -> Dataset) and default folder if any."""

    name: str
    loader: Loader
    description: str
    default_path: str | None = None
    resizable: bool = False  # whether image_size applies (folders of arbitrary images)


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed spec: kind name and folder (None means the kind's default folder)."""

    kind: str
    path: str | None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def _no_size(load: Callable[[Path, str], Dataset]) -> Loader:
    return lambda root, spec, image_size: load(root, spec)


def default_kinds() -> Registry[DatasetKind]:
    """A fresh registry with the built-in kinds: fashion-mnist, mnist, idx, folder, cifar10, cifar100."""
    reg: Registry[DatasetKind] = Registry("dataset kind")
    reg.add("fashion-mnist", DatasetKind(
        "fashion-mnist",
        _no_size(lambda root, spec: load_idx_folder(root, spec, "fashion-mnist", FASHION_MNIST_CLASSES)),
        "Fashion-MNIST IDX files (default: Debian package dataset-fashion-mnist)", FASHION_MNIST_DIR))
    reg.add("mnist", DatasetKind(
        "mnist", _no_size(lambda root, spec: load_idx_folder(root, spec, "mnist", MNIST_CLASSES)),
        "MNIST IDX files in a folder"))
    reg.add("idx", DatasetKind(
        "idx", _no_size(lambda root, spec: load_idx_folder(root, spec, "idx")),
        "any train-/t10k- IDX image+label files; classes 0..max label"))
    reg.add("folder", DatasetKind(
        "folder", lambda root, spec, size: load_image_folder(root, spec, size),
        "ImageFolder layout: PATH/<class>/*.png, or PATH/train/<class> + PATH/test/<class>", resizable=True))
    reg.add("cifar10", DatasetKind("cifar10", _no_size(load_cifar10), "CIFAR-10 python batches"))
    reg.add("cifar100", DatasetKind("cifar100", _no_size(load_cifar100), "CIFAR-100 python batches (fine labels)"))
    return reg


def parse_spec(spec: str) -> DatasetSpec:
    """Split `KIND[:PATH]` (kind lower-cased, '_' read as '-'); raises DatasetError on an empty kind or path."""
    text = spec.strip()
    kind, sep, path = text.partition(":")
    kind = kind.strip().lower().replace("_", "-")
    if not kind:
        raise DatasetError(f"bad dataset spec {spec!r}: expected KIND or KIND:PATH (e.g. fashion-mnist, folder:/data)")
    if sep and not path.strip():
        raise DatasetError(f"bad dataset spec {spec!r}: empty path after '{kind}:'")
    return DatasetSpec(kind, path.strip() if sep else None)


def load_dataset(
    spec: str = DEFAULT_DATASET, image_size: int | None = None, kinds: Registry[DatasetKind] | None = None
) -> Dataset:
    """Resolve a dataset spec to an in-memory Dataset; unknown kinds and missing folders raise DatasetError.

    `image_size` (pixels, square) applies only to kinds of arbitrary images (`folder`).
    """
    parsed = parse_spec(spec)
    registry = kinds if kinds is not None else default_kinds()
    if parsed.kind not in registry:
        known = ", ".join(registry.names())
        raise DatasetError(f"unknown dataset kind {parsed.kind!r} in {spec!r} (known: {known}; form KIND:PATH)")
    kind = registry.get(parsed.kind)
    if image_size is not None and not kind.resizable:
        raise DatasetError(f"image size applies only to folder datasets, not {kind.name}")
    raw = parsed.path if parsed.path is not None else kind.default_path
    if raw is None:
        raise DatasetError(f"dataset kind {kind.name} needs a folder: {kind.name}:PATH")
    root = Path(raw).expanduser().resolve()
    if not root.is_dir():
        hint = ""
        if parsed.path is None and kind.name == "fashion-mnist":
            hint = " (install the Debian package dataset-fashion-mnist, or give fashion-mnist:PATH)"
        raise DatasetError(f"dataset folder {root} for {kind.name} does not exist{hint}")
    return kind.loader(root, f"{kind.name}:{root}", image_size)

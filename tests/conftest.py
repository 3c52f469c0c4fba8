"""Fixtures shared across the test tree: a small learnable dataset in IDX files, an isolated NAS_HOME."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.infra.fixtures import postgres_server  # noqa: F401  (a real PostgreSQL server, for storage tests)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Gzipped IDX file (the Fashion-MNIST format) of a uint8 array."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def learnable_images(n: int, classes: int, rng: np.random.Generator, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images whose class is a bright square at a class-specific place (a network learns it fast)."""
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, side, side)).astype(np.uint8)
    step = side // 4
    for i, c in enumerate(labels):
        r, col = (c // 4) * step + 2, (c % 4) * step + 2
        images[i, r:r + step - 2, col:col + step - 2] = 230
    return images, labels.astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_idx_dir(tmp_path_factory) -> Path:
    """A Fashion-MNIST-shaped folder (train 600, test 200, 28x28, 10 classes) for `--dataset fashion-mnist:DIR`."""
    root = tmp_path_factory.mktemp("tiny-fashion")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 600), ("t10k", 200)):
        images, labels = learnable_images(n, 10, rng)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


@pytest.fixture
def nas_home(tmp_path, monkeypatch) -> Path:
    """An empty, private NAS_HOME (profiles, timings) for the test."""
    home = tmp_path / "nas-home"
    monkeypatch.setenv("NAS_HOME", str(home))
    return home

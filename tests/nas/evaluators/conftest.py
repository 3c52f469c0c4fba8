"""A small learnable in-memory dataset and tiny networks for the evaluator tests (no files, no downloads)."""

from __future__ import annotations

import pytest
import torch

from nas.data.dataset import Dataset
from nas.data.proxy import ProxyData, prepare_proxy
from nas.data.split import TensorSplit
from search_space.spec import ArchSpec, uniform_stages

CLASSES = 4


def _split(n: int, side: int, generator: torch.Generator) -> TensorSplit:
    """Gray images of `side` px: class c has a bright horizontal bar in band c of the image, plus noise."""
    labels = torch.arange(n) % CLASSES
    images = torch.randint(0, 90, (n, 1, side, side), dtype=torch.uint8, generator=generator)
    band = side // CLASSES
    for c in range(CLASSES):
        rows = slice(c * band, c * band + band // 2 + 1)
        images[labels == c, :, rows, :] = 230
    return TensorSplit(images, labels)


def make_dataset(n_train: int = 448, n_test: int = 40, side: int = 28) -> Dataset:
    g = torch.Generator().manual_seed(0)
    return Dataset(spec="bars:mem", kind="bars", source="memory", class_names=tuple(f"bar{c}" for c in range(CLASSES)),
                   train=_split(n_train, side, g), test=_split(n_test, side, g))


@pytest.fixture(scope="session")
def tiny_data() -> ProxyData:
    """256 training / 128 validation images at a 16 px proxy, 3 channels, 4 classes."""
    return prepare_proxy(make_dataset(), resolution=16, channels=3, val_fraction=0.3, max_train=256, max_val=128,
                         seed=0)


def tiny_spec(widths: tuple[int, int, int] = (16, 32, 64), head_width: int = 64, **kw) -> ArchSpec:
    """A small ShuffleNet-v2-style deployment spec (224 px, 1000 classes: the proxy changes those)."""
    return ArchSpec(stages=uniform_stages(widths, (1, 2, 1)), stem=(8,), head_width=head_width, **kw)


@pytest.fixture
def spec() -> ArchSpec:
    return tiny_spec()

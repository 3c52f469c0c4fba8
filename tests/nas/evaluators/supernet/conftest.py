"""A tiny search space and a supernet trained over it for one epoch on the evaluator tests' tiny data."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.data.proxy import ProxyData
from nas.evaluators.base import torch_threads
from nas.evaluators.supernet import SupernetRun, train_supernet
from search_space.space import SearchSpace, StageRange

#: The tests' tiny deployment spec (tests/nas/evaluators/conftest.py: tiny_spec) is a member of this space.
TINY_SPACE = SearchSpace(stages=(StageRange(8, 16, 1, 2), StageRange(16, 32, 1, 2), StageRange(32, 64, 1, 2)),
                         head_widths=(32, 64), stem=(8,), residual=(False, True), name="tiny")


def tiny_run(**kw) -> SupernetRun:
    return SupernetRun(**{"dataset": "bars:mem", "batch_size": 32, "lr": 0.05, **kw})


def train_tiny(data: ProxyData, out: Path, epochs: int = 1, **kw) -> Path:
    train_supernet(tiny_run(**kw), epochs, data, out, space=TINY_SPACE, threads=1)
    return out


def interrupt_in_epoch(epoch: int, per_epoch: int):
    """A progress callback that interrupts training (KeyboardInterrupt) a few steps into `epoch` (1-based)."""
    def progress(done: int, total: int, label: str) -> None:
        if done > (epoch - 1) * per_epoch + 2:
            raise KeyboardInterrupt
    return progress


@pytest.fixture(scope="session")
def supernet_file(tiny_data, tmp_path_factory) -> Path:
    """A supernet over TINY_SPACE trained one epoch (8 steps) on tiny_data."""
    return train_tiny(tiny_data, tmp_path_factory.mktemp("supernet") / "tiny.pt")


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the tiny networks gain nothing from more, and the test machine's cores are shared."""
    with torch_threads(1):
        yield

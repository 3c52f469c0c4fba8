"""The side-by-side timing protocol (rounds, each in its own shuffled order; medians), on a fake backend."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from experiments import timing
from experiments.target import resolve_target
from experiments.timing import RAW_COLUMNS, Item, measure_items, median_latency, predict_items
from latency_models.stats import summarize
from search_space.microbench import MicroSpec


class FakeBackend:
    """Latency = 1 ms per MFLOP, plus 0.5 ms in round 2; records the order of the visits."""

    def __init__(self):
        self.visits: list[str] = []
        self.prepared: list[str] = []
        self.round = 0

    @contextmanager
    def _prep(self, label):
        self.prepared.append(label)
        yield type("P", (), {"label": label})()

    def prepare(self, target, shape, platform, label=""):
        self.shape = shape
        return self._prep(label)

    def time(self, prepared, warmup, repeats, threshold=0.05, keep_samples=False):
        self.visits.append(prepared.label)
        ms = {"x1 a": 1.0, "x1 b": 2.0, "x1 c": 4.0}[prepared.label]
        if len(self.visits) > 3:
            ms += 0.5
        return summarize([ms] * repeats, threshold)


def items() -> list[Item]:
    spec = MicroSpec("g2", 8, resolution=4)
    return [Item("T", "x1", c, spec, i) for i, c in enumerate("abc")]


def test_rounds_visit_every_item_in_shuffled_orders_and_prepare_once(monkeypatch, private_home):
    fake = FakeBackend()
    monkeypatch.setattr(timing, "backend_for", lambda platform: fake)
    raw = measure_items("t", items(), resolve_target("cpu"), rounds=4, repeats=3, warmup=0, seed=1)
    assert list(raw.columns) == list(RAW_COLUMNS)
    assert len(raw) == 12 and sorted(fake.prepared) == ["x1 a", "x1 b", "x1 c"]
    orders = [tuple(fake.visits[i:i + 3]) for i in range(0, 12, 3)]
    assert all(sorted(o) == ["x1 a", "x1 b", "x1 c"] for o in orders)
    assert len(set(orders)) > 1  # the order changes between rounds
    assert fake.shape == (1, 8, 4, 4)  # platform batch, the spec's channels and resolution
    med = median_latency(raw).set_index("config")
    assert med.loc["a", "rounds"] == 4
    assert med.loc["a", "latency_ms"] == pytest.approx(1.5)  # median of 1, 1.5, 1.5, 1.5
    assert med.loc["c", "round_spread"] == pytest.approx(4.5 / 4 - 1)


def test_predicted_rows_have_no_per_network_constant_for_block_stacks(private_home):
    target = resolve_target("arm")
    stack = Item("T", "g", "stack", MicroSpec("g2", 64), 0)
    whole = Item("T", "g", "whole", MicroSpec("g2", 64), 1, whole=True)
    raw = predict_items("t", [stack, whole], target, lambda i: 1)
    diff = raw.loc[1, "latency_ms"] - raw.loc[0, "latency_ms"]
    assert diff == pytest.approx(target.profile.predictor().intercept_ms)
    assert (raw["round"] == 0).all() and np.isnan(raw["cv"]).all()
    assert set(raw["source"]) == {"predicted (profile calibrated from published measurements)"}

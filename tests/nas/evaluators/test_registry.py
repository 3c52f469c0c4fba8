"""The evaluator registry, and a contract every registered evaluator meets."""

from __future__ import annotations

import json
import math

import pytest

from nas.evaluators import EvalResult, Evaluator, TrainingConfig
from nas.evaluators.registry import default_evaluators, evaluator_names, make_evaluator
from search_space.registry import DuplicateNameError, UnknownNameError

QUICK = {"train": {"max_steps": 2, "eval_every": 1, "bn_recalibration": 32}, "synflow": {}, "naswot": {"batch_size": 8}}


def test_lists_the_three_evaluators():
    assert evaluator_names() == ["train", "synflow", "naswot"]


def test_duplicate_names_raise():
    reg = default_evaluators()
    with pytest.raises(DuplicateNameError):
        reg.add("train", reg.get("synflow"))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="train, synflow, naswot"):
        make_evaluator("random")


def test_config_and_overrides():
    ev = make_evaluator("train", TrainingConfig(epochs=3), lr=0.2)
    assert (ev.config.epochs, ev.config.lr) == (3, 0.2)


@pytest.mark.parametrize("name", evaluator_names())
def test_contract(name, spec, tiny_data):
    ev = make_evaluator(name, **QUICK[name])
    assert isinstance(ev, Evaluator) and ev.name == name
    reports = []
    r = ev.evaluate(spec, tiny_data, seed=0, report=lambda s, v: reports.append(v) or False)
    assert isinstance(r, EvalResult) and (r.evaluator, r.kind, r.metric) == (ev.name, ev.kind, ev.metric)
    assert math.isfinite(r.value) and r.seed == 0
    assert (r.accuracy is not None) == (ev.kind == "trained")
    json.dumps(r.to_dict()), json.dumps(ev.describe())
    assert all(math.isfinite(v) for v in reports)

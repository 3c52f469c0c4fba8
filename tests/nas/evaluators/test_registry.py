"""The evaluator registry, and a contract every registered evaluator meets."""

from __future__ import annotations

import pytest

from nas.evaluators import TrainingConfig
from nas.evaluators.registry import default_evaluators, evaluator_names, make_evaluator
from search_space.registry import DuplicateNameError, UnknownNameError
from tests.nas.evaluators.contract import check_contract

QUICK = {"train": {"max_steps": 2, "eval_every": 1, "bn_recalibration": 32}, "synflow": {}, "naswot": {"batch_size": 8}}


def test_lists_the_evaluators():
    assert evaluator_names() == ["train", "synflow", "naswot", "supernet"]


def test_duplicate_names_raise():
    reg = default_evaluators()
    with pytest.raises(DuplicateNameError):
        reg.add("train", reg.get("synflow"))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="train, synflow, naswot, supernet"):
        make_evaluator("random")


def test_config_and_overrides():
    ev = make_evaluator("train", TrainingConfig(epochs=3), lr=0.2)
    assert (ev.config.epochs, ev.config.lr) == (3, 0.2)


#: Evaluators that need a fixture of their own: each runs check_contract in its own tests.
OWN_FIXTURE = {"supernet": "needs a trained supernet file: tests/nas/evaluators/supernet/test_evaluator.py::test_contract"}


@pytest.mark.parametrize("name", evaluator_names())
def test_contract(name, spec, tiny_data):
    if name in OWN_FIXTURE:
        pytest.skip(OWN_FIXTURE[name])
    check_contract(make_evaluator(name, **QUICK[name]), name, spec, tiny_data)

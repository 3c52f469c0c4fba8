"""EvalResult records, the Pruned / EvaluationError signals and the thread helper."""

from __future__ import annotations

import json

import pytest
import torch

from nas.evaluators.base import EvalResult, EvaluationError, Pruned, check_finite, torch_threads


def _result(**kw) -> EvalResult:
    base = dict(evaluator="train", kind="trained", metric="val_accuracy", accuracy=0.5, score=0.5, seed=1, steps=10,
                epochs=1.0, train_seconds=2.0, history=[(5, 0.25), (10, 0.5)], params_m=0.1, proxy_arch_id="abc")
    base.update(kw)
    return EvalResult(**base)


def test_result_round_trips_through_json():
    r = _result(train_loss=1.25)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["history"] == [[5, 0.25], [10, 0.5]]
    assert EvalResult.from_dict(d) == r
    assert r.history == ((5, 0.25), (10, 0.5))


def test_result_value_is_accuracy_or_score():
    assert _result().value == 0.5
    zc = _result(evaluator="synflow", kind="zero-cost proxy", metric="synflow score", accuracy=None, score=123.0)
    assert zc.value == 123.0


@pytest.mark.parametrize("kw", [{"accuracy": 1.5}, {"accuracy": -0.1}, {"kind": ""}])
def test_result_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        _result(**kw)


def test_signals_carry_where_they_happened():
    p = Pruned(3, 0.25, ((3, 0.25),))
    assert (p.step, p.value, p.history) == (3, 0.25, ((3, 0.25),))
    e = EvaluationError("loss is nan at step 4", step=4)
    assert isinstance(e, RuntimeError) and e.step == 4
    with pytest.raises(EvaluationError, match="score is inf at step 2"):
        check_finite(float("inf"), "score", 2)
    assert check_finite(1.0, "x") == 1.0


def test_torch_threads_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(KeyError), torch_threads(1):
        raise KeyError("boom")
    assert torch.get_num_threads() == before

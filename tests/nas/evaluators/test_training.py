"""Short-training evaluator: reports, pruning, determinism, divergence, config validation."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from nas.evaluators.base import ConfigError, EvaluationError, Pruned
from nas.evaluators.proxy_net import build_proxy_model
from nas.evaluators.training import TrainingConfig, TrainingEvaluator, lr_at, recalibrate_bn
from tests.nas.evaluators.conftest import CLASSES

FAST = dict(batch_size=32, lr=0.05, eval_every=3, bn_recalibration=64, eval_batch_size=64)


def _evaluator(**kw) -> TrainingEvaluator:
    return TrainingEvaluator(**{**FAST, **kw})


def test_trains_reports_and_returns_an_accuracy(spec, tiny_data):
    reports: list[tuple[int, float]] = []
    r = _evaluator().evaluate(spec, tiny_data, seed=0, report=lambda s, v: reports.append((s, v)) or False)
    assert 0.0 <= r.accuracy <= 1.0 and r.score == r.accuracy
    assert (r.evaluator, r.kind, r.metric) == ("train", "trained", "val_accuracy")
    assert r.steps == 8 and r.epochs == 1.0  # 256 examples / 32
    assert reports == [(3, r.history[0][1]), (6, r.history[1][1])]  # the final validation is the result, not a report
    assert [s for s, _ in r.history] == [3, 6, 8] and r.history[-1][1] == r.accuracy
    assert r.params_m > 0 and r.train_seconds > 0 and math.isfinite(r.train_loss)
    assert r.proxy_arch_id != spec.arch_id


def test_learns_the_easy_task(spec, tiny_data):
    r = _evaluator().evaluate(spec, tiny_data, seed=0)
    assert r.accuracy > 1.5 / CLASSES  # chance is 1 / CLASSES


def test_same_seed_same_result(spec, tiny_data):
    ev = _evaluator(threads=1)
    a, b = ev.evaluate(spec, tiny_data, seed=7), ev.evaluate(spec, tiny_data, seed=7)
    assert a.history == b.history and a.train_loss == b.train_loss


def test_train_starts_from_the_callers_weights(spec, tiny_data):
    ev = _evaluator(threads=1)
    built = build_proxy_model(spec, tiny_data.task, seed=7)
    fresh = ev.evaluate(spec, tiny_data, seed=7)
    assert ev.train(copy.deepcopy(built), tiny_data, seed=7).history == fresh.history  # evaluate = build + train
    other = build_proxy_model(spec, tiny_data.task, seed=8)
    before = copy.deepcopy(other.state_dict())
    started = ev.train(other, tiny_data, seed=7)
    assert started.history != fresh.history  # the given weights are the start, not re-initialised
    assert any(not torch.equal(before[k], v) for k, v in other.state_dict().items())  # trained in place


def test_pruning_stops_at_the_first_report(spec, tiny_data):
    calls = []

    def prune(step: int, value: float) -> bool:
        calls.append(step)
        return True

    with pytest.raises(Pruned) as info:
        _evaluator().evaluate(spec, tiny_data, seed=0, report=prune)
    assert calls == [3] and info.value.step == 3 and info.value.history == ((3, info.value.value),)


def test_divergence_raises_evaluation_error_naming_the_step(spec, tiny_data):
    with pytest.raises(EvaluationError, match=r"training loss is (nan|inf) at step \d+") as info:
        _evaluator(lr=1e30, warmup_fraction=0.0).evaluate(spec, tiny_data, seed=0)
    assert isinstance(info.value, RuntimeError) and info.value.step >= 1


def test_max_steps_and_per_epoch_validation(spec, tiny_data):
    r = _evaluator(epochs=2, eval_every=None, max_steps=12).evaluate(spec, tiny_data, seed=0)
    assert r.steps == 12 and r.epochs == 1.5
    assert [s for s, _ in r.history] == [8, 12]


def test_threads_restored_and_config_recorded(spec, tiny_data):
    before = torch.get_num_threads()
    ev = _evaluator(threads=1, max_steps=2)
    ev.evaluate(spec, tiny_data, seed=0)
    assert torch.get_num_threads() == before
    assert ev.describe() == {"name": "train", "kind": "trained", "metric": "val_accuracy",
                             "config": {**TrainingConfig().__dict__, **FAST, "threads": 1, "max_steps": 2}}


def test_batch_larger_than_the_training_split(spec, tiny_data):
    with pytest.raises(ConfigError, match="batch_size"):
        _evaluator(batch_size=1024).evaluate(spec, tiny_data, seed=0)


@pytest.mark.parametrize("kw, field", [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"),
                                       ({"optimizer": "lion"}, "optimizer"), ({"batch_size": 1}, "batch_size"),
                                       ({"eval_every": 0}, "eval_every"),
                                       ({"warmup_fraction": 1.0}, "warmup_fraction"), ({"threads": 0}, "threads"),
                                       ({"bogus": 1}, "bogus")])
def test_bad_config_names_the_field(kw, field):
    with pytest.raises(ConfigError, match=f"^{field}"):
        TrainingEvaluator(**kw)


def test_adamw_runs(spec, tiny_data):
    r = _evaluator(optimizer="adamw", lr=1e-3, weight_decay=0.05, max_steps=3).evaluate(spec, tiny_data, seed=0)
    assert r.steps == 3


def test_schedule_warms_up_then_decays_to_zero():
    cfg = TrainingConfig(lr=1.0, warmup_fraction=0.1)
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0) and lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] < 0.01


def test_recalibration_sets_the_batch_statistics():
    bn = torch.nn.BatchNorm2d(2)
    x = torch.randn(16, 2, 4, 4) * 3 + 5
    recalibrate_bn(bn, x, batch_size=16)
    torch.testing.assert_close(bn.running_mean, x.mean(dim=(0, 2, 3)))
    assert bn.momentum == 0.1

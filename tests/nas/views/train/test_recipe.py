"""The final-training recipe: defaults resolved per dataset and input size, option errors named."""

from __future__ import annotations

import pytest

from nas.evaluators.training import lr_at
from nas.views.train import Recipe, TrainError, augment_for


def test_defaults_resolve_by_optimizer_batch_and_dataset():
    r = Recipe(epochs=10).resolved("fashion-mnist:/x", 32)
    assert (r.lr, r.weight_decay, r.augment, r.crop_padding) == (0.1, 5e-4, "crop+flip", 4)
    assert r.flip and r.padding == 4
    a = Recipe(epochs=10, optimizer="adamw", batch_size=64).resolved("cifar10:/x", 64)
    assert a.lr == pytest.approx(1e-3) and a.weight_decay == 0.05 and a.crop_padding == 8
    assert Recipe(epochs=1).resolved("mnist:/x", 32).augment == "crop"  # digits are not mirrored
    assert augment_for("idx:/x") == "crop" and augment_for("folder:/x") == "crop+flip"
    assert Recipe(epochs=1, augment="none").resolved("fashion-mnist", 32).padding == 0
    assert Recipe(epochs=1, lr=0.3).resolved("fashion-mnist", 32).lr == 0.3


def test_schedule_is_the_evaluators_warmup_then_cosine():
    cfg = Recipe(epochs=4).resolved("fashion-mnist", 32).training_config()
    total = 100
    lrs = [lr_at(s, total, cfg) for s in range(total)]
    assert lrs[0] < lrs[4] == pytest.approx(0.1)  # 5 warm-up steps
    assert all(b <= a for a, b in zip(lrs[5:], lrs[6:])) and lrs[-1] < 1e-3
    assert cfg.label_smoothing == 0.1 and cfg.nesterov and cfg.momentum == 0.9


@pytest.mark.parametrize("kwargs, option", [
    ({"epochs": 0}, "--epochs"), ({"epochs": 1, "batch_size": 1}, "--batch-size"),
    ({"epochs": 1, "lr": -1.0}, "--lr"), ({"epochs": 1, "optimizer": "lion"}, "--optimizer"),
    ({"epochs": 1, "augment": "mixup"}, "--augment"), ({"epochs": 1, "weight_decay": -1.0}, "--weight-decay"),
])
def test_bad_options_name_the_option(kwargs, option):
    with pytest.raises(TrainError, match=option):
        Recipe(**kwargs)


def test_round_trip():
    r = Recipe(epochs=3, optimizer="adamw").resolved("fashion-mnist", 32)
    assert Recipe.from_dict(r.to_dict()) == r

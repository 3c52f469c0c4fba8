"""Distillation in supernet training: the loss, the teacher's logits, training and resuming with a teacher, and the
teachers refused (another split, a changed file, a run's teacher left out)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nas.evaluators.proxy_net import build_proxy_model
from nas.evaluators.supernet import (SupernetTrainError, Teacher, distill_loss, read_supernet, teacher_logits,
                                     train_supernet)
from tests.nas.evaluators.conftest import tiny_spec
from tests.nas.evaluators.supernet.conftest import TINY_SPACE, interrupt_in_epoch, tiny_run


def make_teacher(task, tmp_path: Path, seed: int = 1) -> Teacher:
    """An (untrained, seeded) proxy network of the tiny spec on `task` as a teacher."""
    spec = tiny_spec()
    net = build_proxy_model(spec, task, seed=seed)
    return Teacher(path=tmp_path / "teacher" / "final.pt", sha256=f"{seed:064x}", spec=spec,
                   state_dict={k: v.clone() for k, v in net.state_dict().items()}, task=task)


def with_teacher(teacher: Teacher, weight: float = 0.5, **kw):
    return tiny_run(teacher=str(teacher.path), teacher_sha256=teacher.sha256, distill_weight=weight, **kw)


def test_the_loss_mixes_labels_and_soft_targets():
    torch.manual_seed(0)
    logits, soft, labels = torch.randn(8, 4), torch.randn(8, 4), torch.randint(0, 4, (8,))
    ce = F.cross_entropy(logits, labels, label_smoothing=0.1)
    assert torch.equal(distill_loss(logits, labels, None, 0.5, 0.1), ce)
    assert torch.equal(distill_loss(logits, labels, soft, 0.0, 0.1), ce)
    # a path that predicts what the teacher does pays only its share of the label loss
    assert torch.allclose(distill_loss(logits, labels, logits, 0.5, 0.1), 0.5 * ce)
    kl = (F.softmax(soft, 1) * (F.log_softmax(soft, 1) - F.log_softmax(logits, 1))).sum(1).mean()
    assert torch.allclose(distill_loss(logits, labels, soft, 1.0, 0.1), kl)
    assert torch.allclose(distill_loss(logits, labels, soft, 0.25, 0.1), 0.75 * ce + 0.25 * kl)


def test_teacher_logits_are_the_networks_outputs_image_by_image(tiny_data, tmp_path):
    teacher = make_teacher(tiny_data.task, tmp_path)
    logits = teacher_logits(teacher, tiny_data.train)
    assert logits.shape == (len(tiny_data.train), 4) and logits.dtype == torch.float32
    net = build_proxy_model(teacher.spec, teacher.task, seed=0)
    net.load_state_dict(teacher.state_dict)
    with torch.no_grad():
        x, _ = next(tiny_data.train.batches(16, proxy=teacher.task))
        assert torch.allclose(net.eval()(x), logits[:16], atol=1e-5)


def test_a_teacher_changes_the_training_and_is_recorded(supernet_file, tiny_data, tmp_path):
    teacher = make_teacher(tiny_data.task, tmp_path)
    out = tmp_path / "kd.pt"
    train_supernet(with_teacher(teacher), 1, tiny_data, out, space=TINY_SPACE, threads=1, teacher=teacher)
    kd, plain = read_supernet(out), read_supernet(supernet_file)
    assert kd.run["teacher"] == str(teacher.path) and kd.run["teacher_sha256"] == teacher.sha256
    assert kd.run["distill_weight"] == 0.5 and plain.run.get("teacher") is None
    # the same seed, batches and paths: only the loss differs
    assert [h["paths"] for h in kd.history] == [h["paths"] for h in plain.history]
    assert any(not torch.equal(v, kd.raw["state_dict"][k]) for k, v in plain.raw["state_dict"].items())


def test_resume_with_a_teacher_continues_exactly(tiny_data, tmp_path):
    teacher = make_teacher(tiny_data.task, tmp_path)
    run = with_teacher(teacher)
    whole, cut = tmp_path / "whole.pt", tmp_path / "cut.pt"
    train_supernet(run, 2, tiny_data, whole, space=TINY_SPACE, threads=1, teacher=teacher)
    with pytest.raises(KeyboardInterrupt):
        train_supernet(run, 2, tiny_data, cut, space=TINY_SPACE, threads=1, teacher=teacher,
                       progress=interrupt_in_epoch(2, 8))
    train_supernet(run, 2, tiny_data, cut, resume=read_supernet(cut, mmap=False), threads=1, teacher=teacher)
    a, b = read_supernet(whole), read_supernet(cut)
    for key, value in a.raw["state_dict"].items():
        assert torch.equal(value, b.raw["state_dict"][key]), key


def test_teachers_that_cannot_teach_are_refused(tiny_data, tmp_path):
    teacher = make_teacher(tiny_data.task, tmp_path)
    run = with_teacher(teacher)
    other_split = replace(teacher, task=replace(tiny_data.task, seed=5))
    cases = [(run, None, "give its teacher network"),
             (tiny_run(), teacher, "not the file the run distils from"),
             (run, replace(teacher, sha256="f" * 64), "not the file the run distils from"),
             (run, other_split, "may have trained on the search's validation images"),
             (run, replace(teacher, task=replace(tiny_data.task, resolution=32)), "at 32 px")]
    for r, t, message in cases:
        with pytest.raises(SupernetTrainError, match=message):
            train_supernet(r, 1, tiny_data, tmp_path / "x.pt", space=TINY_SPACE, threads=1, teacher=t)
    assert not (tmp_path / "x.pt").exists()


def test_distillation_options_are_checked():
    with pytest.raises(SupernetTrainError, match="--distill-weight: needs --teacher"):
        tiny_run(distill_weight=0.5)
    with pytest.raises(SupernetTrainError, match="--distill-weight: must be in"):
        tiny_run(teacher="t.pt", teacher_sha256="0" * 64, distill_weight=1.5)
    with pytest.raises(SupernetTrainError, match="--teacher: a teacher needs its file's sha256"):
        tiny_run(teacher="t.pt")

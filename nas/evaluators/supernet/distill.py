"""Knowledge distillation for supernet training: a stand-alone network's soft targets teach every sampled path.

Once-for-All trains its sub-networks with a pretrained teacher's predictions as well as the labels. Here the teacher
is a network trained by `nas train` on the same proxy task and split as the supernet (so it never saw a validation
image the search scores on); the supernet trains without augmentation, so the teacher's logits for each training
image are computed once before training (`teacher_logits`) and a step costs what it cost without a teacher.
A step's loss (`distill_loss`) is (1 - w) x cross-entropy with the labels (label smoothing as configured) + w x
KL(teacher || path) at temperature 1, for the run's distillation weight w.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from search_space.spec import NetSpec

from nas.data.proxy import ProxyTask
from nas.data.split import TensorSplit
from nas.evaluators.proxy_net import build_proxy_model

_BATCH = 500  # images per teacher forward pass
DEFAULT_DISTILL_WEIGHT = 0.5  # with a teacher; not tuned (Once-for-All weights label and teacher losses alike)


@dataclass(frozen=True, eq=False)
class Teacher:
    """A trained stand-alone proxy network: its file, the file's sha256, spec, training-form weights, proxy task."""

    path: Path
    sha256: str
    spec: NetSpec
    state_dict: dict[str, torch.Tensor]
    task: ProxyTask

    def problem_with(self, task: ProxyTask) -> str | None:
        """Why this teacher cannot teach a supernet trained on `task` (None: it can): another proxy task, or another
        split (whose validation images the teacher may have trained on)."""
        own = self.task
        if (own.dataset, own.resolution, own.channels, own.num_classes) != \
                (task.dataset, task.resolution, task.channels, task.num_classes):
            return (f"it was trained on {own.dataset} at {own.resolution} px ({own.channels} channels, "
                    f"{own.num_classes} classes), the supernet trains on {task.dataset} at {task.resolution} px "
                    f"({task.channels} channels, {task.num_classes} classes)")
        if (own.seed, own.val_fraction) != (task.seed, task.val_fraction):
            return (f"it was trained with split seed {own.seed} (validation fraction {own.val_fraction:g}), the "
                    f"supernet with seed {task.seed} ({task.val_fraction:g}): it may have trained on the search's "
                    f"validation images")
        return None


def teacher_logits(teacher: Teacher, split: TensorSplit) -> torch.Tensor:
    """The teacher's logits (float32, one row per image of `split`, in its order), BatchNorm in inference."""
    net = build_proxy_model(teacher.spec, teacher.task, seed=0)
    net.load_state_dict(teacher.state_dict, strict=True)
    net.eval()
    with torch.inference_mode():
        out = [net(x.contiguous(memory_format=torch.channels_last))
               for x, _ in split.batches(_BATCH, proxy=teacher.task)]
    return torch.cat(out).float() if out else torch.zeros(0, teacher.task.num_classes)


def distill_loss(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor | None, weight: float,
                 label_smoothing: float) -> torch.Tensor:
    """(1 - weight) x CE(logits, labels) + weight x KL(softmax(soft) || softmax(logits)); CE alone without `soft`."""
    ce = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    if soft is None or weight == 0.0:
        return ce
    kl = F.kl_div(F.log_softmax(logits, 1), F.log_softmax(soft, 1), log_target=True, reduction="batchmean")
    return (1.0 - weight) * ce + weight * kl


__all__ = ["DEFAULT_DISTILL_WEIGHT", "Teacher", "distill_loss", "teacher_logits"]

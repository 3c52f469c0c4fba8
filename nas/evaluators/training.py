"""Short-training evaluator: train the proxy network briefly, report validation top-1 as it goes, return the last one.

Default budget, chosen for a ~15-25 trial search in 6-7 minutes on 2 CPU cores (two 1-thread workers): one epoch
over the `RECOMMENDED_PROXY` subset of Fashion-MNIST (4000 training / 1000 validation images at 32 px: 125 steps of
batch 32), SGD with Nesterov momentum at lr 0.05, 5 % linear warm-up then cosine decay to zero, label smoothing 0.1,
validation (after BatchNorm recalibration) every 50 steps and at the end; the intermediate values go to `report`.

Measured on this project's 2-core CPU machine, 1 thread (benchmarks/evaluator_budget.py):

    budget                         network   proxy MFLOPs  seconds   val top-1
    default (4000 ex, 32 px)       v2 0.5x        10.9      8-9      0.72-0.73   (two seeds)
                                   v2 1x          45.0     22-25     0.75        (two seeds)
                                   random members 17-80    15-41     0.71-0.76
    1 epoch of 6000 ex, 32 px      v2 0.5x        10.9      13.9     0.773
                                   v2 1x          45.0      32.4     0.791
    1 epoch of 6000 ex, 64 px      v2 0.5x        10.9      12.5     0.768
                                   v2 1x          45.0      34.1     0.774

Caveat, measured the same way: at this budget, architectures of the default space land within ~5 points of each other
and two training seeds change an accuracy by up to ~3 points, so the ranking is only partly stable across seeds
(Kendall tau 0.48 between two seeds over 7 networks). Use more data, epochs or seeds when the ranking matters more
than the search time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from search_space.spec import ArchSpec

from nas.data.proxy import ProxyData, ProxyTask
from nas.data.split import TensorSplit
from nas.evaluators.base import (ConfigError, EvalResult, EvaluationError, Evaluator, Pruned, Report, SearchSettings,
                                 check_known_options, params_m, torch_threads)
from nas.evaluators.proxy_net import build_proxy_model

OPTIMIZERS = ("sgd", "adamw")
#: prepare_proxy arguments of the default proxy budget (resolution px, examples per split).
RECOMMENDED_PROXY = {"resolution": 32, "max_train": 4000, "max_val": 1000}
_SHUFFLE_STREAM = 1  # numpy stream [seed, 1] orders the training batches; the weights are seeded by `seed` itself
_RECAL_STREAM = 3  # numpy stream [seed, 3] draws the BatchNorm recalibration images


@dataclass(frozen=True)
class TrainingConfig:
    """How a trial trains: budget, optimiser, schedule, validation cadence and CPU threads.

    `epochs` passes over the proxy training split, capped at `max_steps` optimiser steps when set. `lr` is the peak
    learning rate reached after `warmup_fraction` of the steps (linear ramp), then cosine-decayed to 0.
    `weight_decay` applies to conv / linear weights only (not BN or biases). `eval_every` validates every so many
    steps (None: at the end of every epoch); the run always ends with a validation, whose accuracy is the result.
    `bn_recalibration` training images (a fixed, seeded draw) re-estimate the BatchNorm statistics before every
    validation (0: use the running averages): early in a short high-lr run the running averages lag the weights so
    far that eval-mode accuracy sits at chance while the network already classifies well, which would make the
    intermediate reports useless for pruning (measured on ShuffleNet v2 0.5x: 0.12 vs 0.50 at step 32 of 93).
    `threads` is torch's intra-op thread count during the evaluation (restored afterwards).
    """

    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5
    warmup_fraction: float = 0.05
    label_smoothing: float = 0.1
    eval_every: int | None = 50
    eval_batch_size: int = 250
    bn_recalibration: int = 256
    threads: int = 1
    channels_last: bool = True

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, problem: str) -> None:
            if not ok:
                raise ConfigError(f"{field}: {getattr(self, field)!r} {problem}")

        need(_is_int(self.epochs) and self.epochs >= 1, "epochs", "must be an integer >= 1")
        need(self.max_steps is None or (_is_int(self.max_steps) and self.max_steps >= 1), "max_steps",
             "must be None or an integer >= 1")
        need(_is_int(self.batch_size) and self.batch_size >= 2, "batch_size", "must be an integer >= 2 (BatchNorm)")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        need(self.lr > 0, "lr", "must be positive")
        need(0.0 <= self.momentum < 1.0, "momentum", "must be in [0, 1)")
        need(self.weight_decay >= 0, "weight_decay", "must be non-negative")
        need(0.0 <= self.warmup_fraction < 1.0, "warmup_fraction", "must be in [0, 1)")
        need(0.0 <= self.label_smoothing < 1.0, "label_smoothing", "must be in [0, 1)")
        need(self.eval_every is None or (_is_int(self.eval_every) and self.eval_every >= 1), "eval_every",
             "must be None or an integer >= 1")
        need(_is_int(self.eval_batch_size) and self.eval_batch_size >= 1, "eval_batch_size", "must be >= 1")
        need(_is_int(self.bn_recalibration) and self.bn_recalibration >= 0, "bn_recalibration",
             "must be an integer >= 0")
        need(_is_int(self.threads) and self.threads >= 1, "threads", "must be an integer >= 1")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainingConfig":
        check_known_options(cls, d, "training")
        return cls(**d)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def lr_at(step: int, total: int, config: TrainingConfig) -> float:
    """Learning rate for optimiser step `step` (0-based) of `total`: linear warm-up, then cosine to 0."""
    warmup = int(round(config.warmup_fraction * total))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    span = max(1, total - warmup)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / span))


def make_optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum) or AdamW; weight decay on conv / linear weights only."""
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov and config.momentum > 0)
    return torch.optim.AdamW(groups, lr=config.lr)


def proxy_inputs(split: TensorSplit, task: ProxyTask, batch_size: int = 500,
                 channels_last: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split through the proxy transform: float32 (N, channels, res, res) and int64 (N,) labels."""
    xs, ys = [], []
    for x, y in split.batches(batch_size, proxy=task):
        xs.append(x)
        ys.append(y)
    x = torch.cat(xs)
    return (x.contiguous(memory_format=torch.channels_last) if channels_last else x), torch.cat(ys)


@torch.no_grad()
def top1(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Top-1 accuracy in [0, 1] of `model` (put in eval mode) on inputs x (N, C, H, W), labels y (N,)."""
    model.eval()
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start:start + batch_size])
        correct += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    return correct / max(1, len(y))


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Re-estimate every BatchNorm's running mean/var as the average over batches of x (N, C, H, W); in place.

    The momentum of each BatchNorm is restored afterwards, so training continues its running averages from here.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or len(x) == 0:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    for start in range(0, len(x), batch_size):
        model(x[start:start + batch_size])
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum


class TrainingEvaluator(Evaluator):
    """Short training on the proxy task; the result is top-1 accuracy on the proxy validation split."""

    name = "train"
    kind = "trained"
    metric = "val_accuracy"
    label = "validation accuracy after short proxy training"

    @classmethod
    def for_search(cls, settings: SearchSettings) -> "TrainingEvaluator":
        return cls(threads=settings.threads, epochs=settings.epochs)

    def __init__(self, config: TrainingConfig | None = None, **overrides: Any):
        base = config or TrainingConfig()
        self.config = TrainingConfig.from_dict({**{f.name: getattr(base, f.name) for f in fields(base)}, **overrides})

    def plan_steps(self, train_examples: int) -> tuple[int, int]:
        """(steps per epoch, total steps) for a training split of `train_examples` (incomplete batches dropped)."""
        per_epoch = train_examples // self.config.batch_size
        total = per_epoch * self.config.epochs
        if self.config.max_steps is not None:
            total = min(total, self.config.max_steps)
        return per_epoch, total

    def evaluate(self, spec: ArchSpec, data: ProxyData, *, seed: int, report: Report | None = None) -> EvalResult:
        with torch_threads(self.config.threads):
            model = build_proxy_model(spec, data.task, seed=seed, channels_last=self.config.channels_last)
        return self.train(model, data, seed=seed, report=report)

    def train(self, model: torch.nn.Module, data: ProxyData, *, seed: int, report: Report | None = None) -> EvalResult:
        """Train `model` (a proxy network in its training form, initialised however the caller chose) with this
        evaluator's recipe on `data`, batches ordered by `seed`; the result as `evaluate` gives it."""
        cfg = self.config
        per_epoch, total = self.plan_steps(len(data.train))
        if per_epoch == 0:
            raise ConfigError(f"batch_size: {cfg.batch_size} is larger than the proxy training split "
                              f"({len(data.train)} examples)")
        start = time.perf_counter()
        with torch_threads(cfg.threads):
            x_val, y_val = proxy_inputs(data.val, data.task, cfg.eval_batch_size, cfg.channels_last)
            x_bn = self._recalibration_inputs(data, seed)
            history, step, loss_mean = self._train(model, data, (x_val, y_val, x_bn), per_epoch, total, seed, report)
        return EvalResult(
            evaluator=self.name, kind=self.kind, metric=self.metric, accuracy=history[-1][1], score=history[-1][1],
            seed=seed, steps=step, epochs=step / per_epoch, train_seconds=time.perf_counter() - start,
            history=tuple(history), params_m=params_m(model), proxy_arch_id=model.spec.arch_id, train_loss=loss_mean,
            train_examples=len(data.train))

    def _recalibration_inputs(self, data: ProxyData, seed: int) -> torch.Tensor:
        """The fixed training images (seeded draw) that re-estimate BatchNorm statistics before each validation."""
        n = min(self.config.bn_recalibration, len(data.train))
        if n < 2:
            return torch.empty(0)
        idx = np.sort(np.random.default_rng([seed, _RECAL_STREAM]).choice(len(data.train), n, replace=False))
        x, _ = proxy_inputs(data.train.select(idx), data.task, n, self.config.channels_last)
        return x

    def validate(self, model: torch.nn.Module, x_val: torch.Tensor, y_val: torch.Tensor,
                 x_bn: torch.Tensor) -> float:
        """Top-1 on the validation inputs after BatchNorm recalibration on x_bn (skipped when x_bn is empty)."""
        recalibrate_bn(model, x_bn, self.config.batch_size)
        return top1(model, x_val, y_val, self.config.eval_batch_size)

    def _train(self, model: torch.nn.Module, data: ProxyData,
               eval_inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], per_epoch: int, total: int, seed: int,
               report: Report | None) -> tuple[list[tuple[int, float]], int, float]:
        cfg = self.config
        opt = make_optimizer(model, cfg)
        order = np.random.default_rng([seed, _SHUFFLE_STREAM])
        history: list[tuple[int, float]] = []
        step, loss_sum, loss_count = 0, 0.0, 0
        for epoch in range(math.ceil(total / per_epoch)):
            model.train()
            for x, y in data.train.batches(cfg.batch_size, shuffle=True, seed=order, proxy=data.task, drop_last=True):
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                lr = lr_at(step, total, cfg)
                for group in opt.param_groups:
                    group["lr"] = lr
                loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
                value = loss.item()
                if not math.isfinite(value):
                    raise EvaluationError(
                        f"training loss is {value} at step {step + 1} of {total} (epoch {epoch + 1}, lr {lr:.3g}): "
                        f"diverged; lower the learning rate", step + 1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                loss_sum += value
                loss_count += 1
                due = (cfg.eval_every is not None and step % cfg.eval_every == 0) or \
                      (cfg.eval_every is None and step % per_epoch == 0)
                if step == total:
                    history.append((step, self.validate(model, *eval_inputs)))
                    return history, step, loss_sum / loss_count
                if due:
                    acc = self.validate(model, *eval_inputs)
                    history.append((step, acc))
                    loss_sum, loss_count = 0.0, 0
                    if report is not None and report(step, acc):
                        raise Pruned(step, acc, tuple(history))
                    model.train()
        raise AssertionError("unreachable: the step plan ends every run with a validation")

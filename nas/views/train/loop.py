"""Final training of a found network from scratch on the full proxy task, checkpointed every epoch, resumable exactly.

The network is the search's proxy network (nas.evaluators.proxy_net.proxy_spec: the deployment body at the proxy
input) with seeded initial weights; the data are the dataset's training images minus a fixed, stratified 10 %
validation split (seeded), transformed as the search's proxy task (nas/data/proxy.py) and augmented per
nas/views/train/recipe.py; BatchNorm statistics are re-estimated on a fixed set of training images before every
evaluation (they then stay in the weights). Every random draw of an epoch (batch order, crops, flips) comes from generators derived from
(seed, epoch), and a checkpoint holds the model, optimiser and scheduler state after each epoch, so a resumed
run ends with the same weights as an uninterrupted one (bit for bit on CPU with a fixed thread count). The test
split is used once, at the end (never during the search).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from search_space.spec import NetSpec
from search_space.progress import ProgressFn

from nas.data.dataset import Dataset
from nas.data.proxy import DEFAULT_RESOLUTION, ProxyData, ProxyTask, prepare_proxy
from nas.data.registry import DEFAULT_DATASET, load_dataset
from nas.data.split import TensorSplit
from nas.evaluators.base import torch_threads
from nas.evaluators.proxy_net import build_proxy_model
from nas.evaluators.training import lr_at, make_optimizer, proxy_inputs, recalibrate_bn, top1
from nas.views.source import Source
from nas.views.train.augment import black_level, random_crop_flip
from nas.views.train.checkpoint import (CHECKPOINT_FILE, FINAL_FILE, FORMAT_CHECKPOINT, FORMAT_FINAL, METRICS_FILE, VERSION,
                                  read_torch, save_json, save_torch)
from nas.views.train.errors import DivergedError, TrainError
from nas.views.train.recipe import Recipe
from nas.views.train.setup import RunSetup

VAL_FRACTION = 0.1
CHANNELS = 3  # the search's proxy networks take 3 channels (gray images replicated)
_SHUFFLE_STREAM, _AUGMENT_STREAM, _RECAL_STREAM = 11, 12, 13  # numpy streams [seed, stream(, epoch)]
RECAL_BYTES = 1 << 28  # at most 256 MiB of recalibration inputs (fewer images at large resolutions)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, validation top-1 in [0, 1], learning rate at its end, seconds it took."""

    epoch: int
    train_loss: float
    val_accuracy: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """A finished run: where its files are and what it reached (`test_accuracy` None without a test split)."""

    out_dir: Path
    spec: NetSpec
    history: tuple[EpochRecord, ...]
    test_accuracy: float | None
    test_examples: int
    seconds: float
    resumed_at: tuple[int, ...]

    @property
    def final_path(self) -> Path:
        return self.out_dir / FINAL_FILE

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / METRICS_FILE


# ------------------------------------------------------------------------------------------------- setup
def prepare_data(setup: RunSetup, dataset: Dataset | None = None) -> ProxyData:
    """The run's splits: all training images (or `train_examples`) minus a stratified validation split, and test.

    `dataset`: the already loaded `setup.dataset` (loaded here when None).
    """
    dataset = dataset if dataset is not None else load_dataset(setup.dataset)
    return prepare_proxy(dataset, resolution=setup.resolution, channels=CHANNELS, val_fraction=VAL_FRACTION,
                         max_train=setup.train_examples, seed=setup.seed)


def plan_run(source: Source, dataset: str | None, resolution: int | None, seed: int, train_examples: int | None,
             recipe: Recipe) -> tuple[RunSetup, ProxyData]:
    """A new run of `source`'s network and its data: the dataset defaults to the study's (else fashion-mnist), the
    input to the study's proxy resolution (else 32 px); an --arch network gets the dataset's number of classes."""
    ds = load_dataset(dataset or source.dataset or DEFAULT_DATASET)
    if source.origin.kind == "arch":
        source = replace(source, spec=source.spec.with_classes(ds.num_classes))
    res = resolution or source.proxy_resolution or DEFAULT_RESOLUTION
    setup = RunSetup(source=source, dataset=ds.spec, resolution=res, seed=seed, train_examples=train_examples,
                     recipe=recipe.resolved(ds.spec, res))
    return setup, prepare_data(setup, ds)


def prepare_out_dir(out_dir: Path, resume: bool, create: bool = True) -> None:
    """Check `out_dir` (refuse to overwrite a run unless resuming, and to resume nothing), then create it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise TrainError(f"--out {out_dir} is a file, not a folder")
    if resume:
        if (out_dir / FINAL_FILE).is_file():
            raise TrainError(f"the run in {out_dir} has finished ({FINAL_FILE} exists); export it with "
                             f"`nas export --weights {out_dir / FINAL_FILE} --format onnx`")
        if not (out_dir / CHECKPOINT_FILE).is_file():
            raise TrainError(f"nothing to resume in {out_dir}: no {CHECKPOINT_FILE}")
    else:
        for name in (CHECKPOINT_FILE, FINAL_FILE):
            if (out_dir / name).exists():
                raise TrainError(f"{out_dir} already holds a training run ({name}); continue it with --resume or "
                                 f"choose another --out")
    if not create:
        return
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrainError(f"cannot write to --out {out_dir}: {exc.strerror or exc}") from None


def read_checkpoint(out_dir: Path) -> tuple[RunSetup, dict[str, Any]]:
    """The setup and state of the last checkpoint in `out_dir`."""
    ck = read_torch(out_dir / CHECKPOINT_FILE)
    if ck.get("format") != FORMAT_CHECKPOINT:
        raise TrainError(f"{out_dir / CHECKPOINT_FILE} is not a training checkpoint")
    return RunSetup.from_dict(json.loads(ck["setup"])), ck


def resume_run(out_dir: Path, given: Mapping[str, Any], dataset: str | None = None
               ) -> tuple[RunSetup, dict[str, Any], ProxyData]:
    """The interrupted run in `out_dir`: its setup, last checkpoint and data. Options given again (--name -> value,
    None: not given) and `dataset` must match the run's; TrainError names the first that does not."""
    setup, ck = read_checkpoint(out_dir)
    setup.check_same(given)
    ds = load_dataset(dataset or setup.dataset)
    if ds.spec != setup.dataset:
        raise TrainError(f"--dataset {dataset} differs from the interrupted run's {setup.dataset}")
    return setup, ck, prepare_data(setup, ds)


# ------------------------------------------------------------------------------------------------- loop
@torch.no_grad()
def split_accuracy(model: torch.nn.Module, split: TensorSplit, task: ProxyTask, batch_size: int,
                   channels_last: bool = True) -> float:
    """Top-1 in [0, 1] of `model` (eval mode) on a split, streamed through the proxy transform batch by batch."""
    correct = 0
    for x, y in split.batches(batch_size, proxy=task):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        correct += round(top1(model, x, y, batch_size) * len(y))
    return correct / max(1, len(split))


def recalibration_inputs(data: ProxyData, recipe: Any, seed: int) -> torch.Tensor:
    """The fixed training images (seeded draw, proxy transform, no augmentation) that re-estimate BatchNorm."""
    t = data.task
    n = min(recipe.bn_recalibration, len(data.train), max(128, RECAL_BYTES // (4 * t.channels * t.resolution ** 2)))
    if n < 2:
        return torch.empty(0)
    idx = np.sort(np.random.default_rng([seed, _RECAL_STREAM]).choice(len(data.train), n, replace=False))
    return proxy_inputs(data.train.select(idx), t, recipe.eval_batch_size, recipe.channels_last)[0]


def _epoch_generators(seed: int, epoch: int) -> tuple[np.random.Generator, torch.Generator]:
    """(batch order, augmentation) generators of an epoch, derived from (seed, epoch) only."""
    aug_seed = int(np.random.default_rng([seed, _AUGMENT_STREAM, epoch]).integers(2 ** 62))
    return np.random.default_rng([seed, _SHUFFLE_STREAM, epoch]), torch.Generator().manual_seed(aug_seed)


def _threads(threads: int | None) -> contextlib.AbstractContextManager[None]:
    return torch_threads(threads) if threads else contextlib.nullcontext()


def train_network(setup: RunSetup, data: ProxyData, out_dir: str | Path, checkpoint: dict[str, Any] | None = None,
                  threads: int | None = None, progress: ProgressFn | None = None) -> TrainResult:
    """Train `setup`'s network on `data` into `out_dir` (checkpoint.pt every epoch, then final.pt + metrics.json).

    `checkpoint` (from read_checkpoint) continues an interrupted run; its data split must be the one recorded.
    `threads`: torch intra-op threads for the run (None: torch's default). KeyboardInterrupt leaves the last
    complete checkpoint; a diverging loss raises DivergedError (the checkpoint is kept as well).
    """
    out = Path(out_dir)
    recipe = setup.recipe
    cfg = recipe.training_config()
    per_epoch = len(data.train) // recipe.batch_size
    if per_epoch == 0:
        raise TrainError(f"--batch-size {recipe.batch_size} is larger than the training split "
                         f"({len(data.train)} images)")
    total = per_epoch * recipe.epochs
    deployment = setup.source.spec  # any family: it trains as its proxy network
    with _threads(threads):
        model = build_proxy_model(deployment, data.task, seed=setup.seed, channels_last=recipe.channels_last)
        opt = make_optimizer(model, cfg)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_at(step, total, cfg) / cfg.lr)
        history: list[EpochRecord] = []
        seconds, resumed_at = 0.0, []
        if checkpoint is not None:
            if json.loads(checkpoint["task"]) != data.task.to_dict():
                raise TrainError(f"the dataset {setup.dataset} no longer gives the split the run was trained on; "
                                 f"cannot resume")
            model.load_state_dict(checkpoint["model"])
            opt.load_state_dict(checkpoint["optimizer"])
            sched.load_state_dict(checkpoint["scheduler"])
            torch.set_rng_state(checkpoint["rng_torch"])
            history = [EpochRecord(**h) for h in checkpoint["history"]]
            seconds = float(checkpoint["seconds"])
            resumed_at = list(checkpoint.get("resumed_at", [])) + [len(history)]
        fill = black_level(data.task.mean, data.task.std)
        x_bn = recalibration_inputs(data, recipe, setup.seed)
        for epoch in range(len(history), recipe.epochs):
            start = time.perf_counter()
            order, gen = _epoch_generators(setup.seed, epoch)
            model.train()
            loss_sum = 0.0
            for i, (x, y) in enumerate(data.train.batches(recipe.batch_size, shuffle=True, seed=order,
                                                          proxy=data.task, drop_last=True)):
                x = random_crop_flip(x, recipe.padding, recipe.flip, fill, gen)
                if recipe.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                loss = F.cross_entropy(model(x), y, label_smoothing=recipe.label_smoothing)
                value = loss.item()
                if not math.isfinite(value):
                    raise DivergedError(f"training loss is {value} at epoch {epoch + 1}, step {i + 1} (lr "
                                        f"{sched.get_last_lr()[0]:.3g}): diverged; lower --lr (the checkpoint of "
                                        f"epoch {len(history)} is kept)")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += value
                if progress is not None:
                    progress(epoch * per_epoch + i + 1, total,
                             f"epoch {epoch + 1}/{recipe.epochs} loss {loss_sum / (i + 1):.3f}")
            recalibrate_bn(model, x_bn, recipe.batch_size)
            model.eval()
            val = split_accuracy(model, data.val, data.task, recipe.eval_batch_size, recipe.channels_last)
            took = time.perf_counter() - start
            seconds += took
            history.append(EpochRecord(epoch + 1, loss_sum / per_epoch, val, sched.get_last_lr()[0], took))
            save_torch(_checkpoint(setup, data, model, opt, sched, history, seconds, resumed_at),
                       out / CHECKPOINT_FILE)
        start = time.perf_counter()
        model.eval()
        test = (split_accuracy(model, data.test, data.task, recipe.eval_batch_size, recipe.channels_last)
                if data.test is not None and len(data.test) else None)
        seconds += time.perf_counter() - start
    result = TrainResult(out, model.spec, tuple(history), test, len(data.test) if data.test is not None else 0,
                         seconds, tuple(resumed_at))
    save_torch(_final(setup, data, model, result), out / FINAL_FILE)
    save_json(metrics_json(setup, data, result), out / METRICS_FILE)
    return result


def _record(setup: RunSetup, data: ProxyData, model: torch.nn.Module) -> dict[str, Any]:
    return {"version": VERSION, "spec": model.spec.to_json(), "setup": json.dumps(setup.to_dict()),
            "task": json.dumps(data.task.to_dict()), "class_names": list(data.class_names)}


def _checkpoint(setup: RunSetup, data: ProxyData, model: torch.nn.Module, opt: torch.optim.Optimizer,
                sched: Any, history: list[EpochRecord], seconds: float, resumed_at: list[int]) -> dict[str, Any]:
    return {"format": FORMAT_CHECKPOINT, **_record(setup, data, model), "epochs_done": len(history),
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "rng_torch": torch.get_rng_state(), "history": [asdict(h) for h in history], "seconds": seconds,
            "resumed_at": resumed_at}


def _final(setup: RunSetup, data: ProxyData, model: torch.nn.Module, result: TrainResult) -> dict[str, Any]:
    return {"format": FORMAT_FINAL, **_record(setup, data, model), "epochs_done": len(result.history),
            "state_dict": model.state_dict(), "history": [asdict(h) for h in result.history],
            "test_accuracy": result.test_accuracy, "test_examples": result.test_examples, "seconds": result.seconds}


def metrics_json(setup: RunSetup, data: ProxyData, result: TrainResult) -> dict[str, Any]:
    """The content of metrics.json: per-epoch figures, the final test accuracy, seconds, and what was trained."""
    last = result.history[-1] if result.history else None
    return {
        "network": {"trained_arch_id": result.spec.arch_id, "deployment_arch_id": setup.source.spec.arch_id,
                    "resolution": setup.resolution, "num_classes": data.task.num_classes},
        "source": setup.source.origin.describe(), "dataset": setup.dataset, "seed": setup.seed,
        "examples": {"train": len(data.train), "val": len(data.val), "test": result.test_examples},
        "recipe": setup.recipe.to_dict(),
        "epochs": [asdict(h) for h in result.history],
        "final": {"test_accuracy": result.test_accuracy, "val_accuracy": last.val_accuracy if last else None,
                  "train_loss": last.train_loss if last else None, "epochs": len(result.history),
                  "note": "test split used only here, once, after training" if result.test_accuracy is not None
                  else "the dataset has no test split"},
        "seconds": result.seconds, "resumed_at_epochs": list(result.resumed_at),
    }

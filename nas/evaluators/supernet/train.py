"""Training the supernet: one uniformly drawn path per step (SPOS), optionally only paths within a latency budget.

Every step draws one member of the search space (each dimension uniform, as `SearchSpace.sample`) and trains only
that path's weights on one batch of the proxy task (SGD with Nesterov momentum, linear warm-up then cosine decay,
label smoothing; weights the step did not use get no gradient, so neither momentum nor weight decay touches them).
With a platform and a budget, paths are drawn uniformly among the members whose predicted latency for the
deployment input (`resolution`, the dataset's classes) is within the budget: candidates are drawn uniformly and those
over the budget rejected (estimated in chunks with the platform's latency profile), so every accepted path is a
uniform draw from the feasible part of the space. With a teacher (a stand-alone network trained by `nas train` on
the same split), each step's loss also pulls the path toward the teacher's predictions (`distill`).

Batch order and paths of an epoch come from generators derived from (seed, epoch) alone, and the file written after
every epoch holds the weights, the optimiser state and the step count, so a resumed run computes what an
uninterrupted one does (bit for bit on CPU with a fixed thread count). A resume may raise `epochs`: the learning rate
then follows the cosine schedule of the new total from the current step on.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from search_space.errors import UserError
from search_space.progress import ProgressFn
from search_space.space import SearchSpace
from search_space.spec import ArchSpec

from nas.data.dataset import Dataset
from nas.data.proxy import DEFAULT_VAL_FRACTION, ProxyData, prepare_proxy
from nas.data.registry import load_dataset
from nas.evaluators.base import torch_threads
from nas.evaluators.supernet import store
from nas.evaluators.supernet.distill import Teacher, distill_loss, teacher_logits
from nas.evaluators.supernet.model import Supernet, SupernetError
from nas.evaluators.supernet.split import DepthSplit, warm_start

CHANNELS = 3  # the search's proxy networks take 3 channels (gray images replicated)
_ORDER_STREAM, _PATH_STREAM, _WEIGHT_STREAM = 21, 22, 23  # numpy streams [seed, stream, epoch(, replica)]
DEFAULT_MAX_DRAWS = 200_000
PATH_DRAWS = ("uniform", "spread")  # SearchSpace.sample / SearchSpace.sample_scaled


class SupernetTrainError(UserError):
    """A supernet training option, output file or resume that cannot work; one line."""


@dataclass(frozen=True)
class SupernetRun:
    """What defines a supernet training run (a resume keeps all of it; only `epochs`, given apart, may grow).

    Data: `dataset` spec, `proxy_resolution` px, at most `train_examples` training images (None: all but the
    validation split), `val_examples` in the validation split (the search's validation images are never trained on:
    the split depends only on `seed` and the validation fraction), `seed` (weights, split, batch order, paths),
    `replica` (0: the run of `seed` alone; r > 0: other initial weights, batch order and paths over the same split,
    so independently trained supernets can score the same search).
    Paths: uniform over the space, or, with `platform` and `budget_ms`, over the members whose latency predicted by
    that platform's profile (`predictor`, default the profile's) for the deployment input `resolution` is within the
    budget; `path_draw` "uniform" draws each dimension uniformly (`SearchSpace.sample`: under a budget most paths
    then sit near its edge), "spread" draws their sizes spread evenly (`SearchSpace.sample_scaled`).
    Optimiser: SGD (Nesterov) at peak `lr` after `warmup_fraction` of the steps, cosine to 0, `weight_decay` on
    conv / linear weights, `label_smoothing`, `batch_size`.
    Distillation: with `teacher` (a `nas train` weights file, whose sha256 is `teacher_sha256`), each step's loss mixes
    the teacher's soft targets in at `distill_weight` (`distill.distill_loss`; 0 without a teacher).
    Few-shot: with `split` (`split.DepthSplit`, e.g. "s1_depth=4-5,6-7,8-10") the supernet covers part `part` of the
    space alone; with `init_from` (a supernet file whose sha256 is `init_sha256`, over a space that holds this run's)
    its weights start from that file's (`split.warm_start`) instead of random ones.
    """

    dataset: str
    proxy_resolution: int = 32
    train_examples: int | None = None
    val_examples: int = 1000
    seed: int = 0
    replica: int = 0
    resolution: int = 224
    platform: str | None = None
    budget_ms: float | None = None
    predictor: str | None = None
    batch_size: int = 64
    lr: float = 0.05  # 600 steps on the benchmark space: training accuracy 0.385 at 0.02, 0.53 at 0.05, 0.425 at 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 4e-5
    warmup_fraction: float = 0.02
    label_smoothing: float = 0.1
    channels_last: bool = False
    teacher: str | None = None
    teacher_sha256: str | None = None
    distill_weight: float = 0.0
    path_draw: str = "uniform"
    split: str | None = None
    part: int = 0
    init_from: str | None = None
    init_sha256: str | None = None

    def __post_init__(self) -> None:
        def need(ok: bool, option: str, problem: str) -> None:
            if not ok:
                raise SupernetTrainError(f"--{option}: {problem}")

        need(8 <= self.proxy_resolution <= 512, "proxy-resolution", f"{self.proxy_resolution} must be 8..512 px")
        need(self.train_examples is None or self.train_examples >= 10, "train-examples", "must be at least 10")
        need(self.val_examples >= 1, "val-examples", "must be at least 1")
        need(self.seed >= 0, "seed", "must be a non-negative integer")
        need(self.replica >= 0, "replica", "must be a non-negative integer")
        need(16 <= self.resolution <= 4096, "resolution", f"{self.resolution} must be 16..4096 px")
        need((self.platform is None) == (self.budget_ms is None), "budget",
             "--platform and --budget go together (paths within the budget on that platform)")
        need(self.budget_ms is None or self.budget_ms > 0, "budget", "must be positive")
        need(self.batch_size >= 2, "batch-size", "must be at least 2 (BatchNorm)")
        need(self.lr > 0, "lr", "must be positive")
        need(0.0 <= self.momentum < 1.0, "momentum", "must be in [0, 1)")
        need(self.weight_decay >= 0, "weight-decay", "must be non-negative")
        need(0.0 <= self.warmup_fraction < 1.0, "warmup-fraction", "must be in [0, 1)")
        need(0.0 <= self.label_smoothing < 1.0, "label-smoothing", "must be in [0, 1)")
        need((self.teacher is None) == (self.teacher_sha256 is None), "teacher", "a teacher needs its file's sha256")
        need(0.0 <= self.distill_weight <= 1.0, "distill-weight", "must be in [0, 1]")
        need(self.teacher is not None or self.distill_weight == 0.0, "distill-weight", "needs --teacher")
        need(self.path_draw in PATH_DRAWS, "path-draw", f"{self.path_draw!r} is not one of {', '.join(PATH_DRAWS)}")
        need(self.part >= 0 and (self.split is not None or self.part == 0), "part", "needs --split (a part index >= 0)")
        need((self.init_from is None) == (self.init_sha256 is None), "init",
             "a parent supernet needs its file's sha256")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stream(self, stream: int, epoch: int) -> list[int]:
        """The numpy seed sequence of a training stream in `epoch`: replica 0 keeps the generators runs had before
        replicas existed (their files continue and compare bit for bit)."""
        return [self.seed, stream, epoch] + ([self.replica] if self.replica else [])

    @property
    def weight_seed(self) -> int:
        """The torch seed of the initial weights (replica 0: `seed`)."""
        return self.seed if not self.replica else int(np.random.default_rng([self.seed, _WEIGHT_STREAM,
                                                                             self.replica]).integers(2 ** 31))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SupernetRun":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check_same(self, given: Mapping[str, Any]) -> None:
        """SupernetTrainError when an option given for a resume (--name -> value, None: not given) differs."""
        recorded = {k.replace("_", "-"): v for k, v in self.to_dict().items()}
        recorded["budget"] = recorded.pop("budget-ms")
        for option, value in given.items():
            if value is not None and option in recorded and value != recorded[option]:
                raise SupernetTrainError(f"--{option} {value} differs from the supernet's {recorded[option]}; a "
                                         f"resumed run keeps its settings (drop the option, or train into another "
                                         f"--out)")


@dataclass(frozen=True)
class SupernetTrainResult:
    """A training that reached `epochs_done` epochs: the file, its sha256, per-epoch history, seconds in all."""

    path: Path
    sha256: str
    epochs_done: int
    history: tuple[dict[str, Any], ...]
    seconds: float
    resumed_at: tuple[int, ...]
    params_m: float


def default_space() -> SearchSpace:
    """The space `nas supernet train` covers: the search's default space."""
    return SearchSpace.default()


# ------------------------------------------------------------------------------------------------- paths
class PathSampler:
    """Members of `space` (deployment specs) drawn as `SearchSpace.sample` draws them (`spread`: as `sample_scaled`),
    with `profile` and `budget_ms` only those whose predicted latency is within the budget (rejection, estimated
    `chunk` at a time). `draws` / `accepted` count."""

    def __init__(self, space: SearchSpace, profile: Any = None, budget_ms: float | None = None,
                 predictor: str | None = None, chunk: int = 64, max_draws: int = DEFAULT_MAX_DRAWS,
                 spread: bool = False):
        self.space, self.profile, self.budget_ms, self.predictor = space, profile, budget_ms, predictor
        self.chunk, self.max_draws = chunk, max_draws
        self.spread = spread
        self.reset()

    def reset(self) -> None:
        """Forget queued paths and counts (each epoch starts afresh from its own generator)."""
        self._queue: deque[ArchSpec] = deque()
        self.draws = self.accepted = 0
        self._dry = 0

    def _member(self, rng: np.random.Generator) -> ArchSpec:
        return self.space.sample_scaled(rng) if self.spread else self.space.sample(rng)

    def draw(self, rng: np.random.Generator) -> ArchSpec:
        if self.budget_ms is None:
            self.draws += 1
            self.accepted += 1
            return self._member(rng)
        while not self._queue:
            if self._dry >= self.max_draws:
                raise SupernetTrainError(
                    f"--budget {self.budget_ms:g}ms: none of {self._dry} paths drawn from the space fits on "
                    f"{self.profile.platform.name}; raise the budget")
            specs = [self._member(rng) for _ in range(self.chunk)]
            ok = [s for s, e in zip(specs, self.profile.estimates(specs, self.predictor))
                  if e.latency_ms <= self.budget_ms]
            self.draws += len(specs)
            self._dry = 0 if ok else self._dry + len(specs)
            self._queue.extend(ok)
        self.accepted += 1
        return self._queue.popleft()


def epoch_paths(run: SupernetRun, sampler: PathSampler, epoch: int) -> Iterator[ArchSpec]:
    """The paths training draws in epoch `epoch` (0-based), one per step: from the epoch's own generator, so a
    resumed run draws what an uninterrupted one does, and the paths a supernet was trained on can be drawn again."""
    sampler.reset()
    rng = np.random.default_rng(run.stream(_PATH_STREAM, epoch))
    while True:
        yield sampler.draw(rng)


def path_sampler(run: SupernetRun, space: SearchSpace, profile: Any = None) -> PathSampler:
    """The run's sampler over `space`; with a budget, `profile` (default: the latency profile of `run.platform`,
    loaded here) estimates the paths' latency."""
    spread = run.path_draw == "spread"
    if run.budget_ms is None:
        return PathSampler(space, spread=spread)
    if profile is None:
        from latency_models.profiles import require_profile

        profile = require_profile(run.platform)  # type: ignore[arg-type]
    return PathSampler(space, profile, run.budget_ms, run.predictor, spread=spread)


# ------------------------------------------------------------------------------------------------- data
def prepare_data(run: SupernetRun, dataset: Dataset | None = None) -> tuple[ProxyData, Dataset]:
    """The run's proxy splits (and the dataset): the search's split rule, so its validation images are left out."""
    ds = dataset if dataset is not None else load_dataset(run.dataset)
    data = prepare_proxy(ds, resolution=run.proxy_resolution, channels=CHANNELS, val_fraction=DEFAULT_VAL_FRACTION,
                         max_train=run.train_examples, max_val=run.val_examples, seed=run.seed)
    return data, ds


def sampling_space(space: SearchSpace, run: SupernetRun, num_classes: int) -> SearchSpace:
    """The space paths are drawn from: `space` at the run's deployment input and the dataset's classes (with a split,
    the run's part of it)."""
    out = space.with_fixed(resolution=run.resolution, num_classes=num_classes, in_channels=CHANNELS)
    if run.split is None:
        return out
    split = DepthSplit.parse(run.split, out)
    if run.part >= len(split.groups):
        raise SupernetTrainError(f"--part {run.part}: --split {split} has parts 0..{len(split.groups) - 1}")
    return split.part_space(out, run.part)


def check_out(out: Path, resume: bool) -> None:
    """Refuse to overwrite a supernet unless resuming, and to resume nothing; check the folder is writable."""
    if out.is_dir():
        raise SupernetTrainError(f"--out {out} is a folder; give a file name, e.g. {out / 'supernet.pt'}")
    if resume and not out.is_file():
        raise SupernetTrainError(f"nothing to resume: {out} does not exist")
    if not resume and out.exists():
        raise SupernetTrainError(f"{out} already exists; continue it with --resume --epochs E, or choose another --out")
    if not out.parent.is_dir():
        raise SupernetTrainError(f"--out {out}: folder {out.parent} does not exist")


def resume_state(out: Path, epochs: int | None, given: Mapping[str, Any], dataset: str | None = None
                 ) -> tuple[SupernetRun, store.SupernetFile, ProxyData, int]:
    """The run in `out`, its file, its data and the epoch target (default: the recorded one); options given again
    must match (SupernetTrainError names the first that differs)."""
    sf = store.read(out, mmap=False)
    run = SupernetRun.from_dict(sf.run)
    run.check_same(given)
    target = sf.epochs if epochs is None else epochs
    if target < sf.epochs_done:
        raise SupernetTrainError(f"--epochs {target}: the supernet in {out} has already trained {sf.epochs_done} "
                                 f"epochs")
    if target == sf.epochs_done:
        raise SupernetTrainError(f"the supernet in {out} has trained its {sf.epochs_done} epochs; give a larger "
                                 f"--epochs to continue it")
    ds = load_dataset(dataset or run.dataset)
    if ds.spec != run.dataset:
        raise SupernetTrainError(f"--dataset {dataset} differs from the supernet's {run.dataset}")
    data, _ = prepare_data(run, ds)
    if data.task.to_dict() != sf.task.to_dict():
        raise SupernetTrainError(f"the dataset {run.dataset} no longer gives the split the supernet was trained on; "
                                 f"cannot resume")
    return run, sf, data, target


def check_teacher(run: SupernetRun, teacher: Teacher | None, data: ProxyData) -> None:
    """SupernetTrainError unless `teacher` is the run's teacher (its file unchanged) and can teach on `data`."""
    if teacher is None:
        if run.teacher is not None:
            raise SupernetTrainError(f"the run distils from {run.teacher}; give its teacher network")
        return
    if run.teacher_sha256 != teacher.sha256:
        raise SupernetTrainError(f"--teacher {teacher.path}: not the file the run distils from ({run.teacher}, sha256 "
                                 f"{(run.teacher_sha256 or 'none')[:16]}...; this one {teacher.sha256[:16]}...)")
    problem = teacher.problem_with(data.task)
    if problem is not None:
        raise SupernetTrainError(f"--teacher {teacher.path}: {problem}")


# ------------------------------------------------------------------------------------------------- loop
def lr_at(step: int, total: int, run: SupernetRun) -> float:
    """Learning rate of optimiser step `step` (0-based) of `total`: linear warm-up, then cosine to 0."""
    warmup = int(round(run.warmup_fraction * total))
    if step < warmup:
        return run.lr * (step + 1) / warmup
    return run.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def make_optimizer(net: torch.nn.Module, run: SupernetRun) -> torch.optim.SGD:
    """SGD with (Nesterov) momentum; weight decay on conv / linear weights only."""
    decay = [p for p in net.parameters() if p.dim() > 1]
    rest = [p for p in net.parameters() if p.dim() <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": run.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                           lr=run.lr, momentum=run.momentum, nesterov=run.nesterov and run.momentum > 0)


def _threads(threads: int | None) -> contextlib.AbstractContextManager[None]:
    return torch_threads(threads) if threads else contextlib.nullcontext()


def train_supernet(run: SupernetRun, epochs: int, data: ProxyData, out: str | Path, *,
                   space: SearchSpace | None = None, resume: store.SupernetFile | None = None,
                   threads: int | None = None, progress: ProgressFn | None = None,
                   sampler: PathSampler | None = None, teacher: Teacher | None = None,
                   init: store.SupernetFile | None = None) -> SupernetTrainResult:
    """Train the supernet over `space` (default: `default_space()`) on `data` for `epochs` epochs into the file
    `out` (rewritten after every epoch); `resume` (from resume_state) continues a run from its last epoch; `teacher`:
    the network of `run.teacher` (required exactly when the run has one); `init`: the file of `run.init_from`, whose
    weights a new run starts from (required exactly then; a resume has its own).

    KeyboardInterrupt leaves the file of the last finished epoch; a diverging loss raises SupernetTrainError (the file
    of the last finished epoch is kept as well).
    """
    out = Path(out)
    if epochs < 1:
        raise SupernetTrainError(f"--epochs {epochs}: must be at least 1")
    per_epoch = len(data.train) // run.batch_size
    if per_epoch == 0:
        raise SupernetTrainError(f"--batch-size {run.batch_size} is larger than the training split "
                                 f"({len(data.train)} images)")
    total = per_epoch * epochs
    check_teacher(run, teacher, data)
    if resume is None and (init is None) != (run.init_from is None):
        raise SupernetTrainError(f"the run starts from {run.init_from}; give its file" if init is None else
                                 "a parent supernet was given to a run that records none (SupernetRun.init_from)")
    if resume is None and init is not None:
        if store.file_sha256(init.path) != run.init_sha256:
            raise SupernetTrainError(f"{init.path}: not the parent supernet the run starts from (its sha256 differs)")
        if init.task.to_dict() != data.task.to_dict():
            raise SupernetTrainError(f"{init.path} was trained on another split or proxy task than this run "
                                     f"({init.task.dataset}, seed {init.task.seed}, {init.task.train_examples} "
                                     f"images): its weights may have seen the search's validation images")
    with _threads(threads):
        soft_all = teacher_logits(teacher, data.train) if teacher is not None else None
        space = resume.space if resume is not None else sampling_space(space or default_space(), run,
                                                                        data.task.num_classes)
        sampler = sampler or path_sampler(run, space)
        net = resume.build(device="meta").train() if resume is not None else \
            Supernet(space, data.task, seed=run.weight_seed).train()
        if resume is None and init is not None:
            warm_start(net, init.build(device="cpu"))
        opt = make_optimizer(net, run)
        history: list[dict[str, Any]] = []
        step, seconds, resumed_at = 0, 0.0, []
        if resume is not None:
            opt.load_state_dict(resume.raw["optimizer"])
            torch.set_rng_state(resume.raw["rng_torch"])
            history = [dict(h) for h in resume.history]
            step, seconds = resume.step, resume.seconds
            resumed_at = list(resume.raw.get("resumed_at") or []) + [resume.epochs_done]
            del resume  # the loaded tensors now belong to `net` and `opt`
        for epoch in range(len(history), epochs):
            t0 = time.perf_counter()
            order = np.random.default_rng(run.stream(_ORDER_STREAM, epoch))
            paths = epoch_paths(run, sampler, epoch)
            loss_sum, correct, seen = 0.0, 0, 0
            for i, idx in enumerate(data.train.batch_indices(run.batch_size, shuffle=True, seed=order, drop_last=True)):
                x, y = data.train.batch_at(idx, data.task)
                proxy = net.member(next(paths))
                if run.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                lr = lr_at(step, total, run)
                for group in opt.param_groups:
                    group["lr"] = lr
                logits = net.run(x, proxy)
                loss = distill_loss(logits, y, soft_all[idx] if soft_all is not None else None, run.distill_weight,
                                    run.label_smoothing)
                value = loss.item()
                if not math.isfinite(value):
                    raise SupernetTrainError(f"training loss is {value} at epoch {epoch + 1}, step {i + 1} (lr "
                                             f"{lr:.3g}): diverged; lower --lr (the file of epoch {len(history)} is "
                                             f"kept)")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                loss_sum += value
                correct += int((logits.detach().argmax(1) == y).sum())
                seen += len(y)
                if progress is not None:
                    progress(epoch * per_epoch + i + 1, total,
                             f"epoch {epoch + 1}/{epochs} loss {loss_sum / (i + 1):.3f}")
            took = time.perf_counter() - t0
            seconds += took
            history.append({"epoch": epoch + 1, "train_loss": loss_sum / per_epoch, "train_accuracy": correct / seen,
                            "lr": lr_at(step - 1, total, run), "seconds": took, "paths": sampler.accepted,
                            "draws": sampler.draws})
            store.save(store.record(net, data.class_names, run.to_dict(), epochs_done=epoch + 1, epochs=epochs,
                                    step=step, history=history, seconds=seconds, optimizer=opt.state_dict(),
                                    resumed_at=resumed_at), out)
        params = net.params_m()
    del net, opt
    return SupernetTrainResult(out, store.file_sha256(out), len(history), tuple(history), seconds,
                               tuple(resumed_at), params)


__all__ = ["PATH_DRAWS", "PathSampler", "SupernetError", "SupernetRun", "SupernetTrainError", "SupernetTrainResult",
           "check_out", "check_teacher", "default_space", "epoch_paths", "lr_at", "path_sampler", "prepare_data",
           "resume_state", "sampling_space", "train_supernet"]

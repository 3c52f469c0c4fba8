"""The `supernet` evaluator: a candidate's validation accuracy with weights inherited from a trained supernet.

For each candidate: its path is taken from the supernet (SupernetError when the architecture is outside the
supernet's space) as a stand-alone proxy network (`Supernet.extract`: build_proxy_model's network with the sliced
weights copied in); by default it keeps the supernet's own BatchNorm running statistics (`bn_batches` 0, which ranks
as well in half the time in the rank-fidelity benchmark; see DEFAULT_BN_BATCHES), or they are reset and re-estimated
on `bn_batches` batches of `bn_batch_size` training images (a fixed draw from the evaluation seed, the same images
for every candidate; twice the time per candidate); then top-1 is measured on the whole validation split, in the
inference form (BatchNorm folded). Network and images are channels-last (measured on one core over 6 candidates, the
same accuracies: BN re-estimation 0.67 s instead of 1.07 s, validation 0.87 s instead of 0.99 s). The stem (the
blocks before the first unit) is the same for every path that has it, and so are its inputs: what it hands on (its
BatchNorm re-estimated on the same images) is computed once per stem and inputs, and each candidate is run from
there (`scored`: the network `subnet` gives, from its stem's output). Nothing is trained: the score is an estimate
of the candidate's rank (Guo et al. 2019), and `EvalResult.epochs` / `train_examples` give the supernet's own
training (its fidelity).

The supernet file is read once per process (memory-mapped, cached by path and content hash); `describe()` records the
file's path and sha256, `bn_batches` and `bn_batch_size`, and what the supernet was trained on. The search's data must
be the proxy task the supernet was trained on (dataset, proxy resolution, channels, classes) and the same split (seed,
validation fraction), so that no validation image was ever a supernet training image; ConfigError says which differs.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search_space.blocks import Block, ShuffleUnit
from search_space.modules import Network, to_inference
from search_space.spec import ArchSpec, NetSpec

from nas.data.proxy import ProxyData, ProxyTask
from nas.evaluators.base import (ConfigError, EvalResult, Evaluator, Report, SearchSettings, check_known_options,
                                 params_m, torch_threads)
from nas.evaluators.supernet import store
from nas.evaluators.supernet.model import Supernet
from nas.evaluators.training import proxy_inputs, recalibrate_bn

#: The supernet's own running statistics by default (0 batches). Decided by a rule fixed before the figures were
#: seen (commit 0519dfe): switch from 8 only if, over the 13 networks the rank-fidelity benchmark added later, the
#: own statistics rank better by >= 0.2 Kendall tau with their 90% interval above 0. With the supernet whose input
#: channels go by id: 0.513 (0.14 to 0.81) against 0.308; over all 26 networks 0.470 against 0.424, in half the time.
#: Over the 33 networks the benchmark has now the two are level (0.401 / 0.412), and over five supernets trained
#: with the same recipe (replicas) too (mean 0.285 / 0.289, each 0.12-0.44 / 0.15-0.41): the own statistics stay,
#: being as good in half the time (and stable across validation samples, benchmarks/score_noise.py).
DEFAULT_BN_BATCHES = 0
_RECAL_STREAM = 3  # numpy stream [seed, 3] draws the BatchNorm images (the training evaluator's stream number)


@dataclass(frozen=True)
class SupernetConfig:
    """`supernet`: the file of `nas supernet train` (required); `sha256`: its content hash (filled in when the file is
    read; a given value must match); `bn_batches` x `bn_batch_size` training images re-estimate BatchNorm (batch size
    default: the supernet's training batch size; 0 batches: the supernet's own running statistics are kept);
    `eval_batch_size` for validation; torch `threads`."""

    supernet: str | None = None
    sha256: str | None = None
    bn_batches: int = DEFAULT_BN_BATCHES
    bn_batch_size: int | None = None
    eval_batch_size: int = 250  # faster than 500 here: 0.71 s vs 0.82 s per 1000 images on one core
    threads: int = 1

    def __post_init__(self) -> None:
        if not self.supernet:
            raise ConfigError("supernet: no supernet file given; train one with `nas supernet train --dataset D "
                              "--epochs E --out FILE` and pass it with `--supernet FILE`")
        for name, low, optional in (("bn_batches", 0, False), ("bn_batch_size", 2, True), ("eval_batch_size", 1, False),
                                    ("threads", 1, False)):
            value = getattr(self, name)
            if optional and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name}: {value!r} must be an integer >= {low}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SupernetConfig":
        check_known_options(cls, d, "supernet")
        d = dict(d)
        for name in ("bn_batches", "bn_batch_size", "eval_batch_size", "threads"):
            if isinstance(d.get(name), str) and d[name].strip().isdigit():  # from a command line or a stored config
                d[name] = int(d[name])
        if d.get("supernet") is not None:
            d["supernet"] = str(d["supernet"])
        return cls(**d)


@dataclass(frozen=True, eq=False)
class LoadedSupernet:
    """A supernet file read once: its record, the module (weights memory-mapped) and the file's sha256."""

    file: store.SupernetFile
    net: Supernet
    sha256: str


@functools.lru_cache(maxsize=2)
def _load(path: str, size: int, mtime_ns: int) -> LoadedSupernet:
    sha = store.file_sha256(path)
    sf = store.read(path, mmap=True)
    return LoadedSupernet(sf, sf.build(device="meta"), sha)


def load_supernet(path: str | Path) -> LoadedSupernet:
    """The supernet file at `path`, read once per process (cached by path, size and modification time, so a file
    rewritten by a further epoch is read again); ConfigError in one line when it cannot be used."""
    p = Path(path).expanduser().absolute()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"supernet: no such file {p} (train one with `nas supernet train --out {p}`)") from None
    except OSError as exc:
        raise ConfigError(f"supernet: cannot read {p}: {exc.strerror or exc}") from None
    try:
        return _load(str(p), st.st_size, st.st_mtime_ns)
    except store.SupernetFileError as exc:
        raise ConfigError(f"supernet: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"supernet: cannot read {p}: {exc.strerror or exc}") from None


class SupernetEvaluator(Evaluator):
    """Validation accuracy of a candidate with weights inherited from a trained supernet (the supernet's own BatchNorm
    statistics, or re-estimated on `bn_batches` batches)."""

    name = "supernet"
    kind = "weight-sharing"
    metric = "val_accuracy (inherited weights)"
    #: Not what the network reaches trained: with the supernet's own BatchNorm statistics (the default) a good network
    #: can read 0.1 here; only the order of candidates is meant (rank-fidelity benchmark).
    label = "validation accuracy with weights inherited from the supernet (a rank estimate, not a trained accuracy)"

    @classmethod
    def for_search(cls, settings: SearchSettings) -> "SupernetEvaluator":
        options = {"supernet": settings.option("supernet"),
                   "bn_batches": settings.option("bn_batches", DEFAULT_BN_BATCHES),
                   "bn_batch_size": settings.option("bn_batch_size"), "threads": settings.threads}
        if settings.option("supernet_sha256"):
            options["sha256"] = settings.option("supernet_sha256")
        return cls(**options)

    @classmethod
    def search_options(cls, given: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        """(supernet: absolute path, supernet_sha256: its content hash, bn_batches) for the study; the file is read
        (one line when it cannot be used) so a search never starts on a missing or damaged supernet."""
        known = {"supernet", "bn_batches"}
        extra = sorted(k for k, v in given.items() if v is not None and k not in known)
        if extra:
            raise ConfigError(f"--{extra[0].replace('_', '-')} does not apply to --evaluator {cls.name}")
        cfg = SupernetConfig.from_dict({k: given[k] for k in known if given.get(k) is not None})
        loaded = load_supernet(cfg.supernet)  # type: ignore[arg-type]
        return (("supernet", str(loaded.file.path)), ("supernet_sha256", loaded.sha256),
                ("bn_batches", cfg.bn_batches))

    def check_data(self, data: ProxyData) -> None:
        self.check_task(data.task)

    def __init__(self, config: SupernetConfig | None = None, **overrides: Any):
        given = asdict(config) if config is not None else {}
        cfg = SupernetConfig.from_dict({**given, **overrides})
        self.loaded = load_supernet(cfg.supernet)  # type: ignore[arg-type]
        if cfg.sha256 and cfg.sha256 != self.loaded.sha256:
            raise ConfigError(f"sha256: {self.loaded.file.path} has sha256 {self.loaded.sha256[:16]}..., not the "
                              f"expected {cfg.sha256[:16]}... (the file changed)")
        batch = cfg.bn_batch_size or int(self.loaded.file.run.get("batch_size", 64))
        self.config = replace(cfg, supernet=str(self.loaded.file.path), sha256=self.loaded.sha256,
                              bn_batch_size=batch)
        self._inputs_for: tuple[Any, int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None
        self._stems: dict[tuple[Block, ...], tuple[torch.Tensor, torch.Tensor]] = {}  # for the inputs above

    @property
    def supernet(self) -> Supernet:
        return self.loaded.net

    def describe(self) -> dict[str, Any]:
        """Name, kind, metric, config (file path, sha256, BN batches) and what the supernet was trained on."""
        sf = self.loaded.file
        run = sf.run
        draw = run.get("path_draw", "uniform")
        trained = {"epochs_done": sf.epochs_done, "epochs": sf.epochs, "dataset": sf.task.dataset,
                   "proxy_resolution": sf.task.resolution, "train_examples": sf.task.train_examples,
                   "seed": sf.task.seed, "replica": run.get("replica", 0), "space": sf.space.name,
                   "params_m": round(self.supernet.params_m(), 3),
                   "paths": (draw if run.get("budget_ms") is None else
                             f"{draw} within {run['budget_ms']:g} ms on {run['platform']}"),
                   "teacher": None if not run.get("teacher") else
                   {"file": run["teacher"], "sha256": run["teacher_sha256"], "distill_weight": run["distill_weight"]}}
        return {**super().describe(), "supernet": trained}

    # ------------------------------------------------------------------------------------------- checks
    def check_task(self, task: ProxyTask) -> None:
        """ConfigError (one line) unless `task` is the proxy task and split the supernet was trained on."""
        own = self.loaded.file.task
        path = self.loaded.file.path

        def what(t: ProxyTask) -> str:
            return f"{t.dataset} at {t.resolution} px, {t.channels} channels, {t.num_classes} classes"

        if (own.dataset, own.resolution, own.channels, own.num_classes) != \
                (task.dataset, task.resolution, task.channels, task.num_classes):
            raise ConfigError(f"supernet: {path} was trained on {what(own)}; the search's proxy task is {what(task)} "
                              f"(train a supernet on it with `nas supernet train`)")
        if (own.seed, own.val_fraction) != (task.seed, task.val_fraction):
            raise ConfigError(f"supernet: {path} was trained with split seed {own.seed} (validation fraction "
                              f"{own.val_fraction:g}); the search uses seed {task.seed} (fraction "
                              f"{task.val_fraction:g}), whose validation images may be supernet training images "
                              f"(train the supernet with --seed {task.seed})")

    # ------------------------------------------------------------------------------------------- inputs
    def _inputs(self, data: ProxyData, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(BatchNorm images, validation images, labels) through the supernet's input normalisation; cached for the
        last (data, seed) given."""
        cached = self._inputs_for
        if cached is not None and cached[0] is data and cached[1] == seed:
            return cached[2]
        own = self.loaded.file.task
        task = replace(data.task, mean=own.mean, std=own.std)  # the normalisation the weights were trained with
        cfg = self.config
        n = min(cfg.bn_batches * cfg.bn_batch_size, len(data.train))  # type: ignore[operator]
        x_val, y_val = proxy_inputs(data.val, task, 500, channels_last=True)
        x_bn = x_val[:0]  # none: recalibrate_bn then keeps the supernet's statistics
        if n:
            idx = np.sort(np.random.default_rng([seed, _RECAL_STREAM]).choice(len(data.train), n, replace=False))
            x_bn, _ = proxy_inputs(data.train.select(idx), task, 500, channels_last=True)
        self._inputs_for = (data, seed, (x_bn, x_val, y_val))
        self._stems.clear()
        return x_bn, x_val, y_val

    def _stem_outputs(self, net: Network, k: int, data: ProxyData, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What the path's first `k` blocks (its stem, the same for every path that has these stem blocks) hand on:
        (the BatchNorm images through the stem in training mode, batch by batch as `recalibrate_bn` runs them,
        the validation images through the stem re-estimated on them and folded, batch by batch as `predictions` runs
        them); computed once per stem and inputs."""
        x_bn, x_val, _ = self._inputs(data, seed)
        key = net.blocks[:k]
        if key not in self._stems:
            cfg = self.config
            stem = Network(net.spec, key, list(net)[:k], net.form)  # this candidate's own copy: only tensors kept
            stem.train()  # batch statistics: these outputs do not depend on the running ones re-estimated below
            stem_bn = torch.cat([stem(x_bn[i:i + cfg.bn_batch_size])  # type: ignore[misc]
                                 for i in range(0, len(x_bn), cfg.bn_batch_size)]) if len(x_bn) else x_bn
            recalibrate_bn(stem, x_bn, cfg.bn_batch_size)  # type: ignore[arg-type]
            folded = to_inference(stem.eval())
            stem_val = torch.cat([folded(x_val[i:i + cfg.eval_batch_size])
                                  for i in range(0, len(x_val), cfg.eval_batch_size)])
            self._stems[key] = (stem_bn, stem_val)
        return self._stems[key]

    # ------------------------------------------------------------------------------------------- evaluation
    def subnet(self, spec: ArchSpec, data: ProxyData, seed: int) -> torch.nn.Module:
        """The candidate's stand-alone proxy network, weights inherited, BatchNorm as configured (training form)."""
        self.check_task(data.task)
        net = self.supernet.extract(spec, channels_last=True)
        x_bn, _, _ = self._inputs(data, seed)
        recalibrate_bn(net, x_bn, self.config.bn_batch_size)  # type: ignore[arg-type]
        return net.eval()

    def scored(self, spec: ArchSpec, data: ProxyData, seed: int) -> tuple[Network, Network, torch.Tensor]:
        """(the candidate's inherited network, its blocks after the stem with BatchNorm re-estimated in the inference
        form, the validation images through the stem): `subnet`'s network split at its stem, the stem's part
        computed once per stem (module docstring)."""
        self.check_task(data.task)
        net = self.supernet.extract(spec, channels_last=True)
        k = stem_length(net.blocks)
        stem_bn, stem_val = self._stem_outputs(net, k, data, seed)
        body = Network(net.spec, net.blocks[k:], list(net)[k:], net.form)
        recalibrate_bn(body, stem_bn, self.config.bn_batch_size)  # type: ignore[arg-type]
        return net, to_inference(body.eval()), stem_val

    def scores_family(self, spec: NetSpec) -> bool:
        """Only ShuffleNet-V2-style networks have paths in the supernet (members are checked when evaluated)."""
        return isinstance(spec, ArchSpec)

    def predictions(self, spec: ArchSpec, data: ProxyData, seed: int) -> tuple[Network, torch.Tensor, torch.Tensor]:
        """(the candidate's inherited network, its logits on every validation image, the labels): what `evaluate`
        scores, image by image (the rank-fidelity benchmark's score-noise study splits them into blocks)."""
        cfg = self.config
        with torch_threads(cfg.threads), torch.inference_mode():  # nothing of it is ever trained
            net, body, stem_val = self.scored(spec, data, seed)
            logits = torch.cat([body(stem_val[i:i + cfg.eval_batch_size])
                                for i in range(0, len(stem_val), cfg.eval_batch_size)])
        return net, logits, self._inputs(data, seed)[2]

    def evaluate(self, spec: ArchSpec, data: ProxyData, *, seed: int, report: Report | None = None) -> EvalResult:
        """Score `spec` by its inherited weights; `report` is not called (nothing is trained, nothing to prune)."""
        start = time.perf_counter()
        net, logits, labels = self.predictions(spec, data, seed)
        acc = int((logits.argmax(1) == labels).sum()) / max(1, len(labels))
        sf = self.loaded.file
        return EvalResult(evaluator=self.name, kind=self.kind, metric=self.metric, accuracy=acc, score=acc, seed=seed,
                          steps=0, epochs=float(sf.epochs_done), train_seconds=time.perf_counter() - start,
                          history=((0, acc),), params_m=params_m(net), proxy_arch_id=net.spec.arch_id,
                          train_examples=sf.task.train_examples)


def stem_length(blocks: tuple[Block, ...]) -> int:
    """How many leading blocks of a path come before its first unit (its stem: convolutions and pooling)."""
    return next((i for i, b in enumerate(blocks) if isinstance(b, ShuffleUnit)), len(blocks))


__all__ = ["LoadedSupernet", "SupernetConfig", "SupernetEvaluator", "load_supernet"]

"""The proxy task: how accuracy is estimated on a dataset (resolution, channels, normalisation, fixed splits)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from nas.data.dataset import Dataset
from nas.data.errors import DatasetError
from nas.data.split import TensorSplit, stratified_split, stratified_subset

DEFAULT_RESOLUTION = 32
DEFAULT_CHANNELS = 3
DEFAULT_VAL_FRACTION = 0.1
MIN_PROXY_RESOLUTION = 8
MAX_PROXY_RESOLUTION = 1024
#: ITU-R 601 luma weights for RGB -> gray.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
_STATS_CHUNK = 4096  # images per chunk when computing normalisation statistics

# Independent random streams derived from one seed, so a larger subset never changes the split.
_SPLIT, _TRAIN, _VAL, _TEST = range(4)


@dataclass(frozen=True)
class ProxyTask:
    """Recipe of the proxy: dataset spec, square `resolution` (px), network `channels`, split sizes, seed, mean/std.

    `mean`/`std` are per output channel in [0, 1] pixel units; `apply` maps uint8 (B, C, H, W) to normalised float32
    (B, channels, resolution, resolution): bilinear resize (antialiased when shrinking), gray replicated to 3
    channels (RGB averaged with luma weights to 1).
    """

    dataset: str
    resolution: int
    channels: int
    num_classes: int
    train_examples: int
    val_examples: int
    test_examples: int
    val_fraction: float
    seed: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source_channels: int

    def __post_init__(self) -> None:
        if not MIN_PROXY_RESOLUTION <= self.resolution <= MAX_PROXY_RESOLUTION:
            raise DatasetError(f"bad proxy resolution {self.resolution}: must be between "
                               f"{MIN_PROXY_RESOLUTION} and {MAX_PROXY_RESOLUTION} pixels")
        for name, value in (("channels", self.channels), ("source_channels", self.source_channels)):
            if value not in (1, 3):
                raise DatasetError(f"bad proxy {name} {value}: must be 1 or 3")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise DatasetError(f"proxy mean/std need {self.channels} values, got {len(self.mean)}/{len(self.std)}")
        if any(not (s > 0 and math.isfinite(s)) for s in self.std):
            raise DatasetError(f"proxy std {self.std} must be positive")
        if self.num_classes < 1:
            raise DatasetError(f"bad number of classes {self.num_classes}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the proxy (tuples as lists)."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProxyTask:
        """Inverse of to_dict; a missing or unknown key raises DatasetError."""
        names = {f.name for f in fields(cls)}
        missing, extra = sorted(names - set(d)), sorted(set(d) - names)
        if missing or extra:
            raise DatasetError(f"bad proxy record: missing {missing}, unknown {extra}")
        kw = dict(d)
        kw["mean"], kw["std"] = tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"])
        return cls(**kw)

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float32 (B, channels, resolution, resolution), normalised, on images' device."""
        if images.dim() != 4 or images.shape[1] != self.source_channels:
            raise ValueError(f"expected (B, {self.source_channels}, H, W) images, got {tuple(images.shape)}")
        x = images.to(torch.float32) / 255.0
        x = resize(x, self.resolution)
        x = convert_channels(x, self.channels)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bilinear resize of float (B, C, H, W) to (B, C, resolution, resolution); antialiased when shrinking."""
    h, w = x.shape[-2:]
    if (h, w) == (resolution, resolution):
        return x
    shrink = resolution < h or resolution < w
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=shrink)


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Float (B, C, H, W) -> (B, channels, H, W): 1 -> 3 replicates (a view), 3 -> 1 takes luma, equal is a no-op."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        w = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot map {c} channels to {channels}")


def channel_stats(split: TensorSplit, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-output-channel pixel mean and std ([0, 1] units) of a split at its stored size; float64, chunked."""
    if len(split) == 0:
        raise DatasetError("cannot compute normalisation statistics of an empty training split")
    total = torch.zeros(channels, dtype=torch.float64)
    total_sq = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for start in range(0, len(split), _STATS_CHUNK):
        x = split.images[start:start + _STATS_CHUNK].to("cpu", torch.float64).div_(255.0)
        x = convert_channels(x, channels)
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0.0)
    std = var.sqrt().clamp_min(1e-6)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@dataclass(frozen=True, eq=False)
class ProxyData:
    """The proxy's fixed splits: `train` and `val` carved from the training set, `test` for final reports only."""

    task: ProxyTask
    train: TensorSplit
    val: TensorSplit
    test: TensorSplit | None
    class_names: tuple[str, ...]


def _stream(seed: int, which: int) -> np.random.Generator:
    return np.random.default_rng([seed, which])


def _limit(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise DatasetError(f"bad {name} {value}: must be at least 1 (or unset for all)")


def prepare_proxy(
    dataset: Dataset,
    resolution: int = DEFAULT_RESOLUTION,
    channels: int = DEFAULT_CHANNELS,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    max_train: int | None = None,
    max_val: int | None = None,
    max_test: int | None = None,
    seed: int = 0,
    normalize: bool = True,
) -> ProxyData:
    """Fixed stratified train/val split of dataset.train (seeded), optional class-stratified limits, and the ProxyTask.

    Normalisation mean/std come from the (limited) training split unless `normalize` is False (then 0 / 1).
    """
    for name, value in (("max_train", max_train), ("max_val", max_val), ("max_test", max_test)):
        _limit(name, value)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DatasetError(f"bad seed {seed!r}: must be an integer")
    seed = int(seed)
    labels = dataset.train.labels.cpu().numpy()
    train_idx, val_idx = stratified_split(labels, val_fraction, _stream(seed, _SPLIT))
    if max_train is not None:
        train_idx = train_idx[stratified_subset(labels[train_idx], max_train, _stream(seed, _TRAIN))]
    if max_val is not None:
        val_idx = val_idx[stratified_subset(labels[val_idx], max_val, _stream(seed, _VAL))]
    train, val = dataset.train.select(train_idx), dataset.train.select(val_idx)
    test = dataset.test.take(max_test, _stream(seed, _TEST)) if dataset.test is not None else None
    if normalize:
        mean, std = channel_stats(train, channels)
    else:
        mean, std = (0.0,) * channels, (1.0,) * channels
    task = ProxyTask(
        dataset=dataset.spec, resolution=resolution, channels=channels, num_classes=dataset.num_classes,
        train_examples=len(train), val_examples=len(val), test_examples=len(test) if test is not None else 0,
        val_fraction=val_fraction, seed=seed, mean=mean, std=std, source_channels=dataset.channels,
    )
    return ProxyData(task=task, train=train, val=val, test=test, class_names=dataset.class_names)


def prepare_from_task(dataset: Dataset, task: ProxyTask) -> ProxyData:
    """Rebuild the splits a recorded ProxyTask describes; raises DatasetError if the dataset no longer matches it."""
    if dataset.spec != task.dataset:
        raise DatasetError(f"proxy was recorded on {task.dataset}, not {dataset.spec}")
    data = prepare_proxy(
        dataset, task.resolution, task.channels, task.val_fraction, task.train_examples, task.val_examples,
        task.test_examples or None, task.seed, normalize=False,
    )
    got = data.task
    if (got.train_examples, got.val_examples, got.num_classes) != (task.train_examples, task.val_examples,
                                                                   task.num_classes):
        raise DatasetError(f"dataset {dataset.spec} changed since the proxy was recorded (split sizes differ)")
    return ProxyData(task=task, train=data.train, val=data.val, test=data.test, class_names=data.class_names)

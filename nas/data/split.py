"""Tensor-backed dataset splits: uint8 images N x C x H x W plus int64 labels, and their batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

from nas.data.errors import DatasetError

if TYPE_CHECKING:  # only for annotations; proxy imports split, not the other way at run time
    from nas.data.proxy import ProxyTask

Seed = int | np.random.Generator


def as_generator(seed: Seed) -> np.random.Generator:
    """A numpy Generator from an int seed (or the Generator itself)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@dataclass(frozen=True, eq=False)
class TensorSplit:
    """One split held in memory: `images` uint8 (N, C, H, W), `labels` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be a uint8 N x C x H x W tensor, "
                             f"got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise ValueError(f"labels must be an int64 vector, got {self.labels.dtype} {tuple(self.labels.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def channels(self) -> int:
        """Stored channels C (1 for gray, 3 for RGB)."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """Stored (height, width) in pixels."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def select(self, indices: np.ndarray | torch.Tensor) -> TensorSplit:
        """The examples at `indices` (a copy), in that order."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64)).to(self.labels.device)
        return TensorSplit(self.images.index_select(0, idx), self.labels.index_select(0, idx))

    def take(self, max_examples: int | None, seed: Seed = 0) -> TensorSplit:
        """At most `max_examples` examples, class-stratified, fixed for a seed; all of them when None or larger."""
        if max_examples is None or max_examples >= len(self):
            return self
        return self.select(stratified_subset(self.labels.cpu().numpy(), max_examples, seed))

    def to(self, device: torch.device | str) -> TensorSplit:
        """The same split with its tensors on `device` (uint8 stays uint8)."""
        return TensorSplit(self.images.to(device), self.labels.to(device))

    def class_counts(self, num_classes: int) -> np.ndarray:
        """Examples per class, int64 (num_classes,)."""
        return np.bincount(self.labels.cpu().numpy(), minlength=num_classes)

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        seed: Seed = 0,
        proxy: ProxyTask | None = None,
        device: torch.device | str | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (images, labels) per batch; with `proxy`, images are float32 (B, channels, res, res) made on the fly.

        Without a proxy the images are the stored uint8 (B, C, H, W). `shuffle` draws one fixed permutation from `seed`.
        """
        for idx in self.batch_indices(batch_size, shuffle, seed, drop_last):
            yield self.batch_at(idx, proxy, device)

    def batch_indices(self, batch_size: int, shuffle: bool = False, seed: Seed = 0,
                      drop_last: bool = False) -> Iterator[torch.Tensor]:
        """The int64 indices of each batch `batches` yields (the same arguments give the same batches)."""
        if batch_size < 1:
            raise DatasetError(f"bad batch size {batch_size}: must be at least 1")
        n = len(self)
        order = as_generator(seed).permutation(n) if shuffle else np.arange(n)
        order_t = torch.as_tensor(order, dtype=torch.int64).to(self.labels.device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield order_t[start:start + batch_size]

    def batch_at(self, idx: torch.Tensor, proxy: ProxyTask | None = None,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of the examples at `idx`, made as `batches` makes them."""
        images = self.images.index_select(0, idx)
        labels = self.labels.index_select(0, idx)
        if device is not None:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
        return (proxy.apply(images) if proxy is not None else images), labels


def stratified_split(labels: np.ndarray, val_fraction: float, seed: Seed) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (train, val) index arrays, sorted and disjoint; each class gives round(val_fraction x its count) to val."""
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"bad validation fraction {val_fraction}: must be in [0, 1)")
    labels = np.asarray(labels)
    rng = as_generator(seed)
    val_parts = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        k = int(round(val_fraction * len(members)))
        if k >= len(members) and len(members) > 0 and val_fraction > 0:
            k = len(members) - 1  # keep at least one training example of every class
        val_parts.append(rng.permutation(members)[:k])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask).astype(np.int64), val.astype(np.int64)


def stratified_subset(labels: np.ndarray, k: int, seed: Seed) -> np.ndarray:
    """Sorted indices of `k` examples in class proportion, fixed for a seed (k >= len gives all)."""
    labels = np.asarray(labels)
    if k < 0:
        raise DatasetError(f"bad example limit {k}: must be non-negative")
    n = len(labels)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    rng = as_generator(seed)
    perm = rng.permutation(n)
    # Rank of each example within its class in the permuted order, as a fraction of the class size:
    # taking the k smallest fractions keeps the class proportions (ties broken by the permutation).
    key = np.empty(n, dtype=np.float64)
    perm_labels = labels[perm]
    for cls in np.unique(labels):
        where = np.flatnonzero(perm_labels == cls)
        key[perm[where]] = (np.arange(len(where)) + 0.5) / len(where)
    tie = np.empty(n, dtype=np.int64)
    tie[perm] = np.arange(n)
    chosen = np.lexsort((tie, key))[:k]
    return np.sort(chosen).astype(np.int64)

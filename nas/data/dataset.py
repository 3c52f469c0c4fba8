"""Dataset: a loaded image-classification dataset (training split, optional test split, metadata)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nas.data.errors import DatasetError
from nas.data.split import TensorSplit


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images in memory: `train` (source of train/val), `test` (final reports only; None when the source has none)."""

    spec: str
    kind: str
    source: str
    class_names: tuple[str, ...]
    train: TensorSplit
    test: TensorSplit | None

    def __post_init__(self) -> None:
        parts = [("train", self.train)] + ([("test", self.test)] if self.test is not None else [])
        for name, split in parts:
            if split.channels != self.train.channels or split.image_size != self.train.image_size:
                raise ValueError(f"{name} split is {split.channels} x {split.image_size}, train is "
                                 f"{self.train.channels} x {self.train.image_size}")
            if len(split) and int(split.labels.max()) >= self.num_classes:
                raise ValueError(f"{name} split has label {int(split.labels.max())} >= {self.num_classes} classes")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        """Stored channels (1 gray, 3 RGB)."""
        return self.train.channels

    @property
    def image_size(self) -> tuple[int, int]:
        """Stored (height, width) in pixels."""
        return self.train.image_size

    def require_test(self) -> TensorSplit:
        """The test split, or a DatasetError saying the source has none."""
        if self.test is None:
            raise DatasetError(f"dataset {self.spec} has no test split (a folder needs train/ and test/ sub-folders)")
        return self.test

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: spec, source, sizes, classes, channels, image size."""
        return {
            "spec": self.spec,
            "kind": self.kind,
            "source": self.source,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "channels": self.channels,
            "image_size": list(self.image_size),
            "train_examples": len(self.train),
            "test_examples": len(self.test) if self.test is not None else 0,
        }

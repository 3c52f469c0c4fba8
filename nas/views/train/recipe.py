"""The final-training recipe: optimiser, cosine schedule with linear warm-up, label smoothing, light augmentation.

Defaults (a standard from-scratch recipe for small-image classification, as used for CIFAR-size ShuffleNet /
MobileNet training): SGD, Nesterov momentum 0.9, lr 0.1 at batch 128 (scaled linearly with the batch size),
weight decay 5e-4 on conv / linear weights only, 5 % of the steps of linear warm-up then cosine decay to 0, label
smoothing 0.1; AdamW: lr 2e-3 at batch 128, weight decay 0.05. Augmentation by dataset: random crop with zero
(black) padding of resolution / 8 px on each side, plus a horizontal flip for natural images and Fashion-MNIST
(clothes are left/right symmetric), no flip for digits (mnist, idx). The step schedule and the optimiser reuse
nas.evaluators.training (`lr_at`, `make_optimizer`), so the search's short training and the final training differ
only in budget and augmentation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from nas.data.registry import parse_spec
from nas.evaluators.training import OPTIMIZERS, TrainingConfig

from nas.views.train.errors import TrainError

AUGMENTS = ("auto", "none", "crop", "crop+flip")
#: Dataset kinds whose images must not be mirrored (digits).
NO_FLIP_KINDS = ("mnist", "idx")
REFERENCE_BATCH = 128
DEFAULT_LR = {"sgd": 0.1, "adamw": 2e-3}  # at REFERENCE_BATCH
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 0.05}


def augment_for(dataset: str) -> str:
    """The augmentation "auto" means for a dataset spec: crop+flip, or crop only for digits."""
    return "crop" if parse_spec(dataset).kind in NO_FLIP_KINDS else "crop+flip"


@dataclass(frozen=True)
class Recipe:
    """How the final network trains: `epochs` passes over the training split in batches of `batch_size`.

    `lr` is the peak learning rate (reached after `warmup_fraction` of the steps), `weight_decay` applies to conv /
    linear weights; None takes the optimiser's default (module docstring). `augment`: "auto" (by dataset), "none",
    "crop" or "crop+flip"; `crop_padding` px per side (None: resolution // 8). `resolved` fills every None.
    `bn_recalibration` training images (a fixed draw, not augmented) re-estimate the BatchNorm statistics before
    every evaluation and so in the final weights: in a short run the running averages lag the weights far enough
    to put eval-mode accuracy at chance (measured: 0.10 -> 0.46 after 2 short epochs); 0 keeps the running averages.
    """

    epochs: int
    batch_size: int = REFERENCE_BATCH
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float | None = None
    warmup_fraction: float = 0.05
    label_smoothing: float = 0.1
    augment: str = "auto"
    crop_padding: int | None = None
    eval_batch_size: int = 500
    bn_recalibration: int = 1024
    channels_last: bool = True

    def __post_init__(self) -> None:
        def need(ok: bool, option: str, problem: str) -> None:
            if not ok:
                raise TrainError(f"--{option}: {problem}")

        need(_is_int(self.epochs) and self.epochs >= 1, "epochs", f"{self.epochs!r} must be an integer >= 1")
        need(_is_int(self.batch_size) and self.batch_size >= 2, "batch-size",
             f"{self.batch_size!r} must be an integer >= 2 (BatchNorm)")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"{self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        need(self.lr is None or self.lr > 0, "lr", f"{self.lr!r} must be positive")
        need(self.weight_decay is None or self.weight_decay >= 0, "weight-decay",
             f"{self.weight_decay!r} must be non-negative")
        need(0.0 <= self.momentum < 1.0, "momentum", f"{self.momentum!r} must be in [0, 1)")
        need(0.0 <= self.warmup_fraction < 1.0, "warmup", f"{self.warmup_fraction!r} must be in [0, 1)")
        need(0.0 <= self.label_smoothing < 1.0, "label-smoothing", f"{self.label_smoothing!r} must be in [0, 1)")
        need(self.augment in AUGMENTS, "augment", f"{self.augment!r} is not one of {', '.join(AUGMENTS)}")
        need(_is_int(self.bn_recalibration) and self.bn_recalibration >= 0, "bn-recalibration",
             f"{self.bn_recalibration!r} must be an integer >= 0")
        need(self.crop_padding is None or (_is_int(self.crop_padding) and self.crop_padding >= 0), "crop-padding",
             f"{self.crop_padding!r} must be an integer >= 0")

    def resolved(self, dataset: str, resolution: int) -> "Recipe":
        """Every default filled in for a dataset spec and an input resolution (px): what a checkpoint records."""
        return replace(
            self,
            lr=self.lr if self.lr is not None else DEFAULT_LR[self.optimizer] * self.batch_size / REFERENCE_BATCH,
            weight_decay=self.weight_decay if self.weight_decay is not None else DEFAULT_WEIGHT_DECAY[self.optimizer],
            augment=augment_for(dataset) if self.augment == "auto" else self.augment,
            crop_padding=self.crop_padding if self.crop_padding is not None else max(1, resolution // 8))

    @property
    def flip(self) -> bool:
        return self.augment == "crop+flip"

    @property
    def padding(self) -> int:
        """Crop padding in px per side (0 when there is no crop)."""
        return 0 if self.augment in ("none", "auto") else int(self.crop_padding or 0)

    def training_config(self, threads: int = 1) -> TrainingConfig:
        """The same optimiser and schedule as the search's short-training evaluator (for make_optimizer / lr_at)."""
        if self.lr is None or self.weight_decay is None:
            raise ValueError("resolve the recipe first (Recipe.resolved)")
        return TrainingConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
                              momentum=self.momentum, nesterov=self.nesterov, weight_decay=self.weight_decay,
                              warmup_fraction=self.warmup_fraction, label_smoothing=self.label_smoothing,
                              eval_every=None, eval_batch_size=self.eval_batch_size, bn_recalibration=0,
                              threads=threads, channels_last=self.channels_last)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Recipe":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

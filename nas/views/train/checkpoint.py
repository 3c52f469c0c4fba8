"""Training files: the per-epoch checkpoint and the final weights (torch files read with weights_only=True), and
metrics.json; every write is atomic (a temporary file in the same folder, fsync, rename), so an interruption at
any moment leaves the previous complete file.

Layout of a training folder DIR (`nas train --out DIR`):

    DIR/checkpoint.pt   after every epoch: model (training form), optimiser, scheduler, RNG state, history
    DIR/final.pt        at the end: trained network spec + weights (training form) + run record + test accuracy
    DIR/metrics.json    per-epoch train loss / val accuracy / seconds, final test accuracy, total seconds
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from search_space.fileio import atomic_write
from search_space.spec import NetSpec, SpecError, spec_from_json

from nas.data.proxy import ProxyTask
from nas.evaluators.supernet.distill import Teacher
from nas.evaluators.supernet.store import file_sha256
from nas.views.train.errors import TrainError
from nas.views.train.setup import RunSetup

CHECKPOINT_FILE = "checkpoint.pt"
FINAL_FILE = "final.pt"
METRICS_FILE = "metrics.json"
FORMAT_CHECKPOINT = "shufflenas-train-checkpoint"
FORMAT_FINAL = "shufflenas-trained-weights"
VERSION = 1


def save_torch(obj: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda p: torch.save(obj, p))


def save_json(obj: Any, path: Path) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=str) + "\n"))


def read_torch(path: Path) -> dict[str, Any]:
    """A torch file of `nas train` (CPU tensors); TrainError in one line when it is missing or not one."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise TrainError(f"{path} is a folder, not a weights file") from None
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, pickled code (refused by weights_only)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"cannot read {path}: not a weights file of `nas train` ({first[:160]})") from None
    if not isinstance(obj, dict) or obj.get("format") not in (FORMAT_CHECKPOINT, FORMAT_FINAL):
        raise TrainError(f"{path} is not a checkpoint or final weights file of `nas train`")
    if obj.get("version") != VERSION:
        raise TrainError(f"{path} has format version {obj.get('version')!r}; this version reads {VERSION}")
    return obj


@dataclass(frozen=True, eq=False)
class TrainedWeights:
    """Weights from `nas train`: `spec` is the network trained (the proxy network), `state_dict` its training form.

    `final` is True for final.pt (whole recipe done, `test_accuracy` measured), False for a checkpoint
    (`epochs_done` of `setup.recipe.epochs`).
    """

    path: Path
    spec: NetSpec
    state_dict: dict[str, torch.Tensor]
    setup: RunSetup
    task: ProxyTask
    class_names: tuple[str, ...]
    epochs_done: int
    final: bool
    test_accuracy: float | None
    val_accuracy: float | None

    def describe(self) -> str:
        """One line, e.g. 'trained 30/30 epochs on fashion-mnist at 32 px, test accuracy 0.9123 (DIR/final.pt)'."""
        acc = f", test accuracy {self.test_accuracy:.4f}" if self.test_accuracy is not None else \
            (f", val accuracy {self.val_accuracy:.4f}" if self.val_accuracy is not None else "")
        return (f"trained {self.epochs_done}/{self.setup.recipe.epochs} epochs on {self.setup.dataset} at "
                f"{self.setup.resolution} px{acc} ({self.path})")


def weights_record(obj: dict[str, Any], path: Path) -> TrainedWeights:
    """TrainedWeights of a loaded checkpoint / final file; TrainError when a field is damaged."""
    try:
        spec = spec_from_json(obj["spec"])
        setup = RunSetup.from_dict(json.loads(obj["setup"]))
        task = ProxyTask.from_dict(json.loads(obj["task"]))
        history = obj.get("history") or []
        state = obj["state_dict"] if obj["format"] == FORMAT_FINAL else obj["model"]
        return TrainedWeights(path=path, spec=spec, state_dict=state, setup=setup, task=task,
                              class_names=tuple(obj.get("class_names") or ()), epochs_done=int(obj["epochs_done"]),
                              final=obj["format"] == FORMAT_FINAL, test_accuracy=obj.get("test_accuracy"),
                              val_accuracy=history[-1]["val_accuracy"] if history else None)
    except (KeyError, TypeError, ValueError, SpecError) as exc:
        if isinstance(exc, TrainError):
            raise
        raise TrainError(f"{path}: damaged weights file ({type(exc).__name__}: {exc})") from None


def load_weights(path: str | Path) -> TrainedWeights:
    """Weights of `nas train`: DIR (its final.pt, else its checkpoint.pt), DIR/final.pt or DIR/checkpoint.pt."""
    p = Path(path)
    if p.is_dir():
        for name in (FINAL_FILE, CHECKPOINT_FILE):
            if (p / name).is_file():
                p = p / name
                break
        else:
            raise TrainError(f"{p} holds no {FINAL_FILE} or {CHECKPOINT_FILE} (train with `nas train --out {p}`)")
    return weights_record(read_torch(p), p)


def load_teacher(path: str | Path, sha256: str | None = None) -> Teacher:
    """The network a supernet distils from (`nas supernet train --teacher`): a finished `nas train` run (DIR or its
    final.pt); with `sha256`, the file must still be the one recorded (TrainError otherwise)."""
    weights = load_weights(path)
    if not weights.final:
        raise TrainError(f"--teacher {path}: {weights.describe()}; a teacher must be a finished run (its final.pt)")
    digest = file_sha256(weights.path)
    if sha256 is not None and digest != sha256:
        raise TrainError(f"--teacher {weights.path} has changed since the supernet started distilling from it (sha256 "
                         f"{digest[:16]}... instead of {sha256[:16]}...)")
    return Teacher(path=weights.path.absolute(), sha256=digest, spec=weights.spec, state_dict=weights.state_dict,
                   task=weights.task)

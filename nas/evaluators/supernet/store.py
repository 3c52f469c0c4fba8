"""The supernet file: weights, what they were trained on, and the training state, in one torch file.

One file (`nas supernet train --out FILE`) is both the per-epoch checkpoint and the result: after every epoch it is
rewritten atomically (temporary sibling, fsync, rename) with the supernet's weights, the search space and proxy task
it was trained on, the run's settings, the per-epoch history and the optimiser / RNG state a resume needs. It holds
only tensors, numbers, strings, lists and dicts and is read with `torch.load(weights_only=True)` (no pickled code),
memory-mapped, so an evaluator that only needs the weights never reads the optimiser's pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from search_space.errors import UserError
from search_space.fileio import atomic_write, file_sha256
from search_space.space import SearchSpace

from nas.data.errors import DatasetError
from nas.data.proxy import ProxyTask
from nas.evaluators.supernet.model import Supernet, space_from_dict, space_to_dict

FORMAT = "shufflenas-supernet"
VERSION = 3  # 2: one UnitBlock per unit position (variants and kernels in shared weights); 3: input channels by id


class SupernetFileError(UserError):
    """A supernet file that is missing, unreadable, damaged or of another format; one line."""


@dataclass(frozen=True, eq=False)
class SupernetFile:
    """A read supernet file: what it was trained on (`space`, `task`, `run`: the settings of `nas supernet train`),
    how far (`epochs_done` of `epochs`, `history`), and the raw record (`raw`: state dict, optimiser, RNG)."""

    path: Path
    space: SearchSpace
    task: ProxyTask
    run: dict[str, Any]
    class_names: tuple[str, ...]
    epochs_done: int
    epochs: int
    step: int
    history: tuple[dict[str, Any], ...]
    seconds: float
    raw: Mapping[str, Any]

    @property
    def complete(self) -> bool:
        return self.epochs_done >= self.epochs

    def build(self, device: str | torch.device = "meta") -> Supernet:
        """The supernet module with this file's weights (assigned, not copied: memory-mapped tensors stay mapped)."""
        with torch.device(device):
            net = Supernet(self.space, self.task, seed=0)
        try:
            net.load_state_dict(self.raw["state_dict"], strict=True, assign=True)
        except (RuntimeError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SupernetFileError(f"{self.path}: the weights do not fit the recorded search space ({first[:160]})"
                                    ) from None
        return net.eval()

    def describe(self) -> str:
        """One line: 'supernet over <space> trained 3/3 epochs on fashion-mnist at 32 px (4000 images) (FILE)'."""
        budget = f", paths within {self.run['budget_ms']:g} ms on {self.run['platform']}" \
            if self.run.get("budget_ms") else ", uniform paths"
        if self.run.get("teacher"):
            budget += f", distilled from {self.run['teacher']}"
        if self.run.get("split"):
            budget += f", part {self.run.get('part', 0)} of {self.run['split']}"
        if self.run.get("init_from"):
            budget += f", started from {self.run['init_from']}"
        return (f"supernet over the {self.space.name} space trained {self.epochs_done}/{self.epochs} epochs on "
                f"{self.task.dataset} at {self.task.resolution} px ({self.task.train_examples} images{budget}) "
                f"({self.path})")


def record(net: Supernet, class_names: tuple[str, ...], run: Mapping[str, Any], *, epochs_done: int, epochs: int,
           step: int, history: list[dict[str, Any]], seconds: float, optimizer: Mapping[str, Any],
           resumed_at: list[int]) -> dict[str, Any]:
    """The content of a supernet file (see the module docstring)."""
    return {"format": FORMAT, "version": VERSION, "state_dict": net.state_dict(),
            "space": json.dumps(space_to_dict(net.space)), "task": json.dumps(net.task.to_dict()),
            "class_names": list(class_names), "run": json.dumps(dict(run)), "epochs_done": epochs_done,
            "epochs": epochs, "step": step, "history": list(history), "seconds": seconds, "optimizer": optimizer,
            "rng_torch": torch.get_rng_state(), "resumed_at": list(resumed_at)}


def save(obj: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda p: torch.save(obj, p))


def read(path: str | Path, mmap: bool = True) -> SupernetFile:
    """A supernet file; SupernetFileError in one line when it is missing, unreadable or not one."""
    p = Path(path).expanduser()
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise SupernetFileError(f"no such supernet file: {p} (train one with `nas supernet train --out {p}`)") from None
    except IsADirectoryError:
        raise SupernetFileError(f"{p} is a folder, not a supernet file") from None
    except PermissionError:
        raise SupernetFileError(f"cannot read {p}: permission denied") from None
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, pickled code (refused by weights_only)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SupernetFileError(f"cannot read {p}: not a supernet file of `nas supernet train` ({first[:160]})"
                                ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise SupernetFileError(f"{p} is not a supernet file of `nas supernet train`")
    if obj.get("version") != VERSION:
        raise SupernetFileError(f"{p} has supernet format version {obj.get('version')!r}; this version reads {VERSION} "
                                f"(its weights have another layout: train it again with `nas supernet train`)")
    try:
        return SupernetFile(path=p, space=space_from_dict(json.loads(obj["space"])),
                            task=ProxyTask.from_dict(json.loads(obj["task"])), run=json.loads(obj["run"]),
                            class_names=tuple(obj.get("class_names") or ()), epochs_done=int(obj["epochs_done"]),
                            epochs=int(obj["epochs"]), step=int(obj["step"]),
                            history=tuple(obj.get("history") or ()), seconds=float(obj.get("seconds", 0.0)), raw=obj)
    except (KeyError, TypeError, ValueError, DatasetError) as exc:
        raise SupernetFileError(f"{p}: damaged supernet file ({type(exc).__name__}: {exc})") from None

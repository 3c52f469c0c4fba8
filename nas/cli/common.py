"""Shared CLI helpers: resolving NAME|SPEC.json, JSON output, the console."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn

from search_space.errors import UserError
from search_space.references import NETWORKS
from search_space.spec import MAX_RESOLUTION, MIN_RESOLUTION, NetSpec, SpecError, spec_from_json


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def load_net(ref: str, resolution: int | None = None, num_classes: int | None = None) -> NetSpec:
    """A registered network name or a path to a spec JSON file, optionally resized / re-headed."""
    if ref in NETWORKS:
        spec = NETWORKS.get(ref).spec()
    elif ref.endswith(".json") or Path(ref).exists():
        path = Path(ref)
        try:
            text = path.read_text()
        except OSError as exc:
            raise UserError(f"cannot read {ref}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UserError(f"cannot read {ref}: not a text (JSON) file") from None
        try:
            spec = spec_from_json(text)
        except SpecError as exc:
            raise UserError(f"{ref}: invalid architecture: {exc}") from None
    else:
        raise UserError(f"unknown network {ref!r}: not a registered name (see `nas arch list`) nor a spec file")
    if resolution is not None:
        if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
            raise UserError(f"bad resolution {resolution}: must be between {MIN_RESOLUTION} and {MAX_RESOLUTION}")
        spec = spec.with_resolution(resolution)
    if num_classes is not None:
        if num_classes < 1:
            raise UserError(f"bad number of classes {num_classes}: must be at least 1")
        spec = spec.with_classes(num_classes)
    return spec


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


class ProgressBar:
    """A rich progress bar on stderr, fed by progress(done, total, label) callbacks of long library calls."""

    def __init__(self, enabled: bool = True, description: str = "working"):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True, disable=not enabled)
        self.description = description
        self.task: Any = None

    def __call__(self, done: int, total: int, label: str) -> None:
        if self.task is None:
            self.task = self.progress.add_task(self.description, total=total)
        self.progress.update(self.task, completed=done, total=total, description=label[:60])

    def __enter__(self) -> "ProgressBar":
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

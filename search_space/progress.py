"""The progress callback every long-running step takes (measuring, fitting, searching, training, experiments)."""

from __future__ import annotations

from typing import Callable

#: progress(done, total, label): called as work advances; the CLI draws its progress bar from it.
ProgressFn = Callable[[int, int, str], None]

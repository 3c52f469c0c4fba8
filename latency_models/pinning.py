"""Thread pinning while timing: single-thread measurements run on one fixed core where the OS allows it.

Linux (and Android) offer `os.sched_setaffinity`; there a single-thread measurement is pinned to one core
of the process's allowed set (the last one, since core 0 usually takes most interrupts) so the scheduler
does not migrate it between cores mid-run, and the previous affinity is restored afterwards. On macOS and
Windows there is no such call and the context does nothing. Multi-thread platforms are not pinned: their
worker threads would all be squeezed onto the one core.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


def pinning_supported() -> bool:
    return hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


def pin_core(allowed: set[int]) -> int:
    """The core a single-thread measurement is pinned to: the highest-numbered allowed core."""
    return max(allowed)


@contextmanager
def pinned(threads: int) -> Iterator[int | None]:
    """Pin the calling thread to one core while the block runs when `threads` == 1; yields the core or None."""
    if threads != 1 or not pinning_supported():
        yield None
        return
    try:
        before = os.sched_getaffinity(0)
        core = pin_core(before)
        os.sched_setaffinity(0, {core})
    except OSError:  # not permitted (some containers / sandboxes): measure unpinned
        yield None
        return
    try:
        yield core
    finally:
        try:
            os.sched_setaffinity(0, before)
        except OSError:
            pass

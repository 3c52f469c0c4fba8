"""What the Ray scenarios share: finding the worker processes that run Tune trials of `nas search`.

Tune runs the function trainable nas.search.backends.ray_backend.ray_trial (wrapped by tune.with_parameters and
tune.with_resources) in an actor of class ImplicitFunc (ray.tune.trainable.function_trainable.wrap_function):
its worker process is titled `ray::IDLE` before the actor is placed on it, `ray::ImplicitFunc` while the actor is
idle and `ray::ImplicitFunc.train` while it runs the trial (Ray 2.60; seen in the scenarios' `titles_seen`).
`ray::ray_trial...` is accepted too, for Ray versions that name the class after the function.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.infra._proc import ProcInfo
from tests.infra.netns import print_result
from tests.infra.ray_cluster import RayCluster
from tests.nas.search.scenarios.common import log_tail, summarize, wait_search

#: Title prefixes of the worker processes that run a Tune function trainable.
TRIAL_TITLES = ("ray::ImplicitFunc", "ray::ray_trial")


def trial_workers(cluster: RayCluster) -> list[ProcInfo]:
    """Worker processes of the cluster that run a Tune trial (by title, TRIAL_TITLES)."""
    return [p for p in cluster.worker_processes() if p.title.startswith(TRIAL_TITLES)]


class TitleLog:
    """The distinct titles of the cluster's worker processes, in the order first seen (for the report)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def see(self, cluster: RayCluster) -> None:
        for p in cluster.worker_processes():
            if p.title not in self.seen:
                self.seen.append(p.title)


def worker_cwd(pid: int) -> str | None:
    """The working folder of a process (Tune runs a trial in its trial folder), or None when it is gone."""
    import os

    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def trial_of_worker_dir(path: str | None) -> int | None:
    """The study trial number a Tune trial worker runs, read from its working folder's name, which carries the
    trial's config (`..._optuna_trial=7,head_width=...`: the NUMBER_KEY the Ray backend adds), or None."""
    found = re.search(r"optuna_trial=(\d+)", path or "")
    return int(found.group(1)) if found else None


def finish_search(result: dict, proc: Any, cluster: RayCluster, titles: TitleLog, probe: Any, before: Any) -> None:
    """Wait (at most 240 s) for the search `proc` to end on its own, then record its exit code, the study
    before the fault (`before`) and at the end, the counted trials and the worker titles seen."""
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        titles.see(cluster)
        time.sleep(0.5)
    result["exit_code"] = wait_search(proc, max(1.0, deadline - time.monotonic()))
    result["before"] = before
    result["final"] = summarize(probe.trials())
    result["counted_final"] = probe.counted_trials()
    result["titles_seen"] = titles.seen


def report(result: dict, started: float, log: Path) -> int:
    """Print the scenario's result line (with its wall time and the search's log tail); exit status 0."""
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["logs"] = log_tail(log, 6000)
    print_result(result)
    return 0

"""Scenario (run in a private network namespace): `nas search --backend ray` on a two-node RayCluster; while
trials train, SIGKILL one Ray trial worker process; the search must finish on its own.

    python -m tests.nas.search.scenarios.ray_worker_kill DATA_DIR WORK_DIR [TRIALS] [WORKERS]

Prints SCENARIO_RESULT with the study before the kill and at the end (summaries), the trials running at the kill,
the search's exit code, the killed process (pid, title, working folder and the study trial it ran) and the worker
titles seen.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path

from tests.infra.ray_cluster import RayCluster
from tests.nas.search.scenarios.common import (StudyProbe, counted_of, running_now, search_argv, search_env,
                                               start_search, stop_search, summarize, wait_for)
from tests.nas.search.scenarios.ray_common import (TitleLog, finish_search, report, trial_of_worker_dir,
                                                   trial_workers, worker_cwd)


def main(argv: list[str]) -> int:
    data_dir, work = argv[0], Path(argv[1])
    trials_n = int(argv[2]) if len(argv) > 2 else 4
    workers = int(argv[3]) if len(argv) > 3 else 2
    started = time.monotonic()
    result: dict = {"error": None, "trials_n": trials_n}
    log = work / "ray-worker-kill.log"
    storage, name = str(work / "ray-worker-kill.db"), "ray-worker-kill"
    proc = None
    probe = StudyProbe(storage, name)
    titles = TitleLog()
    try:
        with RayCluster() as cluster:
            result["cluster_up_s"] = round(time.monotonic() - started, 1)
            cmd = search_argv(data_dir, storage, name, trials_n, "--backend", "ray", "--ray-address",
                              cluster.address, "--workers", str(workers))
            proc = start_search(cmd, search_env(os.environ["NAS_HOME"]), log)

            def training():
                """A trial worker in its train() call while trials are evaluated, after one trial finished."""
                titles.see(cluster)
                procs = [p for p in trial_workers(cluster) if p.title.endswith(".train")]
                summary = summarize(probe.trials())
                return (procs, summary) if procs and running_now(summary) and counted_of(summary) else None

            for _ in range(5):  # the chosen worker may end its trial between the look and the kill: look again
                victims, before = wait_for(training, 150, "a Ray trial worker running a trial", [proc],
                                           interval=0.1)
                victim = victims[0]
                result["killed_cwd"] = worker_cwd(victim.pid)
                result["killed_trial"] = trial_of_worker_dir(result["killed_cwd"])
                try:
                    os.kill(victim.pid, signal.SIGKILL)
                    break
                except ProcessLookupError:
                    continue
            else:
                raise RuntimeError("every trial worker chosen ended before it could be killed")
            at_kill = summarize(probe.trials())
            result.update(killed={"pid": victim.pid, "title": victim.title}, killed_at_s=round(
                time.monotonic() - started, 1), trial_workers_at_kill=[[p.pid, p.title] for p in victims],
                running_at_fault=sorted(set(running_now(before)) | set(running_now(at_kill))))
            finish_search(result, proc, cluster, titles, probe, before + at_kill)
    except Exception:  # noqa: BLE001 - reported to the test with the logs
        result["error"] = traceback.format_exc()
    finally:
        stop_search(proc)
        probe.close()
    return report(result, started, log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

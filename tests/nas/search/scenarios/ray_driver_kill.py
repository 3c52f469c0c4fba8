"""Scenario (run in a private network namespace): `nas search --backend ray` on a two-node RayCluster; SIGKILL
the search's driver process once a trial has finished while another trains on a Ray worker; then rerun the same
command, which must finish the study.

    python -m tests.nas.search.scenarios.ray_driver_kill DATA_DIR WORK_DIR [TRIALS] [WORKERS]

Prints SCENARIO_RESULT with the study before the kill and at the end (summaries), the trials running at the kill,
the exit code of the rerun, what of the killed driver was left (its process group; its trial workers on the
cluster and how long they lived on) and the worker titles seen.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from tests.infra.ray_cluster import RayCluster
from tests.nas.search.scenarios.common import (StudyProbe, counted_of, running_now, search_argv, search_env,
                                               sigkill_driver, start_search, stop_search, summarize, wait_for)
from tests.nas.search.scenarios.ray_common import TitleLog, finish_search, report, trial_workers


def main(argv: list[str]) -> int:
    data_dir, work = argv[0], Path(argv[1])
    trials_n = int(argv[2]) if len(argv) > 2 else 4
    workers = int(argv[3]) if len(argv) > 3 else 2
    started = time.monotonic()
    result: dict = {"error": None, "trials_n": trials_n}
    log = work / "ray-driver-kill.log"
    storage, name = str(work / "ray-driver-kill.db"), "ray-driver-kill"
    first = second = None
    probe = StudyProbe(storage, name)
    titles = TitleLog()
    try:
        with RayCluster() as cluster:
            result["cluster_up_s"] = round(time.monotonic() - started, 1)
            cmd = search_argv(data_dir, storage, name, trials_n, "--backend", "ray", "--ray-address",
                              cluster.address, "--workers", str(workers))
            env = search_env(os.environ["NAS_HOME"])
            first = start_search(cmd, env, log)

            def training():
                """A trial training on a Ray worker while the study has a finished trial."""
                titles.see(cluster)
                procs = [p for p in trial_workers(cluster) if p.title.endswith(".train")]
                summary = summarize(probe.trials())
                return summary if procs and running_now(summary) and counted_of(summary) else None

            before = wait_for(training, 150, "a trial training after one finished", [first], interval=0.1)
            workers_at_kill = [p.pid for p in trial_workers(cluster)]
            result["driver_group_left"] = sigkill_driver(first)
            result["killed_at_s"] = round(time.monotonic() - started, 1)
            at_kill = summarize(probe.trials())
            result["running_at_fault"] = running_now(at_kill)
            result["trial_workers_at_kill"] = workers_at_kill
            # Ray ends the actors of a job whose driver died (the rerun needs their CPUs): note how long it took
            killed_at = time.monotonic()
            while any(p.pid in workers_at_kill for p in trial_workers(cluster)) and time.monotonic() < killed_at + 60:
                time.sleep(0.2)
            left = [p.pid for p in trial_workers(cluster) if p.pid in workers_at_kill]
            result["old_trial_workers_left"] = left
            result["old_trial_workers_gone_after_s"] = None if left else round(time.monotonic() - killed_at, 1)
            second = start_search(cmd, env, log)
            finish_search(result, second, cluster, titles, probe, before + at_kill)
    except Exception:  # noqa: BLE001 - reported to the test with the logs
        result["error"] = traceback.format_exc()
    finally:
        stop_search(first)
        stop_search(second)
        probe.close()
    return report(result, started, log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

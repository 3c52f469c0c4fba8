"""Scenario (run in a private network namespace): a real PostgreSQL server and two `nas search` processes at once
on its one study, one with `--backend optuna`, one with `--backend ray` (a local Ray, which binds 127.0.0.1); then
the dashboard's reader on the study.

    python -m tests.nas.search.scenarios.shared_postgres DATA_DIR WORK_DIR [TRIALS] [START]

START: "ray-first" (default) starts the optuna one once a Ray trial is being evaluated, so both backends run trials
of the study at the same time; "together" starts both at the same moment, so both also create the storage's
tables and the study and queue its start-up points at once (which test_searches_started_at_once_on_a_new_storage
checks on its own), and the Optuna one may finish the study before Ray has started a trial.

Prints SCENARIO_RESULT with the exit codes, the study at the end (summaries), counted trials and what
nas.views.dashboard.data.load_study_data read (trial numbers of its rows, categories).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from tests.infra.netns import print_result
from tests.infra.postgres import PostgresServer
from tests.nas.search.scenarios.common import (StudyProbe, log_tail, search_argv, search_env, start_search,
                                               stop_search, summarize, wait_for, wait_search)


def main(argv: list[str]) -> int:
    data_dir, work = argv[0], Path(argv[1])
    trials_n = int(argv[2]) if len(argv) > 2 else 6
    start = argv[3] if len(argv) > 3 else "ray-first"
    started = time.monotonic()
    result: dict = {"error": None, "trials_n": trials_n, "start": start, "before": [], "running_at_fault": []}
    logs = {"optuna": work / "shared-optuna.log", "ray": work / "shared-ray.log"}
    name = "shared-pg"
    procs: dict = {}
    probe = None
    try:
        with PostgresServer() as pg:
            result["postgres_up_s"] = round(time.monotonic() - started, 1)
            env = search_env(os.environ["NAS_HOME"])
            probe = StudyProbe(pg.url, name)
            # --references none: the hand-designed references (evaluated after a search) are not what this checks,
            # and training them twice over would double the scenario's time on 2 cores
            cmds = {b: search_argv(data_dir, pg.url, name, trials_n, "--backend", b, "--workers", "1",
                                   "--references", "none") for b in ("ray", "optuna")}
            procs["ray"] = start_search(cmds["ray"], env, logs["ray"])
            if start == "ray-first":
                wait_for(lambda: any(t["backend"] == "ray" and t["state"] == "RUNNING"
                                     for t in summarize(probe.trials())), 120, "a Ray trial", [procs["ray"]])
            phases = {"ray_trial_running": round(time.monotonic() - started, 1)}
            procs["optuna"] = start_search(cmds["optuna"], env, logs["optuna"])
            phases["optuna_started"] = round(time.monotonic() - started, 1)
            deadline = time.monotonic() + 300
            while any(p.poll() is None for p in procs.values()) and time.monotonic() < deadline:
                for b, p in procs.items():
                    if p.poll() is not None and f"{b}_exited" not in phases:
                        phases[f"{b}_exited"] = round(time.monotonic() - started, 1)
                time.sleep(0.5)
            result["exit_codes"] = {b: wait_search(p, max(1.0, deadline - time.monotonic()))
                                    for b, p in procs.items()}
            result["phases_s"] = phases
            result["final"] = summarize(probe.trials())
            result["counted_final"] = probe.counted_trials()
            probe.close()

            from nas.views.dashboard.data import load_study_data

            data = load_study_data(pg.url, name)
            result["dashboard"] = {"rows": [r.number for r in data.rows], "counts": data.counts,
                                   "study": data.study, "backends": sorted({t["backend"] for t in result["final"]
                                                                            if t["backend"]}),
                                   "categories": sorted({r.category for r in data.rows})}
    except Exception:  # noqa: BLE001 - reported to the test with the logs
        result["error"] = traceback.format_exc()
    finally:
        for p in procs.values():
            stop_search(p)
        if probe is not None:
            probe.close()
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["logs"] = "\n".join(f"--- {b} ---\n{log_tail(path, 4000)}" for b, path in logs.items())
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

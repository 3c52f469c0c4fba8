"""Fault injection on real `nas search` processes: a driver SIGKILLed mid-trial on SQLite, a journal file and
PostgreSQL; a Ray trial worker and a Ray driver SIGKILLed on a two-node Ray cluster; an Optuna and a Ray search
sharing one PostgreSQL study. Each checks, on the study itself, that no finished trial is lost, that `--trials N`
means N counted trials after the rerun, that an interrupted trial is recorded as such and re-run, and that no
trial number is used twice (tests/nas/search/scenarios/common.py: analyse).

Each scenario prints its figures (`FAULT-FIGURES {json}`, shown with pytest -s) and appends them to the file named
by $NAS_FAULT_REPORT when set. The Ray scenarios run in a private network namespace (scripts in scenarios/).
test_searches_started_at_once_on_a_new_storage checks what the shared-study scenario leaves out (it starts its
second search once the study exists): several searches opening a new storage and study at the same moment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from tests.infra.fixtures import require
from tests.infra.netns import netns_available, parse_result, run_in_private_netns
from tests.infra.postgres import postgres_available
from tests.infra.ray_cluster import ray_available
from tests.nas.search.scenarios.common import (REPO_ROOT, StudyProbe, analyse, counted_of, describe, emit_figures,
                                               log_tail, running_now, search_argv, search_env, sigkill_driver,
                                               start_search, stop_search, summarize, wait_for, wait_search)

pytestmark = pytest.mark.slow


def storage_for(kind: str, tmp_path, request) -> str:
    """The --storage of a scenario: an SQLite file, a journal file or the session's PostgreSQL server."""
    if kind == "sqlite":
        return str(tmp_path / "faults.db")
    if kind == "journal":
        return f"journal:{tmp_path / 'faults.log'}"
    require(postgres_available)
    return request.getfixturevalue("postgres_server").url


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_driver_sigkill_mid_trial_then_rerun(kind, tiny_idx_dir, tmp_path, request):
    """SIGKILL the search (one process, trials in it) while a trial trains, after one finished; rerun the same
    command: the finished trial is kept, the killed one is interrupted and re-run, --trials 3 means 3."""
    trials_n = 3
    storage = storage_for(kind, tmp_path, request)
    name = f"kill-{kind}-{uuid.uuid4().hex[:8]}"
    argv = search_argv(tiny_idx_dir, storage, name, trials_n, "--workers", "1")
    env = search_env(tmp_path / "home")
    log = tmp_path / "search.log"
    probe = StudyProbe(storage, name)
    first = second = None
    started = time.monotonic()
    try:
        first = start_search(argv, env, log)

        def mid_trial():
            s = summarize(probe.trials())
            return s if counted_of(s) and running_now(s) else None

        try:
            before = wait_for(mid_trial, 150, "a trial running after one finished", [first], interval=0.1)
        except RuntimeError as err:
            pytest.fail(f"{err}\n{log_tail(log)}")
        orphans = sigkill_driver(first)
        at_kill = summarize(probe.trials())
        running_at_fault = running_now(at_kill)
        assert running_at_fault, f"the kill did not land mid-trial (a race: retry the test); trials {at_kill}"
        assert orphans == [], f"processes of the killed search still alive: {orphans}"

        second = start_search(argv, env, log)
        code = wait_search(second, 240)
        assert code == 0, f"the rerun exited {code}:\n{log_tail(log)}"
        final = summarize(probe.trials())
        counted_final = probe.counted_trials()
    finally:
        stop_search(first)
        stop_search(second)
        probe.close()
    figures, problems = analyse(storage=kind, fault="driver SIGKILL mid-trial, same command rerun",
                                before=before + at_kill, final=final, running_at_fault=running_at_fault,
                                trials_n=trials_n, counted_final=counted_final)
    figures["wall_s"] = round(time.monotonic() - started, 1)
    emit_figures(figures)
    assert not problems, describe(problems, figures, final, log_tail(log))


def run_scenario(module: str, args: list[str], tmp_path, timeout: float = 540) -> dict:
    """Run tests.nas.search.scenarios.<module> in a private network namespace; its SCENARIO_RESULT."""
    require(netns_available)
    require(ray_available)
    env = search_env(tmp_path / "home")
    try:
        done = run_in_private_netns([sys.executable, "-m", f"tests.nas.search.scenarios.{module}", *args], env=env,
                                    cwd=REPO_ROOT, timeout=timeout)
    except Exception as err:  # noqa: BLE001 - a timeout: show what the scenario printed
        pytest.fail(f"scenario {module} did not finish: {err}\n{getattr(err, 'stdout', '') or ''}"
                    f"\n{getattr(err, 'stderr', '') or ''}"[-8000:])
    result = parse_result(done)
    assert result.get("error") is None, f"scenario {module} failed: {result['error']}\n{result.get('logs', '')}"
    return result


def judge(result: dict, *, exit_codes: dict[str, int], running_at_fault: list[int] | None = None,
          extra: dict | None = None, **kwargs) -> dict:
    """analyse() of a scenario's result plus the searches' exit codes (all must be 0); the figures are emitted
    and any problem fails the test with the trials and the logs."""
    figures, problems = analyse(before=result["before"], final=result["final"],
                                running_at_fault=result["running_at_fault"] if running_at_fault is None
                                else running_at_fault, counted_final=result["counted_final"], **kwargs)
    bad = {what: code for what, code in exit_codes.items() if code != 0}
    if bad:
        problems.insert(0, f"searches did not exit 0: {bad} (124: still running after the scenario's time-out)")
    figures.update(extra or {}, exit_codes=exit_codes, wall_s=result.get("wall_s"))
    emit_figures(figures)
    assert not problems, describe(problems, figures, result["final"], result.get("logs", ""))
    return figures


def test_ray_trial_worker_sigkill_on_a_cluster(tiny_idx_dir, tmp_path):
    """Two-node Ray cluster, `--backend ray --workers 2 --trials 4`: SIGKILL the worker process of a trial in
    training (after one trial finished); the search ends on its own with 4 counted trials, the killed trial is
    recorded interrupted and its parameters re-run, the other trials are untouched."""
    result = run_scenario("ray_worker_kill", [str(tiny_idx_dir), str(tmp_path), "4", "2"], tmp_path)
    killed = result.get("killed_trial")  # read from the killed worker's Tune trial folder
    assert killed is None or killed in result["running_at_fault"], (
        f"the killed worker ran trial {killed}, which the study did not show running: {result['running_at_fault']}")
    judge(result, exit_codes={"search": result["exit_code"]},
          running_at_fault=[killed] if killed is not None else None,
          interrupted_expected=None if killed is not None else 1,
          extra={"killed": result["killed"], "titles_seen": result["titles_seen"]},
          storage="sqlite", fault=f"Ray trial worker SIGKILL ({result['killed']['title']}, trial {killed}), "
                                  f"2-node cluster, no rerun", trials_n=4)


def test_ray_driver_sigkill_then_rerun_on_a_cluster(tiny_idx_dir, tmp_path):
    """Two-node Ray cluster: SIGKILL the `nas search --backend ray` driver after a trial finished while another
    trains on the cluster; the same command again finishes the study: nothing finished lost, 4 counted, every
    trial the driver had running is interrupted and re-run."""
    result = run_scenario("ray_driver_kill", [str(tiny_idx_dir), str(tmp_path), "4", "2"], tmp_path)
    assert result["driver_group_left"] == [], f"the killed driver left processes: {result['driver_group_left']}"
    judge(result, exit_codes={"rerun": result["exit_code"]}, storage="sqlite",
          extra={"old_trial_workers_gone_after_s": result["old_trial_workers_gone_after_s"]},
          fault="Ray driver SIGKILL mid-trial (2-node cluster), same command rerun", trials_n=4)


def test_optuna_and_ray_searches_share_one_postgres_study(tiny_idx_dir, tmp_path):
    """In a private network namespace: a PostgreSQL server, `nas search --backend ray` (a local Ray) and, once a
    Ray trial is being evaluated, `nas search --backend optuna`, both `--trials 6 --references none` on one study:
    both exit 0, the
    study has at least 6 counted trials with distinct numbers from both backends, and the dashboard reads it."""
    require(postgres_available)
    trials_n = 6
    result = run_scenario("shared_postgres", [str(tiny_idx_dir), str(tmp_path), str(trials_n), "ray-first"],
                          tmp_path)
    by_backend: dict[str, int] = {}
    for t in result["final"]:
        if t["counted"]:
            by_backend[t["backend"]] = by_backend.get(t["backend"], 0) + 1
    figures = judge(result, exit_codes=result["exit_codes"], storage="postgresql",
                    extra={"counted_by_backend": by_backend, "dashboard_rows": len(result["dashboard"]["rows"]),
                           "phases_s": result.get("phases_s"),
                           "trial_s": sorted(t["duration_s"] for t in result["final"] if t["counted"])},
                    fault="optuna + ray searches at once on one study (no fault)", trials_n=trials_n, exact=False)
    backends = {t["backend"] for t in result["final"] if t["backend"] and t["reference"] is None}
    assert backends == {"optuna", "ray"}, f"searched trials of both backends expected, got {backends}: {figures}"
    assert set(by_backend) == {"optuna", "ray"}, f"counted trials of both backends expected: {by_backend}"
    rows = result["dashboard"]["rows"]
    assert rows == [t["number"] for t in result["final"]], (
        f"load_study_data rows {rows} are not the study's trials {[t['number'] for t in result['final']]}")


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_searches_started_at_once_on_a_new_storage(kind, tiny_idx_dir, tmp_path, request, nas_home):
    """Three processes open one new study at the same moment, as `nas search` started in three terminals with the
    same --storage and --study-name does (the Optuna backend's documented distributed mode): each must open it,
    and the study must get its start-up points once (no more than --trials, no architecture queued twice)."""
    from latency_models.autoprofile import ensure_profile

    ensure_profile("arm")  # what search() does before any backend opens the study
    trials_n, processes = 4, 3
    if kind == "postgresql":
        require(postgres_available)
        storage = request.getfixturevalue("postgres_server").create_database(f"fresh_{uuid.uuid4().hex[:10]}")
    else:
        storage = storage_for(kind, tmp_path, request)
    name = "at-once"
    start_at = time.time() + 15  # after every process has imported nas (2 shared cores: several seconds)
    argv = [sys.executable, "-m", "tests.nas.search.scenarios.open_at_once", storage, name, str(tiny_idx_dir),
            str(trials_n), str(start_at)]
    env = search_env(nas_home)
    procs = [subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True) for _ in range(processes)]
    try:
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            stop_search(p)
    results = [parse_result(subprocess.CompletedProcess(argv, p.returncode, out, err))
               for p, (out, err) in zip(procs, outs)]
    probe = StudyProbe(storage, name)
    try:
        final = summarize(probe.trials())
    finally:
        probe.close()
    waiting = [t for t in final if t["state"] == "WAITING"]
    params = [json.dumps(t["fixed_params"], sort_keys=True) for t in waiting]
    figures = {"storage": kind, "fault": f"{processes} searches open a new study at once", "finished_before": 0,
               "finished_after": None, "lost": 0, "trials_N": trials_n, "counted_final": None, "honoured": None,
               "processes": processes, "opened": sum(r["ok"] for r in results),
               "errors": [r["error"] for r in results if not r["ok"]], "startup_queued": len(waiting),
               "startup_distinct": len(set(params)), "late": sum(bool(r.get("late")) for r in results),
               "trial_numbers_distinct": len({t["number"] for t in final}) == len(final)}
    emit_figures(figures)
    problems = []
    if figures["late"]:
        problems.append(f"{figures['late']} processes reached the start after the agreed moment (a loaded machine): "
                        f"the test did not open the storage at once; rerun it")
    if not all(r["ok"] for r in results):
        problems.append(f"BUG in nas/search/storage.py open_storage (optuna.storages.RDBStorage creates the tables "
                        f"with no guard against another process doing the same): {len(figures['errors'])} of "
                        f"{processes} processes opening a new {kind} storage at once failed: {figures['errors']}")
    if not figures["trial_numbers_distinct"]:
        problems.append(f"duplicate trial numbers: {[t['number'] for t in final]}")
    if len(waiting) != min(trials_n, 8) or len(set(params)) != len(params):
        problems.append(f"BUG in nas/search/session.py open_search_study: every process that saw the new study "
                        f"empty queued its start-up points (study.enqueue_trial(skip_if_exists=True) is not atomic "
                        f"across processes): {len(waiting)} trials queued ({len(set(params))} distinct "
                        f"architectures) for --trials {trials_n}, so the same architectures are trained several "
                        f"times, each counting towards --trials, and a finished study leaves trials waiting")
    assert not problems, "\n- ".join(["searches opening a new study at once:", *problems])

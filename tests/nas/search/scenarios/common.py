"""Shared by the fault tests and their scenario scripts: `nas search` as a subprocess, its study read while it
runs, and the judgement of a fault (the figures and the list of problems).

A trial is summarised as a plain dict (summarize()) so that a scenario run in a private network namespace can
hand what it saw to the pytest test as JSON; analyse() compares the study just before the fault with the study
at the end:

- lost: counted trials finished before the fault that are missing or changed (state, values, parameters) at the
  end; must be 0.
- honoured: the study has exactly --trials counted trials at the end (at least, for concurrent searches).
- every trial running at the fault is failed with record status "interrupted" and was re-run: a trial with
  system attribute nas:retry_of naming it exists, finished and counted, with the same parameters (exactly one).
- no duplicate trial numbers (or storage ids), and no trial left RUNNING once every search has exited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.infra._proc import group_members, signal_group, stop_group
from tests.infra.ray_cluster import ray_env

REPO_ROOT = Path(__file__).resolve().parents[4]
#: `nas search` options shared by every scenario (the tiny dataset comes with --dataset).
BASE = ["search", "--platform", "arm", "--budget", "30ms", "--train-examples", "200", "--val-examples", "100",
        "--timeout", "0"]
#: Prefix of the line in which a test prints a scenario's figures (shown with pytest -s).
FIGURES_MARKER = "FAULT-FIGURES "
#: Environment variable naming a file to which each scenario's figures are appended as one JSON line.
REPORT_ENV = "NAS_FAULT_REPORT"
ATTR_RETRY_OF = "nas:retry_of"


# ------------------------------------------------------------------------------------------------ running searches
def search_argv(data_dir: str | os.PathLike, storage: str, study_name: str, trials: int,
                *extra: str) -> list[str]:
    """The `nas search` command line of a scenario (train evaluator: each trial trains for a few seconds)."""
    return [sys.executable, "-m", "nas.cli.main", *BASE, "--dataset", f"fashion-mnist:{data_dir}",
            "--trials", str(trials), "--storage", storage, "--study-name", study_name, "--json", *extra]


def search_env(nas_home: str | os.PathLike) -> dict[str, str]:
    """The environment of a search subprocess: this one, Ray's test settings, a private NAS_HOME."""
    return ray_env({"NAS_HOME": str(nas_home), "PYTHONPATH": str(REPO_ROOT)})


def start_search(argv: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Popen a search in its own session (so its group can be stopped), stdout+stderr appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(list(argv), env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def sigkill_driver(proc: subprocess.Popen) -> list[int]:
    """SIGKILL only the driver process (the fault); wait for it; the members of its group still alive after."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.5)
    return group_members(proc.pid)


def stop_search(proc: subprocess.Popen | None) -> None:
    """Make sure a search and everything in its process group is gone (also after the driver was killed)."""
    if proc is None:
        return
    if proc.poll() is None:
        stop_group(proc, grace=5.0)
    elif group_members(proc.pid):
        signal_group(proc.pid, signal.SIGKILL)


def wait_search(proc: subprocess.Popen, timeout: float) -> int:
    """Wait for a search to exit; its exit code (the group is stopped and 124 returned on a timeout)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_search(proc)
        return 124


def log_tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------ reading the study
class StudyProbe:
    """The study of a running search, opened read-only once it exists (nas.search.study.load_study)."""

    def __init__(self, storage: str, study_name: str):
        self.storage, self.study_name = storage, study_name
        self._study: Any = None

    def study(self) -> Any:
        """The study, or None while it does not exist yet."""
        from search_space.errors import UserError

        from nas.search.study import load_study

        if self._study is None:
            try:
                self._study = load_study(self.storage, self.study_name)
            except UserError:
                return None
        return self._study

    def trials(self) -> list[Any]:
        """The study's trials; a read that fails (a writer killed mid-commit leaves a hot journal that a
        read-only connection cannot roll back) is retried once on fresh connections, which recover it."""
        try:
            study = self.study()
            return [] if study is None else study.get_trials(deepcopy=False)
        except Exception:  # noqa: BLE001 - retried once, then raised
            self.close()
            study = self.study()
            return [] if study is None else study.get_trials(deepcopy=False)

    def counted_trials(self) -> int:
        from nas.search.session import counted_trials

        study = self.study()
        return 0 if study is None else counted_trials(study)

    def close(self) -> None:
        storage = getattr(self._study, "_storage", None)
        engine = getattr(storage, "engine", None)
        if engine is not None:
            engine.dispose()
        self._study = None


def summarize(trials: Sequence[Any]) -> list[dict[str, Any]]:
    """Each trial as a JSON-ready dict: number, storage id, state, values, record status, counted, params,
    backend, the trial it repeats (nas:retry_of), the parameters it was queued with (fixed_params), the name of
    the hand-designed reference network it evaluated (reference trials: added after a search, never counted)."""
    from nas.search.record import TrialRecord

    out = []
    for t in trials:
        rec = TrialRecord.from_trial(t)
        finished = t.state.is_finished()
        counted = t.state.name in ("COMPLETE", "PRUNED", "FAIL") and (rec is None or rec.counted)
        retry = t.system_attrs.get(ATTR_RETRY_OF)
        out.append({"number": t.number, "id": t._trial_id, "state": t.state.name, "values": t.values,
                    "status": rec.status if rec is not None else None, "counted": bool(finished and counted),
                    "params": dict(t.params), "backend": rec.backend if rec is not None else None,
                    "retry_of": None if retry is None else int(retry),
                    "fixed_params": t.system_attrs.get("fixed_params"),
                    "reference": getattr(rec, "reference", None) if rec is not None else None,
                    "duration_s": round(t.duration.total_seconds(), 1) if t.duration is not None else None})
    return out


def running_now(summary: Sequence[dict[str, Any]]) -> list[int]:
    """Numbers of the trials being evaluated: state RUNNING with a record of status running."""
    return [t["number"] for t in summary if t["state"] == "RUNNING" and t["status"] == "running"]


def counted_of(summary: Sequence[dict[str, Any]]) -> list[int]:
    return [t["number"] for t in summary if t["counted"]]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             procs: Sequence[subprocess.Popen] = (), interval: float = 0.2) -> Any:
    """Poll predicate() until it returns something true (returned); RuntimeError naming `what` when the timeout
    passes or one of `procs` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"waiting for {what}: the search exited ({p.returncode}) first")
        if time.monotonic() > deadline:
            raise RuntimeError(f"waiting for {what}: not within {timeout:.0f} s")
        time.sleep(interval)


# ------------------------------------------------------------------------------------------------ judging a fault
def analyse(*, storage: str, fault: str, before: Sequence[dict[str, Any]], final: Sequence[dict[str, Any]],
            running_at_fault: Sequence[int], trials_n: int, counted_final: int, interrupted_expected: int | None = None,
            exact: bool = True) -> tuple[dict[str, Any], list[str]]:
    """The figures of one scenario and what is wrong with its study (empty list: nothing).

    before: the study just before the fault; final: at the end (every search exited); running_at_fault: trials
    being evaluated when the fault hit. interrupted_expected: how many of them the fault interrupts (None: all;
    a killed Ray worker interrupts only its own). exact: counted_final must equal trials_n (else >= trials_n).
    """
    problems: list[str] = []
    by_number = {t["number"]: t for t in final}
    numbers = [t["number"] for t in final]
    ids = [t["id"] for t in final]
    if len(set(numbers)) != len(numbers):
        problems.append(f"duplicate trial numbers: {sorted(n for n in set(numbers) if numbers.count(n) > 1)}")
    if len(set(ids)) != len(ids):
        problems.append(f"duplicate trial ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}")

    done_before = [t for t in before if t["counted"]]
    lost: list[int] = []  # `before` may hold one trial twice (seen before and just after the fault): both must match
    for b in done_before:
        a = by_number.get(b["number"])
        changed = a is None or (a["state"], a["values"], a["params"]) != (b["state"], b["values"], b["params"])
        if changed and b["number"] not in lost:
            lost.append(b["number"])
    if lost:
        problems.append(f"finished trials lost or changed after the fault: {lost} (before: "
                        f"{[b for b in done_before if b['number'] in lost]}, after: "
                        f"{[by_number.get(n) for n in lost]})")

    summed = len(counted_of(final))
    if summed != counted_final:
        problems.append(f"counted_trials(study) = {counted_final} but {summed} trials are finished and counted")
    honoured = counted_final == trials_n if exact else counted_final >= trials_n
    if not honoured:
        problems.append(f"--trials {trials_n} not honoured: the study has {counted_final} counted trials "
                        f"({'exactly' if exact else 'at least'} {trials_n} expected)")

    interrupted = [t["number"] for t in final if t["status"] == "interrupted"]
    hit = [n for n in running_at_fault if n in interrupted]
    stray = [n for n in interrupted if n not in running_at_fault]
    if stray:
        problems.append(f"trials interrupted that were not running at the fault: {stray}")
    want = len(running_at_fault) if interrupted_expected is None else interrupted_expected
    if len(hit) != want:
        problems.append(f"{len(hit)} of the trials running at the fault {list(running_at_fault)} are recorded "
                        f"interrupted ({hit}); {want} expected (record statuses at the end: "
                        f"{ {n: (by_number.get(n) or {}).get('status') for n in running_at_fault} })")
    retries: dict[int, int | None] = {}
    for n in hit:
        victim = by_number[n]
        if victim["state"] != "FAIL":
            problems.append(f"interrupted trial {n} is in state {victim['state']}, not FAIL")
        again = [t for t in final if t["retry_of"] == n]
        retries[n] = again[0]["number"] if again else None
        if not again:
            problems.append(f"interrupted trial {n} was not re-queued (no trial with {ATTR_RETRY_OF}={n})")
            continue
        if len(again) > 1:
            problems.append(f"interrupted trial {n} re-queued {len(again)} times: {[t['number'] for t in again]}")
        r = again[0]
        if r["params"] != victim["params"]:
            problems.append(f"retry {r['number']} of trial {n} ran other parameters: {r['params']} != "
                            f"{victim['params']}")
        if not r["counted"]:
            problems.append(f"retry {r['number']} of interrupted trial {n} did not finish as a counted trial "
                            f"(state {r['state']}, status {r['status']})")

    left_running = [t["number"] for t in final if t["state"] == "RUNNING"]
    if left_running:
        problems.append(f"trials still RUNNING after every search exited: {left_running}")

    figures = {"storage": storage, "fault": fault, "finished_before": len({b["number"] for b in done_before}),
               "finished_after": sum(1 for t in final if t["state"] not in ("RUNNING", "WAITING")),
               "lost": len(lost), "trials_N": trials_n, "counted_final": counted_final, "honoured": honoured,
               "running_at_fault": list(running_at_fault), "interrupted": interrupted,
               "retries": {str(k): v for k, v in retries.items()}}
    return figures, problems


def emit_figures(figures: dict[str, Any]) -> None:
    """Print a scenario's figures (pytest -s shows them) and append them to $NAS_FAULT_REPORT when set."""
    line = json.dumps(figures, sort_keys=False)
    print(FIGURES_MARKER + line, flush=True)
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def describe(problems: Sequence[str], figures: dict[str, Any], final: Sequence[dict[str, Any]],
             extra: str = "") -> str:
    """An assertion message: the problems, the figures, every trial at the end, and any log tail."""
    trials = "\n".join(f"  #{t['number']} {t['state']} {t['status']} counted={t['counted']} "
                       f"retry_of={t['retry_of']} backend={t['backend']} values={t['values']}" for t in final)
    return ("fault scenario failed:\n- " + "\n- ".join(problems) + f"\nfigures: {json.dumps(figures)}\n"
            f"trials at the end:\n{trials}\n{extra}")

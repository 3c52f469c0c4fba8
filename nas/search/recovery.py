"""Trials whose process died: every running trial carries its owner (host, process id) and a heartbeat; a trial
whose owner is gone (same host: the process no longer exists; any host: no heartbeat for GRACE_S) is failed as
interrupted and re-queued once with the same parameters, so `--trials N` means N finished trials.

Works on every Optuna storage (SQLite, PostgreSQL or any RDB, journal files): the owner and heartbeat are trial
system attributes written through the storage interface, not Optuna's RDB-only heartbeat table.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from nas.search.fidelity import ATTR_RUNG
from nas.search.record import INTERRUPTED, TrialRecord
from nas.search.study import enqueue, system_attrs

ATTR_OWNER = "nas:owner"
ATTR_HEARTBEAT = "nas:heartbeat"
ATTR_RETRY_OF = "nas:retry_of"
HEARTBEAT_S = 5.0
GRACE_S = 30.0
#: How many times one set of parameters is re-queued after interruptions (a retry of a retry counts).
MAX_RETRIES = 2


def owner_tag() -> dict[str, Any]:
    """This process: host name and process id."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(storage: Any, trial_id: int) -> None:
    """Mark trial `trial_id` as this process's, with a first heartbeat."""
    storage.set_trial_system_attr(trial_id, ATTR_OWNER, owner_tag())
    storage.set_trial_system_attr(trial_id, ATTR_HEARTBEAT, time.time())


class Heartbeat:
    """A daemon thread that refreshes the heartbeat of the trials this process owns, every HEARTBEAT_S."""

    def __init__(self, storage: Any, interval_s: float = HEARTBEAT_S):
        self.storage = storage
        self.interval_s = interval_s
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        claim(self.storage, trial_id)
        with self._lock:
            self._ids.add(trial_id)

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                ids = list(self._ids)
            for tid in ids:
                try:
                    self.storage.set_trial_system_attr(tid, ATTR_HEARTBEAT, time.time())
                except Exception:  # noqa: BLE001 - the trial finished meanwhile (attributes are frozen then)
                    self.remove(tid)

    def __enter__(self) -> "Heartbeat":
        self._thread = threading.Thread(target=self._run, name="nas-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.interval_s)


def is_stale(trial: Any, now: float | None = None, grace_s: float = GRACE_S) -> bool:
    """Whether a RUNNING trial's process is gone: dead on this host, or silent for longer than `grace_s`."""
    owner = trial.system_attrs.get(ATTR_OWNER)
    beat = trial.system_attrs.get(ATTR_HEARTBEAT)
    now = time.time() if now is None else now
    if isinstance(owner, dict) and owner.get("host") == socket.gethostname():
        if int(owner.get("pid", -1)) == os.getpid():
            return False
        if not pid_alive(int(owner.get("pid", -1))):
            return True
    if beat is None:  # started by code without heartbeats: judge by its start time
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - start > grace_s
    return now - float(beat) > grace_s


def _retries(trial: Any, by_number: dict[int, Any]) -> int:
    n, seen = 0, set()
    t = trial
    while t is not None and ATTR_RETRY_OF in t.system_attrs and t.number not in seen:
        seen.add(t.number)
        n += 1
        t = by_number.get(int(t.system_attrs[ATTR_RETRY_OF]))
    return n


def requeue(study: Any, trial: Any, trials: list[Any] | None = None) -> bool:
    """Enqueue `trial`'s parameters again, linked to it (ATTR_RETRY_OF): once per interrupted trial (a trial
    already repeated is not queued again) and at most MAX_RETRIES times in a chain. Writes nothing to `trial`."""
    trials = trials if trials is not None else study.get_trials(deepcopy=False)
    if not trial.params or any(t.system_attrs.get(ATTR_RETRY_OF) == trial.number for t in trials):
        return False
    if _retries(trial, {t.number: t for t in trials}) >= MAX_RETRIES:
        return False
    keep = {k: v for k, v in trial.system_attrs.items() if k == ATTR_RUNG}  # a promoted trial stays promoted
    enqueue(study, trial.params, **{ATTR_RETRY_OF: trial.number}, **keep)
    return True


def recover(study: Any, grace_s: float = GRACE_S) -> list[int]:
    """Fail the stale RUNNING trials of `study` as interrupted and re-queue them; also re-queue trials that
    ended interrupted but were not re-queued (e.g. stopped between the two writes). Returns their numbers."""
    import optuna

    state = optuna.trial.TrialState
    storage = study._storage
    trials = study.get_trials(deepcopy=False)
    now = time.time()
    done = []
    for t in trials:
        if t.state == state.RUNNING and is_stale(t, now, grace_s):
            try:
                rec = TrialRecord.from_trial(t)
                if rec is not None:
                    for key, value in rec.interrupted("its process stopped (no heartbeat)").to_attrs().items():
                        storage.set_trial_user_attr(t._trial_id, key, value)
                if not storage.set_trial_state_values(t._trial_id, state.FAIL):
                    continue
            except Exception:  # noqa: BLE001 - another process recovered it first (the trial is finished now)
                continue
            requeue(study, storage.get_trial(t._trial_id), trials)
            done.append(t.number)
        elif t.state == state.FAIL:
            rec = TrialRecord.from_trial(t)
            if rec is not None and rec.status == INTERRUPTED and requeue(study, t, trials):
                done.append(t.number)
    return done


def retry_of(trial: Any) -> int | None:
    """The trial number this (re-queued) trial repeats, if any (a running optuna.Trial or a FrozenTrial)."""
    v = system_attrs(trial).get(ATTR_RETRY_OF)
    return None if v is None else int(v)

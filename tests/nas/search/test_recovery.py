"""Interrupted trials: owner and heartbeat on every storage kind, stale trials failed and re-queued once."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
import pytest

from latency_models.estimate import LatencyEstimate
from nas.search.backends import write_record
from nas.search.record import INTERRUPTED, TrialRecord
from nas.search.recovery import (ATTR_HEARTBEAT, ATTR_OWNER, ATTR_RETRY_OF, MAX_RETRIES, Heartbeat, claim,
                                 is_stale, recover, retry_of)
from nas.search.storage import open_storage
from search_space.space import SearchSpace


@pytest.fixture(params=["sqlite", "journal"])
def study(request, tmp_path):
    spec = str(tmp_path / ("s.db" if request.param == "sqlite" else "s.log"))
    return optuna.create_study(storage=open_storage(spec), study_name="s")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _running_trial(study, pid: int | None = None, beat: float | None = None):
    """A RUNNING trial with a record and params, owned by `pid` (a dead process by default)."""
    import numpy as np

    trial = study.ask({"x": optuna.distributions.IntDistribution(0, 10)})
    spec = SearchSpace.default().sample(np.random.default_rng(trial.number))
    est = LatencyEstimate(10.0, "predicted", "arm", "paper-arm-neon", 1, 224)
    write_record(study._storage, trial._trial_id, TrialRecord.candidate(spec, est, 20.0))
    study._storage.set_trial_system_attr(trial._trial_id, ATTR_OWNER,
                                         {"host": __import__("socket").gethostname(),
                                          "pid": _dead_pid() if pid is None else pid})
    study._storage.set_trial_system_attr(trial._trial_id, ATTR_HEARTBEAT, time.time() if beat is None else beat)
    return trial


def test_a_dead_owners_trial_is_failed_as_interrupted_and_requeued_once(study):
    t = _running_trial(study)
    assert recover(study) == [t.number]
    trials = study.get_trials()
    old, queued = trials[t.number], trials[-1]
    assert old.state == optuna.trial.TrialState.FAIL and TrialRecord.from_trial(old).status == INTERRUPTED
    assert queued.state == optuna.trial.TrialState.WAITING and queued.system_attrs[ATTR_RETRY_OF] == t.number
    assert queued.system_attrs["fixed_params"] == old.params
    assert recover(study) == [] and len(study.get_trials()) == 2  # not re-queued twice


def test_a_live_owner_keeps_its_trial_and_a_silent_one_loses_it(study):
    mine = _running_trial(study, pid=__import__("os").getpid())
    other_host = study.ask()
    study._storage.set_trial_system_attr(other_host._trial_id, ATTR_OWNER, {"host": "elsewhere", "pid": 1})
    study._storage.set_trial_system_attr(other_host._trial_id, ATTR_HEARTBEAT, time.time() - 120)
    fresh = study.ask()
    study._storage.set_trial_system_attr(fresh._trial_id, ATTR_OWNER, {"host": "elsewhere", "pid": 1})
    study._storage.set_trial_system_attr(fresh._trial_id, ATTR_HEARTBEAT, time.time())
    by_number = {t.number: t for t in study.get_trials()}
    assert not is_stale(by_number[mine.number])
    assert is_stale(by_number[other_host.number]) and not is_stale(by_number[fresh.number])
    assert recover(study) == [other_host.number]


def test_the_heartbeat_refreshes_owned_trials(study):
    t = study.ask()
    with Heartbeat(study._storage, interval_s=0.05) as beat:
        beat.add(t._trial_id)
        first = study._storage.get_trial_system_attrs(t._trial_id)[ATTR_HEARTBEAT]
        time.sleep(0.3)
        later = study._storage.get_trial_system_attrs(t._trial_id)[ATTR_HEARTBEAT]
    assert later > first
    assert study._storage.get_trial_system_attrs(t._trial_id)[ATTR_OWNER]["pid"] == __import__("os").getpid()


def test_a_chain_of_retries_stops(study):
    for _ in range(MAX_RETRIES + 1):
        waiting = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.WAITING]
        if waiting:  # the retry starts (as a worker would) and its process dies again
            trial = study.ask()
            trial.suggest_int("x", 0, 10)  # the queued parameters, as the objective asks for them
            claim(study._storage, trial._trial_id)
            study._storage.set_trial_system_attr(trial._trial_id, ATTR_OWNER, {"host": "elsewhere", "pid": 1})
            study._storage.set_trial_system_attr(trial._trial_id, ATTR_HEARTBEAT, 0.0)
            assert retry_of(trial) is not None
        else:
            _running_trial(study)
        recover(study)
    states = [t.state for t in study.get_trials()]
    assert states.count(optuna.trial.TrialState.FAIL) == MAX_RETRIES + 1
    assert optuna.trial.TrialState.WAITING not in states

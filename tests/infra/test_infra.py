"""The distributed-test infrastructure itself: a real PostgreSQL server, private network namespaces, a Ray cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.infra._proc import pid_alive, port_open, process_table
from tests.infra.fixtures import require
from tests.infra.netns import netns_available, parse_result, run_in_private_netns
from tests.infra.postgres import PostgresServer, postgres_available
from tests.infra.ray_cluster import ray_available, ray_env

REPO_ROOT = Path(__file__).resolve().parents[2]

#: A separate OS process that adds n trials to an existing study and prints their numbers as JSON.
ADD_TRIALS = """
import json, sys
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
study = optuna.load_study(study_name=name, storage=optuna.storages.RDBStorage(url))
numbers = []
for _ in range(n):
    trial = study.ask()
    study.tell(trial, trial.suggest_float("x", 0.0, 1.0) ** 2)
    numbers.append(trial.number)
print(json.dumps(numbers))
"""


def add_trials_in_processes(url: str, study_name: str, processes: int, per_process: int) -> list[list[int]]:
    """Run `processes` OS processes at once, each adding per_process trials; the trial numbers each got."""
    procs = [subprocess.Popen([sys.executable, "-c", ADD_TRIALS, url, study_name, str(per_process)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
             for _ in range(processes)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def host_processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes on this machine that contain text."""
    return [" ".join(p.cmdline) for p in process_table().values() if any(text in arg for arg in p.cmdline)]


@pytest.mark.slow
def test_postgres_study_shared_by_two_processes() -> None:
    """Two OS processes add trials to one Optuna study on a real PostgreSQL; the server is gone afterwards."""
    require(postgres_available)
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with PostgresServer() as pg:
        assert pg.url.startswith(f"postgresql+psycopg2://postgres@127.0.0.1:{pg.port}/")
        storage = optuna.storages.RDBStorage(pg.url)
        optuna.create_study(study_name="shared", storage=storage, direction="minimize")
        per_process = add_trials_in_processes(pg.url, "shared", processes=2, per_process=5)
        trials = optuna.load_study(study_name="shared", storage=storage).get_trials(deepcopy=False)
        storage.engine.dispose()
        pid, port, root = pg.pid, pg.port, pg.root
        assert pid_alive(pid) and port_open(port)
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(10))
    assert sorted(n for got in per_process for n in got) == numbers
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert not pid_alive(pid)
    assert not port_open(port)
    assert not root.exists()


@pytest.mark.slow
def test_postgres_stopped_when_body_raises() -> None:
    """An exception in the body still stops the postmaster and removes the folder."""
    require(postgres_available)
    with pytest.raises(RuntimeError, match="boom"):
        with PostgresServer() as pg:
            pid, port, root = pg.pid, pg.port, pg.root
            raise RuntimeError("boom")
    assert not pid_alive(pid)
    assert not port_open(port)
    assert not root.exists()


@pytest.mark.slow
def test_postgres_server_fixture(postgres_server: PostgresServer) -> None:
    """The session fixture serves a database that optuna can keep a study in."""
    optuna = pytest.importorskip("optuna")
    storage = optuna.storages.RDBStorage(postgres_server.url)
    study = optuna.create_study(study_name=f"fixture-{uuid.uuid4().hex[:8]}", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)
    assert len(study.trials) == 2
    storage.engine.dispose()


@pytest.mark.slow
def test_private_netns_has_only_loopback_and_leaves_nothing() -> None:
    """Inside: only `lo`, up. After the call: a detached process started inside is gone."""
    require(netns_available)
    marker = f"{uuid.uuid4().int % 10_000}.{uuid.uuid4().int % 1000}"
    list_links = "import socket; print([name for _, name in socket.if_nameindex()])"
    script = f"setsid sleep {marker} & {sys.executable} -c '{list_links}'; ip -o link show lo"
    done = run_in_private_netns(["bash", "-c", script], timeout=60)
    assert done.returncode == 0, done.stderr
    assert "['lo']" in done.stdout
    assert "UP" in done.stdout
    assert host_processes_mentioning(marker) == []


@pytest.mark.slow
def test_private_netns_timeout_kills_everything_inside() -> None:
    """On a timeout, the command and what it detached are killed, and TimeoutExpired is raised."""
    require(netns_available)
    marker = f"{uuid.uuid4().int % 10_000}.{uuid.uuid4().int % 1000}"
    with pytest.raises(subprocess.TimeoutExpired):
        run_in_private_netns(["bash", "-c", f"setsid sleep {marker} & sleep 60"], timeout=1.5)
    assert host_processes_mentioning(marker) == []


@pytest.mark.slow
def test_ray_cluster_in_private_netns() -> None:
    """Two Ray nodes come up on 127.0.0.1, run a task each, survive a killed worker, and leave nothing behind."""
    require(netns_available)
    require(ray_available)
    done = run_in_private_netns([sys.executable, "-m", "tests.infra.scenario_ray_cluster"], env=ray_env(),
                                cwd=REPO_ROOT, timeout=240)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    result = parse_result(done)
    assert result["address"].startswith("127.0.0.1:")
    assert len(result["alive_nodes"]) == 2
    assert result["task_nodes"] == result["alive_nodes"]
    assert result["workers_seen"]
    assert result["killed"]["killed"] and result["killed"]["error"] == "WorkerCrashedError"
    assert result["tree"] and result["leftover"] == [] and result["groups_left"] == []
    assert not result["temp_root_exists"] and not Path(result["temp_root"]).exists()
    assert host_processes_mentioning(result["temp_root"]) == []


@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_missing_infrastructure_skips_locally_fails_in_ci(monkeypatch, ci: str, outcome: type) -> None:
    """require() skips with the reason outside CI, and fails in CI (env CI=true), where everything is installed."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no such server"):
        require(lambda: (False, "no such server"))
    require(lambda: (True, "fine"))

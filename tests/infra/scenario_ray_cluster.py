"""Scenario, run inside a private network namespace: a two-node RayCluster, a driver, tasks, a killed worker.

Run as `python -m tests.infra.scenario_ray_cluster` from the repository root (via run_in_private_netns). It prints
one line `SCENARIO_RESULT {json}` with what it saw (netns.print_result); test_infra.py parses and checks it.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from tests.infra._proc import group_alive, pid_alive
from tests.infra.netns import print_result
from tests.infra.ray_cluster import RayCluster

@ray.remote(num_cpus=1)
def where() -> dict:
    """The node id and pid of the worker that runs this task."""
    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


@ray.remote(num_cpus=1, max_retries=0)
def linger(seconds: float) -> str:
    """A task that runs long enough to have its worker killed mid-run."""
    time.sleep(seconds)
    return "finished"


def alive_node_ids() -> list[str]:
    """Ids of the nodes the driver sees alive."""
    return sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))


def run_on_each(node_ids: list[str]) -> list[dict]:
    """Run `where` pinned to each node; what each reported."""
    refs = [where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n, soft=False)).remote()
            for n in node_ids]
    return ray.get(refs, timeout=60)


def kill_a_running_worker(cluster: RayCluster, timeout: float = 30.0) -> dict:
    """Start `linger`, SIGKILL its worker process (found by title `ray::linger`), report how ray.get failed."""
    ref = linger.remote(60)
    deadline = time.monotonic() + timeout
    victims = []
    while not victims and time.monotonic() < deadline:
        victims = [p for p in cluster.worker_processes() if p.title == "ray::linger"]
        time.sleep(0.2)
    if not victims:
        return {"killed": None, "error": "no ray::linger worker found"}
    os.kill(victims[0].pid, signal.SIGKILL)
    try:
        ray.get(ref, timeout=timeout)
        error = None
    except Exception as err:  # noqa: BLE001  (the scenario reports whatever Ray raised)
        error = type(err).__name__
    return {"killed": victims[0].pid, "error": error}


class Clock:
    """Seconds between successive lap() calls."""

    def __init__(self) -> None:
        """Start the clock now."""
        self._last = time.monotonic()

    def lap(self) -> float:
        """Seconds since the previous lap (or the start), rounded to 0.1 s."""
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        return round(elapsed, 1)


def main() -> int:
    """Bring the cluster up, drive it, tear it down, and check that nothing of it is left."""
    phases: dict[str, float] = {}
    clock = Clock()
    with RayCluster() as cluster:
        phases["up"] = clock.lap()
        temp_root = str(cluster.temp_root)
        nodes = cluster.node_pids()
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        node_ids = alive_node_ids()
        phases["driver"] = clock.lap()
        ran = run_on_each(node_ids)
        workers = [p.pid for p in cluster.worker_processes()]
        phases["tasks"] = clock.lap()
        killed = kill_a_running_worker(cluster)
        phases["kill"] = clock.lap()
        ray.shutdown()
        tree = [p.pid for p in cluster.descendants()]
        phases["shutdown"] = clock.lap()
    phases["stop"] = clock.lap()
    leftover = [pid for pid in [*nodes.values(), *tree] if pid_alive(pid)]
    groups_left = [pgid for pgid in nodes.values() if group_alive(pgid)]
    result = {"phases_s": phases, "address": cluster.address,
              "node_pids": nodes, "alive_nodes": node_ids, "task_nodes": sorted(r["node"] for r in ran),
              "workers_seen": workers, "killed": killed, "tree": tree, "leftover": leftover,
              "groups_left": groups_left, "temp_root": temp_root, "temp_root_exists": os.path.exists(temp_root)}
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

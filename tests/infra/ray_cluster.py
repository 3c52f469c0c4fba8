"""A real two-node Ray cluster (two `ray start --block` processes) for scenarios run in a private network namespace.

`ray start` binds the machine's network address, not loopback, so a RayCluster refuses to start where any
interface other than `lo` exists: run the scenario through tests.infra.netns.run_in_private_netns, where only
loopback is up and Ray takes 127.0.0.1.

    with RayCluster() as cluster:
        ray.init(address=cluster.address)
        ...
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.infra._proc import (ProcInfo, descendants, free_port, pid_alive, port_open, process_table, stop_group,
                               wait_until)

#: Processes of a node that are Ray's own services, not workers that run tasks or actors.
AGENT_TITLES = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
#: Environment of every Ray process started here (nodes, the readiness probe; drivers should use ray_env()).
#: RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0: on SIGTERM a node shuts down at once instead of draining for 30 s.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}

#: Short-lived probe: connect to the cluster and wait until N nodes are alive; prints the count.
_PROBE = """
import sys, time, ray
address, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ray.init(address=address, logging_level="ERROR", log_to_driver=False)
deadline = time.monotonic() + timeout
alive = 0
while time.monotonic() < deadline:
    alive = sum(1 for n in ray.nodes() if n.get("Alive"))
    if alive >= want:
        break
    time.sleep(0.25)
ray.shutdown()
print(alive)
sys.exit(0 if alive >= want else 1)
"""


class RayClusterError(RuntimeError):
    """The cluster did not come up, or did not go away completely."""


def loopback_only() -> bool:
    """Whether this process's network namespace has no interface but `lo` (a private namespace)."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def ray_available() -> tuple[bool, str]:
    """Whether Ray (the package and its `ray` command) is installed here, and why not."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False, "ray is not installed (pip install 'ray[tune]')"
    if not Path(_ray_executable()).exists():
        return False, "the `ray` command is not found"
    return True, "ray is installed"


def ray_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment plus RAY_ENV (and extra), for Ray nodes and drivers started as subprocesses."""
    return {**os.environ, **RAY_ENV, **(extra or {})}


def _ray_executable() -> str:
    """The `ray` command of this interpreter's environment (falling back to PATH)."""
    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


class RayCluster:
    """Context manager: a head node and one more node, each one `ray start --block` in its own process group."""

    def __init__(self, *, num_cpus: int = 1, object_store_memory: int = 100_000_000, start_timeout: float = 90.0,
                 stop_timeout: float = 15.0) -> None:
        """Prepare (not start) a two-node cluster with num_cpus CPUs and a small object store per node."""
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self.temp_root: Path | None = None
        self._head: subprocess.Popen | None = None
        self._worker: subprocess.Popen | None = None

    # -- public surface -------------------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """GCS address for ray.init(address=...) and `ray start --address`."""
        return f"127.0.0.1:{self.port}"

    @property
    def head_pid(self) -> int:
        """Pid of the head node's `ray start` process (leader of its process group)."""
        return self._require(self._head).pid

    @property
    def worker_pid(self) -> int:
        """Pid of the second node's `ray start` process (leader of its process group)."""
        return self._require(self._worker).pid

    def node_pids(self) -> dict[str, int]:
        """{"head": pid, "worker": pid} of the two `ray start` processes."""
        return {"head": self.head_pid, "worker": self.worker_pid}

    def descendants(self) -> list[ProcInfo]:
        """Every live process below the two node processes (gcs, raylets, agents, workers)."""
        table = process_table()
        return [p for pid in self.node_pids().values() for p in descendants(pid, table)]

    def worker_processes(self, node: str | None = None) -> list[ProcInfo]:
        """Ray worker processes (title `ray::IDLE`, `ray::<task>`, `ray::<Actor>...`) of one node or both.

        node: "head", "worker" or None for both. Agents (dashboard, runtime env) are left out. SIGKILL one
        (os.kill(p.pid, signal.SIGKILL)) to simulate a trial's worker dying mid-run.
        """
        pids = self.node_pids() if node is None else {node: self.node_pids()[node]}
        table = process_table()
        return [p for pid in pids.values() for p in descendants(pid, table)
                if p.title.startswith("ray::") and p.title not in AGENT_TITLES]

    def __enter__(self) -> RayCluster:
        """Start both nodes and wait until both are alive; on failure nothing is left running."""
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stop both nodes by their process groups and remove the temp folder, also when the body raised."""
        self.stop()

    def start(self) -> None:
        """Start the head, wait for its GCS port, start the second node, wait until 2 nodes are alive."""
        if not loopback_only():
            raise RayClusterError("RayCluster runs only in a private network namespace (only `lo`): "
                                  "use tests.infra.netns.run_in_private_netns")
        try:
            self.temp_root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
            self.port = free_port()
            self._head = self._start_node("head", ["--head", "--port", str(self.port), "--include-dashboard=false"])
            if not wait_until(lambda: port_open(self.port) or self._head.poll() is not None, self.start_timeout):
                raise RayClusterError(f"head's GCS not listening after {self.start_timeout}s\n{self.logs()}")
            self._check_running(self._head, "head")
            self._worker = self._start_node("worker", ["--address", self.address])
            self._wait_nodes(2)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM both process groups, wait, SIGKILL them and any leftover descendant; verify none remains."""
        try:
            leftovers = self._stop_nodes()
        finally:
            self._head = self._worker = None
            if self.temp_root is not None:
                shutil.rmtree(self.temp_root, ignore_errors=True)
                self.temp_root = None
        if leftovers:
            raise RayClusterError(f"processes of the cluster still alive after stop: {leftovers}")

    def logs(self, chars: int = 2000) -> str:
        """Tails of both nodes' `ray start` output, for error messages."""
        if self.temp_root is None:
            return ""
        parts = []
        for name in ("head", "worker"):
            path = self.temp_root / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    # -- steps ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _require(proc: subprocess.Popen | None) -> subprocess.Popen:
        """proc, or an error when the cluster is not started."""
        if proc is None:
            raise RuntimeError("RayCluster is not started")
        return proc

    def _start_node(self, name: str, role_args: list[str]) -> subprocess.Popen:
        """Popen `ray start ... --block` for one node, in its own session, with its own short temp dir."""
        argv = [_ray_executable(), "start", *role_args, "--node-ip-address", "127.0.0.1",
                "--num-cpus", str(self.num_cpus), "--num-gpus", "0",
                "--object-store-memory", str(self.object_store_memory),
                "--temp-dir", str(self.temp_root / name[0]), "--disable-usage-stats", "--block"]
        with open(self.temp_root / f"{name}.log", "ab") as log:
            return subprocess.Popen(argv, env=ray_env(), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=self.temp_root)

    def _check_running(self, proc: subprocess.Popen, name: str) -> None:
        """Raise with the logs when a node's `ray start` has exited."""
        if proc.poll() is not None:
            raise RayClusterError(f"{name} node exited {proc.returncode}\n{self.logs()}")

    def _wait_nodes(self, want: int) -> None:
        """Wait (in a short-lived probe process) until want nodes are alive in the GCS."""
        started = time.monotonic()
        try:
            probe = subprocess.run([sys.executable, "-c", _PROBE, self.address, str(want), str(self.start_timeout)],
                                   env=ray_env(), capture_output=True, text=True, timeout=self.start_timeout + 30,
                                   stdin=subprocess.DEVNULL, cwd=self.temp_root)
        except subprocess.TimeoutExpired as err:
            raise RayClusterError(f"node probe timed out\n{self.logs()}") from err
        self._check_running(self._head, "head")
        self._check_running(self._worker, "worker")
        if probe.returncode != 0:
            raise RayClusterError(f"{want} nodes not alive after {time.monotonic() - started:.0f}s "
                                  f"(probe: {probe.stdout.strip()} {probe.stderr[-1500:]})\n{self.logs()}")

    def _stop_nodes(self) -> list[str]:
        """Stop both node groups, then kill any straggler below them; describe what is still alive."""
        procs = [p for p in (self._worker, self._head) if p is not None]
        table = process_table()
        below = [p for proc in procs for p in descendants(proc.pid, table)]
        for proc in procs:
            stop_group(proc, grace=self.stop_timeout)
        for p in below:
            if pid_alive(p.pid):
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_until(lambda: not any(pid_alive(p.pid) for p in below), timeout=self.stop_timeout)
        return [f"{p.pid}" for p in below if pid_alive(p.pid)] + [f"{p.pid}" for p in procs if pid_alive(p.pid)]


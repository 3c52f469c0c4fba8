"""The agent's measuring process: one child process times one job at a time and can be stopped mid-job.

Measurements run in a separate (spawned) process so that `--max-seconds` is a hard limit: a job that takes
longer is killed with its process and a fresh process is started, while the HTTP server keeps answering. A
crash of the runtime (a segfault in a native library) costs the job, not the agent.

A job is a plain dict (it crosses a process boundary): {"op": "network", "spec_json": <spec JSON>, "platform":
<platform dict>, "warmup": int|None, "repeats": int|None} or {"op": "onnx", "path": str, "shape": [N, C, H, W],
...}. The answer is {"ok": True, "timing": Timing.to_dict(), "elapsed_s": s} or {"ok": False, "error": one line,
"user": bool} (user: the job was bad, e.g. a network that cannot run; otherwise an internal failure).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from typing import Any, Protocol

from latency_models.platform import Platform
from search_space.errors import UserError

log = logging.getLogger("latency_models.agent")

#: How long a fresh measuring process may take to import its libraries and check its runtime.
STARTUP_TIMEOUT_S = 300.0


class MeasurementTimeout(Exception):
    """A job ran past its time limit and was stopped (its process killed)."""


class WorkerFailed(Exception):
    """The measuring process could not start, or died during a job; the message says why."""


class Measurer(Protocol):
    """Runs measurement jobs one at a time (the server serialises calls)."""

    def start(self) -> dict[str, Any]:
        """Get ready to measure; returns `device_facts` of the process that measures."""
        ...

    def run(self, job: dict[str, Any], timeout_s: float) -> dict[str, Any]: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------------- the job
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_runtime(platform: Platform) -> None:
    """MeasurementError / PlatformError (one line) when `platform` cannot be measured in this process."""
    from latency_models.measure import backend_for

    backend_for(platform)


def device_facts(platform: Platform) -> dict[str, Any]:
    """What the agent says about its device: system_info() (host, CPU/GPU, versions) and the built-in
    platforms measurable here (`platform` first); raises like check_runtime when `platform` is not."""
    from latency_models.backends import get_backend
    from latency_models.platform import builtin_platforms
    from latency_models.sysinfo import system_info

    check_runtime(platform)
    names = [platform.name]
    for name, p in builtin_platforms().items():
        if p.measurable and name not in names and get_backend(p.runtime).available()[0]:
            names.append(name)
    with_gpu = platform.runtime == "cuda" or "gpu" in names
    return {"system": system_info(with_gpu=with_gpu), "platforms": names}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Time one job in this process (see the module docstring); never raises."""
    t0 = time.perf_counter()
    try:
        import contextlib
        from pathlib import Path

        from latency_models.backends.torch_cpu import torch_threads
        from latency_models.measure import MeasureSettings, backend_for, measure_network, measure_target
        from search_space.spec import spec_from_json

        platform = Platform.from_dict(job["platform"])
        backend = backend_for(platform)
        threads = torch_threads(platform.threads) if platform.runtime != "cuda" else contextlib.nullcontext()
        with threads:
            if job["op"] == "network":
                spec = spec_from_json(job["spec_json"])
                timing = measure_network(spec, platform, job.get("warmup"), job.get("repeats"), backend=backend)
            elif job["op"] == "onnx":
                settings = MeasureSettings.of(platform, job.get("warmup"), job.get("repeats"))
                timing = measure_target(Path(job["path"]), tuple(int(v) for v in job["shape"]), platform, settings,
                                        backend, label=str(job.get("label") or "model.onnx"))
            else:
                return {"ok": False, "user": False, "error": f"unknown job {job.get('op')!r}"}
    except UserError as exc:
        return {"ok": False, "user": True, "error": _first_line(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the client as a 500 with one line, logged here
        log.exception("measurement failed")
        return {"ok": False, "user": False, "error": f"{type(exc).__name__}: {_first_line(exc)}"}
    return {"ok": True, "timing": timing.to_dict(), "elapsed_s": time.perf_counter() - t0}


def worker_main(conn: Any, platform: dict[str, Any]) -> None:
    """Body of the measuring process: check the runtime, say ready, then answer jobs until EOF / None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the agent's terminal: the server stops us
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s nas agent worker: %(message)s")
    try:
        facts = device_facts(Platform.from_dict(platform))
    except UserError as exc:
        conn.send({"ok": False, "error": _first_line(exc)})
        return
    except Exception as exc:  # noqa: BLE001
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {_first_line(exc)}"})
        return
    try:
        conn.send({"ok": True, "ready": True, "facts": facts})
    except (OSError, BrokenPipeError):  # the agent went away while we started
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the agent is gone
            return
        if job is None:
            return
        try:
            conn.send(run_job(job))
        except (OSError, BrokenPipeError):  # the agent went away during the job
            return


# --------------------------------------------------------------------------------------------- measurers
class InProcessMeasurer:
    """Runs jobs in the calling process: no hard time limit (a job past it is reported late as timed out).

    For tests and for devices where a child process cannot be spawned."""

    def __init__(self, platform: Platform):
        self.platform = platform

    def start(self) -> dict[str, Any]:
        return device_facts(self.platform)

    def run(self, job: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = run_job(job)
        if time.perf_counter() - t0 > timeout_s:
            raise MeasurementTimeout(f"took {time.perf_counter() - t0:.1f} s")
        return out

    def close(self) -> None:
        pass


class SubprocessMeasurer:
    """Runs jobs in a spawned child process; a job past its limit kills the child and a new one is started."""

    def __init__(self, platform: Platform, startup_timeout_s: float = STARTUP_TIMEOUT_S):
        self.platform = platform
        self.startup_timeout_s = startup_timeout_s
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._proc: Any = None
        self._conn: Any = None
        self._ready = False
        self._facts: dict[str, Any] = {}
        self._closed = False
        self._lock = threading.Lock()

    def _spawn(self) -> None:
        if self._closed:
            raise WorkerFailed("the agent is stopping")
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=worker_main, args=(child, self.platform.to_dict()),
                                 name="nas-agent-worker", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn, self._ready = proc, parent, False

    def _wait_ready(self) -> None:
        if self._ready:
            return
        if self._proc is None:
            self._spawn()
        if not self._conn.poll(self.startup_timeout_s):
            self._kill()
            raise WorkerFailed(f"the measuring process did not start within {self.startup_timeout_s:.0f} s")
        try:
            msg = self._conn.recv()
        except (EOFError, OSError):
            code = self._kill()
            raise WorkerFailed(f"the measuring process exited while starting (exit code {code})") from None
        if not msg.get("ok"):
            self._kill()
            raise WorkerFailed(str(msg.get("error")))
        self._facts = dict(msg.get("facts") or {})
        self._ready = True

    def _kill(self) -> int | None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self._ready = False
        if conn is not None:
            conn.close()
        if proc is None:
            return None
        if proc.is_alive():
            proc.kill()
        proc.join(10)
        return proc.exitcode

    def start(self) -> dict[str, Any]:
        """Start the child and wait until it has loaded its runtime; WorkerFailed (one line) otherwise."""
        with self._lock:
            self._wait_ready()
            return dict(self._facts)

    def run(self, job: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        with self._lock:
            self._wait_ready()
            try:
                self._conn.send(job)
                if not self._conn.poll(timeout_s):
                    self._kill()
                    if not self._closed:
                        self._spawn()  # the next job finds a fresh process (already importing its libraries)
                    raise MeasurementTimeout(f"stopped after {timeout_s:g} s")
                return self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                code = self._kill()
                if self._closed:
                    raise WorkerFailed("the agent stopped during the measurement") from None
                self._spawn()
                raise WorkerFailed(f"the measuring process died during the measurement (exit code {code}); "
                                   f"a new one has been started") from None

    def close(self) -> None:
        """Stop the measuring process: politely when idle, killed when a job is still running."""
        self._closed = True
        if not self._lock.acquire(timeout=1.0):
            proc = self._proc  # a job is running: kill its process; the waiting request answers 500
            if proc is not None and proc.is_alive():
                proc.kill()
            return
        try:
            if self._conn is not None and self._proc is not None and self._proc.is_alive():
                try:
                    self._conn.send(None)
                    self._proc.join(5)
                except (OSError, BrokenPipeError):
                    pass
            self._kill()
        finally:
            self._lock.release()

"""Run a command in a fresh private network namespace (loopback only), leaving no process behind.

The command runs under `unshare --net --pid --fork --mount-proc --kill-child`: its own network namespace, where
only `lo` is up (so a server that binds "the machine's address", as `ray start` does, gets 127.0.0.1), and its own
PID namespace with /proc remounted. When the namespace's first process ends, or unshare itself is killed (on a
timeout), the kernel kills every process left in that PID namespace, so nothing started inside survives the call.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence

from tests.infra._proc import process_table

#: unshare flags: private network and PID namespaces, /proc of the new PID namespace, kill all when unshare dies.
UNSHARE = ("unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child")
#: Bring loopback up, then run the argv given after the script as a child of the namespace's init shell (the
#: trailing `exit` keeps bash from exec'ing it), so bash stays PID 1 and reaps orphans that exit.
BOOT = 'ip link set lo up || exit 1; "$@"; exit $?'
#: Prefix of the one stdout line in which a scenario script reports what it saw, as JSON.
RESULT_MARKER = "SCENARIO_RESULT "


def netns_available() -> tuple[bool, str]:
    """Whether private network (and PID) namespaces can be made here, and why not."""
    for tool in ("unshare", "ip", "bash"):
        if shutil.which(tool) is None:
            return False, f"'{tool}' not found on PATH"
    try:
        done = subprocess.run([*UNSHARE, "bash", "-c", BOOT, "_", "true"], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"unshare failed: {err}"
    if done.returncode != 0:
        return False, f"cannot make a private network/PID namespace (root needed): {done.stderr.strip()}"
    return True, "private network namespaces work"


def run_in_private_netns(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 300.0,
                         cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run argv inside a fresh network namespace with only loopback up; capture stdout/stderr as text.

    env replaces the environment (None: inherit). When the call returns or raises, no process started inside is
    left: on timeout (subprocess.TimeoutExpired, as with subprocess.run) or interruption, the namespace is killed.
    """
    proc = subprocess.Popen([*UNSHARE, "bash", "-c", BOOT, "_", *argv], env=None if env is None else dict(env),
                            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_namespace(proc)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(proc.args, timeout, output=out, stderr=err) from None
    except BaseException:
        _kill_namespace(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _kill_namespace(unshare: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGKILL the namespace's init (unshare's child) and wait for unshare, which returns once the namespace is empty.

    When a PID namespace's init dies the kernel kills the rest, and the init is reaped only after all of them are
    gone; killing unshare instead would leave that teardown running after we return.
    """
    children = [p.pid for p in process_table().values() if p.ppid == unshare.pid]
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if not children:
        unshare.kill()
    try:
        unshare.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        unshare.kill()
        unshare.wait(timeout=timeout)


def print_result(result: dict) -> None:
    """In a scenario script: report result as the `SCENARIO_RESULT {json}` line that parse_result reads."""
    print(RESULT_MARKER + json.dumps(result), flush=True)


def parse_result(done: subprocess.CompletedProcess) -> dict:
    """The JSON of the last `SCENARIO_RESULT` line of a scenario's stdout; ValueError (with the output) if none."""
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        raise ValueError(f"no {RESULT_MARKER.strip()} line (exit {done.returncode}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return json.loads(lines[-1][len(RESULT_MARKER):])

"""Small process helpers shared by the infrastructure: free ports, CI detection, stopping process groups."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass


def in_ci() -> bool:
    """Whether this runs in CI (env CI set to true/1/yes), where missing infrastructure is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on host right now (the kernel picks it; another process may still take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...), or None when pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether pid names a live process (a zombie counts as gone)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is pgid."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                members.append(int(entry))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in process group pgid."""
    return bool(group_members(pgid))


@dataclass(frozen=True)
class ProcInfo:
    """One live process as /proc shows it."""

    pid: int
    ppid: int
    pgid: int
    cmdline: tuple[str, ...]

    @property
    def title(self) -> str:
        """argv[0], or the process title a program set (Ray's workers: `ray::IDLE`, `ray::<task>`)."""
        return self.cmdline[0].strip() if self.cmdline else ""


def _proc_info(pid: int) -> ProcInfo | None:
    """ProcInfo of a live (non-zombie) pid, or None."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    cmdline = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return ProcInfo(pid=pid, ppid=int(fields[1]), pgid=int(fields[2]), cmdline=cmdline)


def process_table() -> dict[int, ProcInfo]:
    """Every live (non-zombie) process visible in /proc, by pid."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _proc_info(int(entry))
            if info is not None:
                table[info.pid] = info
    return table


def descendants(pid: int, table: dict[int, ProcInfo] | None = None) -> list[ProcInfo]:
    """Live processes below pid (children, grandchildren, ...), parents before children."""
    table = process_table() if table is None else table
    children: dict[int, list[ProcInfo]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child.pid)
    return found


def signal_group(pgid: int, sig: int) -> None:
    """Send sig to process group pgid, ignoring a group that is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll predicate() until it is true or timeout seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop the process group led by proc (started with start_new_session): SIGTERM, wait grace, then SIGKILL."""
    pgid = proc.pid
    signal_group(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    if not wait_until(lambda: not group_alive(pgid), timeout=grace / 2):
        signal_group(pgid, signal.SIGKILL)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)

"""A real, throw-away PostgreSQL server (Debian's `postgresql` package) on loopback, for multi-process storage tests.

Usable from pytest and from a plain script (e.g. one run inside a private network namespace):

    with PostgresServer() as pg:
        storage = optuna.storages.RDBStorage(pg.url)

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user that the Debian
package creates, in a temporary folder under /tmp owned by that user; as any other user it runs as that user.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.infra._proc import free_port, group_alive, pid_alive, signal_group, wait_until

#: Superuser name given to initdb; the URL connects as this user (trust auth on loopback, no password).
PG_USER = "postgres"
#: Where Debian installs the server binaries, one folder per major version.
PG_LIB = Path("/usr/lib/postgresql")
#: Server settings for a fast, small, disposable test server (durability off: the data is thrown away).
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "60",
    "logging_collector": "off",
}


def find_pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<ver>/bin that has initdb, postgres, pg_ctl and pg_isready, or None."""
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", path.parent.name)) or (0,)

    needed = ("initdb", "postgres", "pg_ctl", "pg_isready", "createdb")
    candidates = [b for b in PG_LIB.glob("*/bin") if all((b / name).is_file() for name in needed)]
    return max(candidates, key=version) if candidates else None


def _run_as_postgres() -> bool:
    """Whether the server must be run as the `postgres` system user (it refuses to run as root)."""
    return os.geteuid() == 0


def postgres_available() -> tuple[bool, str]:
    """Whether a PostgreSQL server can be started here, and why not (or where its binaries are)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        return False, f"no PostgreSQL server binaries under {PG_LIB}/*/bin (apt-get install postgresql)"
    if _run_as_postgres():
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return False, f"running as root and no '{PG_USER}' system user to run the server as"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return False, "psycopg2 is not installed (pip install 'psycopg2-binary>=2.9')"
    return True, f"PostgreSQL server binaries in {bin_dir}"


class PostgresStartError(RuntimeError):
    """The server did not come up; the message carries the tail of its log."""


class PostgresServer:
    """Context manager: a fresh PostgreSQL cluster in a temp folder, listening on 127.0.0.1:<free port> only."""

    def __init__(self, dbname: str = "nas", *, start_timeout: float = 30.0, bin_dir: Path | None = None) -> None:
        """Prepare (not start) a server that will hold one database named dbname."""
        self.dbname = dbname
        self.user = PG_USER
        self.host = "127.0.0.1"
        self.start_timeout = start_timeout
        self.bin_dir = bin_dir or find_pg_bin()
        self.port: int | None = None
        self.root: Path | None = None
        self._proc: subprocess.Popen | None = None

    # -- public surface -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database, for optuna.storages.RDBStorage."""
        self._require_started()
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def database_url(self, dbname: str) -> str:
        """SQLAlchemy URL of another database of this server (see create_database)."""
        self._require_started()
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, dbname: str) -> str:
        """Create an empty database dbname (no tables: what a first `nas search` on a new server sees); its URL."""
        self._require_started()
        done = subprocess.run([str(self.bin_dir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", PG_USER,
                               dbname], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise PostgresStartError(f"createdb {dbname} exited {done.returncode}: {done.stderr}")
        return self.database_url(dbname)

    @property
    def pid(self) -> int:
        """Process id of the postmaster (it leads its own process group, with all backends in it)."""
        self._require_started()
        return self._proc.pid

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """Folder of the server's unix socket (.s.PGSQL.<port>)."""
        return self.root

    @property
    def log_path(self) -> Path:
        """The server's stdout/stderr log."""
        return self.root / "server.log"

    def __enter__(self) -> PostgresServer:
        """Start the server; on failure nothing is left running and the temp folder is gone."""
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stop the server and remove its folder, also when the body raised."""
        self.stop()

    def start(self) -> None:
        """Create the cluster, start the postmaster on a free loopback port and create the database."""
        if self.bin_dir is None:
            raise PostgresStartError(postgres_available()[1])
        try:
            self._make_root()
            self._initdb()
            self._start_postmaster()
            self._createdb()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the postmaster (pg_ctl stop -m fast, then SIGKILL of its group) and remove the temp folder."""
        try:
            if self._proc is not None:
                self._stop_postmaster()
        finally:
            self._proc = None
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None

    # -- steps ----------------------------------------------------------------------------------------------------

    def _require_started(self) -> None:
        """Raise unless the server is running."""
        if self._proc is None:
            raise RuntimeError("PostgresServer is not started")

    def _make_root(self) -> None:
        """A private temp folder under /tmp (short socket path), owned by the user the server runs as."""
        self.root = Path(tempfile.mkdtemp(prefix="nas-pg-", dir="/tmp"))
        if _run_as_postgres():
            entry = pwd.getpwnam(PG_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _server_cmd(self, args: list[str], **kwargs) -> subprocess.Popen:
        """Popen of a server-side binary from bin_dir, as the postgres user when we are root."""
        if _run_as_postgres():
            kwargs.update(user=PG_USER, group=pwd.getpwnam(PG_USER).pw_gid, extra_groups=[])
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        return subprocess.Popen([str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, env=env,
                                stdin=subprocess.DEVNULL, **kwargs)

    def _server_run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run a server-side binary to completion, raising PostgresStartError with its output on failure."""
        proc = self._server_cmd(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise PostgresStartError(f"{args[0]} timed out after {timeout}s:\n{out}") from None
        if proc.returncode != 0:
            raise PostgresStartError(f"{args[0]} exited {proc.returncode}:\n{out}")
        return subprocess.CompletedProcess(args, proc.returncode, out, None)

    def _initdb(self) -> None:
        """initdb a cluster with superuser PG_USER and trust auth (local and loopback)."""
        self._server_run(["initdb", "-D", str(self.data_dir), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
                          "--locale=C", "--no-sync"], timeout=120)

    def _start_postmaster(self, attempts: int = 3) -> None:
        """Start the postmaster on a free port, retrying with another port when the chosen one was taken."""
        for attempt in range(attempts):
            self.port = free_port()
            self._launch()
            try:
                self._wait_ready()
                return
            except PostgresStartError:
                log = self._log_tail()
                self._stop_postmaster()
                if "could not bind" not in log or attempt == attempts - 1:
                    raise

    def _launch(self) -> None:
        """Popen the postmaster (own session/process group), its output to log_path."""
        settings = [arg for key, value in SERVER_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        with open(self.log_path, "ab") as log:
            self._proc = self._server_cmd(
                ["postgres", "-D", str(self.data_dir), "-p", str(self.port), "-k", str(self.socket_dir),
                 "-c", f"listen_addresses={self.host}", *settings],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_ready(self) -> None:
        """Wait until the server accepts connections (pg_isready), or raise with the log's tail."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PostgresStartError(f"postgres exited {self._proc.returncode}:\n{self._log_tail()}")
            ready = subprocess.run([str(self.bin_dir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port),
                                    "-U", PG_USER, "-d", "postgres", "-t", "1"], stdin=subprocess.DEVNULL)
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise PostgresStartError(f"postgres not ready after {self.start_timeout}s:\n{self._log_tail()}")

    def _createdb(self) -> None:
        """Create the database over TCP as PG_USER (a client: needs no special user)."""
        done = subprocess.run([str(self.bin_dir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", PG_USER,
                               self.dbname], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise PostgresStartError(f"createdb exited {done.returncode}: {done.stderr}")

    def _stop_postmaster(self, grace: float = 15.0) -> None:
        """pg_ctl stop -m fast; if the postmaster (or a backend) is still alive after that, SIGKILL its group."""
        proc = self._proc
        if proc.poll() is None:
            try:
                self._server_run(["pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w",
                                  "-t", str(int(grace))], timeout=grace + 5)
            except (PostgresStartError, OSError):
                pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is None or pid_alive(proc.pid):
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
        wait_until(lambda: not group_alive(proc.pid), timeout=grace)
        if group_alive(proc.pid):
            signal_group(proc.pid, signal.SIGKILL)
        self._proc = None

    def _log_tail(self, chars: int = 3000) -> str:
        """The last chars characters of the server log ('' when there is none)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except (OSError, TypeError):
            return ""


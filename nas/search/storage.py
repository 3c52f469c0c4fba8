"""Optuna storages: an SQLite file by default, any RDB URL, or a journal file; opened with one-line errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from search_space.errors import UserError

DEFAULT_STORAGE_FILE = "nas-studies.db"
JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
CREATE_ATTEMPTS = 5


class StorageError(UserError):
    """A storage that does not open, or a study that is not in it."""


def storage_url(spec: str | None) -> str:
    """A canonical storage string: RDB URLs unchanged, a path to an SQLite file or a journal file made explicit.

    None -> sqlite:///<cwd>/nas-studies.db; 'x.db' -> sqlite:///<abs>/x.db; 'journal:x.log' or 'x.log' ->
    journal:<abs>/x.log.
    """
    if spec is None or spec == "":
        return f"sqlite:///{Path(DEFAULT_STORAGE_FILE).resolve()}"
    if "://" in spec:
        return spec
    if spec.startswith("journal:"):
        return f"journal:{Path(spec[len('journal:'):]).resolve()}"
    path = Path(spec)
    if path.suffix in JOURNAL_SUFFIXES:
        return f"journal:{path.resolve()}"
    return f"sqlite:///{path.resolve()}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _rdb_read_only(url: str, label: str, creator: Any = None) -> Any:
    """An RDBStorage that never creates tables nor stamps versions (the schema must already be Optuna's)."""
    import optuna
    import sqlalchemy

    kwargs: dict[str, Any] = {"creator": creator} if creator else {}
    try:
        engine = sqlalchemy.create_engine(url, **kwargs)
        try:
            tables = set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - bad URL, missing driver, unreachable server, not a database
        raise StorageError(f"cannot open storage {label}: {_first_line(exc)}") from None
    if not {"studies", "trials", "version_info", "alembic_version"} <= tables:
        raise StorageError(f"cannot open storage {label}: not an Optuna study storage")
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, skip_table_creation=True)
    except Exception as exc:  # noqa: BLE001 - e.g. a schema of another Optuna version
        raise StorageError(f"cannot open storage {label}: {_first_line(exc)}") from None


def recover_hot_journal(path: Path) -> None:
    """Roll back the transaction a killed writer left in `path`'s rollback journal, if there is one.

    A read-only SQLite connection cannot roll back a hot journal and fails every read until a writer opens the file
    (e.g. the dashboard after a search was killed mid-commit). Rolling back restores the last committed state, so
    nothing stored changes; without write permission the reader's own error stands."""
    import sqlite3

    journal = path.with_name(path.name + "-journal")
    try:
        if not journal.is_file() or journal.stat().st_size == 0:
            return
        con = sqlite3.connect(str(path), timeout=60)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchall()  # a read by a writer rolls it back
        finally:
            con.close()
    except (OSError, sqlite3.Error):
        return


def open_read_only(spec: str | None) -> Any:
    """A storage for `spec` that cannot change what is stored: SQLite files in SQLite's own read-only mode,
    other databases only when Optuna's tables exist (nothing is created), journal files never written."""
    import sqlite3
    from urllib.parse import quote

    url = storage_url(spec)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.is_file():
            raise StorageError(f"no study storage at {path} (run `nas search` first, or pass --storage)")
        uri = f"file:{quote(str(path))}?mode=ro"

        def connect() -> sqlite3.Connection:
            recover_hot_journal(path)
            return sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False)

        return _rdb_read_only(url, str(path), creator=connect)
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):])
        if not path.exists():
            raise StorageError(f"no journal storage at {path}")
        return open_storage(spec)  # a journal is appended to only when a trial is written; readers write none
    return _rdb_read_only(url, display_storage(spec))


def open_storage(spec: str | None, read_only: bool = False) -> Any:
    """An Optuna storage object for `spec` (see storage_url); read_only: see `open_read_only`."""
    import optuna

    if read_only:
        return open_read_only(spec)
    url = storage_url(spec)
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):])
        try:
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            return JournalStorage(JournalFileBackend(str(path)))
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot open journal storage {path}: {exc}") from None
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.parent.exists():
            raise StorageError(f"cannot create {path}: folder {path.parent} does not exist")
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(CREATE_ATTEMPTS):
        try:
            # Trials of a killed process are found by nas.search.recovery (owner + heartbeat on any storage).
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception as exc:  # noqa: BLE001 - bad URL, missing driver, unreachable server, damaged file
            # several processes creating the tables of a new storage at once: the losers see the winner's
            # tables half made (already exists / unique violation); opening again finds them complete
            if attempt + 1 < CREATE_ATTEMPTS and _creation_race(exc):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise StorageError(f"cannot open storage {display_storage(spec)}: {_first_line(exc)}") from None
    raise AssertionError("unreachable")


def _creation_race(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("already exists", "unique", "duplicate", "locked"))


def display_storage(spec: str | None) -> str:
    """The storage as shown to users: a file path, or a database URL with its password hidden."""
    url = storage_url(spec)
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    if url.startswith("journal:"):
        return url[len("journal:"):]
    try:
        import sqlalchemy

        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses; show it as given
        return url

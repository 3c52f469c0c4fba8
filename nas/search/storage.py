"""Optuna storages: an SQLite file by default, any RDB URL, or a journal file; opened with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from search_space.errors import UserError

DEFAULT_STORAGE_FILE = "nas-studies.db"
JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
HEARTBEAT_S = 30


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


def open_storage(spec: str | None, read_only: bool = False) -> Any:
    """An Optuna storage object for `spec` (see storage_url). read_only: the file must already exist."""
    import optuna

    url = storage_url(spec)
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):])
        if read_only and not path.exists():
            raise StorageError(f"no journal storage at {path}")
        try:
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            return JournalStorage(JournalFileBackend(str(path)))
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot open journal storage {path}: {exc}") from None
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if read_only and not path.exists():
            raise StorageError(f"no study storage at {path} (run `nas search` first, or pass --storage)")
        if not read_only and not path.parent.exists():
            raise StorageError(f"cannot create {path}: folder {path.parent} does not exist")
    try:
        # A heartbeat marks trials of a killed process as failed when the study is next used (resume after kill).
        beat = {} if read_only else {"heartbeat_interval": HEARTBEAT_S, "grace_period": 2 * HEARTBEAT_S}
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}}
                                          if url.startswith("sqlite") else {}, **beat)
    except Exception as exc:  # noqa: BLE001 - bad URL, missing driver, unreachable server, damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {url}: {first}") from None


def describe_storage(spec: str | None) -> str:
    """The storage as shown to users (the file path for SQLite / journal files)."""
    url = storage_url(spec)
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    if url.startswith("journal:"):
        return url[len("journal:"):]
    return url

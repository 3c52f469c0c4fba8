"""Opening a study storage strictly read-only: SQLite in `mode=ro`, other databases without table creation."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nas.search.storage import JOURNAL_SUFFIXES, StorageError, open_storage, storage_url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _rdb(url: str, label: str, creator: Any = None) -> Any:
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


def open_read_only(spec: str | None) -> Any:
    """An Optuna storage for `spec` (see nas.search.storage.storage_url) that cannot change what is stored."""
    url = storage_url(spec)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.is_file():
            raise StorageError(f"no study storage at {path} (run `nas search` first, or pass --storage)")
        uri = f"file:{quote(str(path))}?mode=ro"
        return _rdb(url, str(path), creator=lambda: sqlite3.connect(uri, uri=True, timeout=60,
                                                                    check_same_thread=False))
    if url.startswith("journal:"):
        return open_storage(spec, read_only=True)  # appends only when a trial is written; we never write one
    return _rdb(url, display_storage(spec))


def display_storage(spec: str | None) -> str:
    """The storage as shown to users: a file path, or a database URL with its password hidden."""
    url = storage_url(spec)
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        return path if Path(path).suffix in JOURNAL_SUFFIXES else url
    try:
        import sqlalchemy

        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses; show it as given
        return url


def study_names(storage: Any) -> list[str]:
    """Names of the studies in an opened storage, oldest first."""
    return [s.study_name for s in storage.get_all_studies()]


def open_study(storage: Any, study_name: str | None) -> Any:
    """The study `study_name` (the only one when None); StorageError naming the studies otherwise."""
    import optuna

    names = study_names(storage)
    if study_name is None:
        if len(names) != 1:
            raise StorageError(f"the storage holds {len(names)} studies ({', '.join(names) or 'none'}); "
                               f"choose one with --study")
        study_name = names[0]
    if study_name not in names:
        raise StorageError(f"no study {study_name!r} in the storage (studies: {', '.join(names) or 'none'})")
    return optuna.load_study(study_name=study_name, storage=storage)

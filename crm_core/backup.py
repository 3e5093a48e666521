"""An online backup of the SQLite database: a consistent copy taken while the engine runs.

Copying ``cti.db`` with ``cp`` while the engine writes can give a torn file, and misses whatever
still sits in ``cti.db-wal``. SQLite's backup API copies the database as one read transaction
sees it (WAL mode: the engine's writers are not blocked), into ``<dest>.part``, which is checked
(``PRAGMA integrity_check``) and then renamed into place: a file named ``dest`` is always a whole
backup. It is mode 0600, like the database (customers, password hashes).

PostgreSQL has its own tools (``pg_dump``); this module does not wrap them."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_core.db import sqlite_file
from cti.errors import ConfigError
from cti.files import private_file


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    revision: str | None  # the Alembic revision the copy is at
    interactions: int


def sqlite_path(url: str) -> Path:
    """The file of a SQLite database URL; ConfigError for any other database."""
    if not url.startswith("sqlite"):
        scheme = url.split(":", 1)[0]
        raise ConfigError(f"database_url is {scheme}: back it up with its own tools (pg_dump -Fc for "
                          "PostgreSQL); `cti db backup` copies a SQLite database")
    path = sqlite_file(url)
    if path is None:
        raise ConfigError("database_url names no SQLite file (an in-memory database or a file: URI): "
                          "there is nothing to back up")
    return path


def backup_sqlite(source: Path, dest: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the database at ``source`` into ``dest`` (see the module docstring). Blocking: run it
    in a thread from async code."""
    if not source.is_file():
        raise ConfigError(f"{source}: no database there (database_url)")
    if dest.resolve() == source.resolve():
        raise ConfigError(f"{dest} is the database itself: name another file")
    if dest.is_dir():
        raise ConfigError(f"{dest} is a directory: name the backup file in it (e.g. {dest / 'cti.db'})")
    if dest.exists() and not overwrite:
        raise ConfigError(f"{dest} exists: name a new file, or pass --overwrite")
    try:
        part = private_file(dest.with_name(f".{dest.name}.{os.getpid()}.part"))
    except OSError as err:  # a read-only or full file system, a path through a file
        raise ConfigError(f"cannot write the backup beside {dest}: {err.strerror or err}") from None
    try:
        src = sqlite3.connect(source)  # read only in effect (a read-only one cannot open a WAL file alone)
        try:
            out = sqlite3.connect(part)
            try:
                src.backup(out)  # all pages in one step: one read transaction, one consistent copy
                (verdict,) = out.execute("PRAGMA integrity_check").fetchone()
                if verdict != "ok":
                    raise ConfigError(f"the copy of {source} failed its integrity check: {verdict}")
                revision = _scalar(out, "SELECT version_num FROM alembic_version")
                interactions = _scalar(out, "SELECT count(*) FROM interactions")
                out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            finally:
                out.close()
        finally:
            src.close()
        os.replace(part, dest)
    except (OSError, sqlite3.Error) as err:
        part.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the backup {dest}: {err}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return BackupResult(dest, dest.stat().st_size, None if revision is None else str(revision),
                        int(interactions or 0))


def _scalar(conn: sqlite3.Connection, sql: str) -> Any:
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.OperationalError:  # not migrated yet: no such table
        return None
    return None if row is None else row[0]

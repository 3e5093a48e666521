"""An online backup of the SQLite database: a consistent copy taken while the engine runs.

Copying ``cti.db`` with ``cp`` while the engine writes can give a torn file, and misses whatever
still sits in ``cti.db-wal``. SQLite's backup API copies the database as one read transaction
sees it (WAL mode: the engine's writers are not blocked), into ``<dest>.part``, which is checked
(``PRAGMA integrity_check``) and then renamed into place: a file named ``dest`` is always a whole
backup. It is mode 0600, like the database (customers, password hashes). A ``dest`` whose directory
does not exist is refused, not created: a mistyped path would make directories open to the host's
other users and leave the customers there.

``restore_sqlite`` puts a backup in place of the database, with the engine stopped: it refuses while
anything holds the database open, checks the backup (a SQLite file, whole, at a migration revision
this release knows) in a private copy beside the database, moves the database and its ``-wal`` and
``-shm`` files aside (a ``-wal`` left beside the restored file would be replayed into it), and
renames the copy into place, mode 0600 and, run as root, owned by the database's owner. It counts
what both databases hold that a restore can take back from the call center: calls, campaign dial
attempts, do-not-call numbers, callbacks already called or closed.

PostgreSQL has its own tools (``pg_dump``, ``pg_restore``); this module does not wrap them."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_core.db import sqlite_file
from crm_core.revisions import alembic_config
from cti.errors import ConfigError
from cti.files import private_file


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    revision: str | None  # the Alembic revision the copy is at
    interactions: int


def sqlite_path(url: str, *, restore: bool = False) -> Path:
    """The file of a SQLite database URL; ConfigError for any other database."""
    if not url.startswith("sqlite"):
        scheme = url.split(":", 1)[0]
        if restore:
            raise ConfigError(f"database_url is {scheme}: restore it with its own tools (pg_restore for a "
                              "PostgreSQL dump); `cti db restore` replaces a SQLite database")
        raise ConfigError(f"database_url is {scheme}: back it up with its own tools (pg_dump -Fc for "
                          "PostgreSQL); `cti db backup` copies a SQLite database")
    path = sqlite_file(url)
    if path is None:
        raise ConfigError("database_url names no SQLite file (an in-memory database or a file: URI): "
                          f"there is nothing to {'restore' if restore else 'back up'}")
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
    if not os.path.lexists(dest.parent):  # a typo's directories are not made (0755, customers inside)
        raise ConfigError(f"{dest.parent} does not exist: create it first (mode 0700), or name another directory")
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


@dataclass(frozen=True)
class Counts:
    """What a database holds that matters when one replaces another."""

    interactions: int
    attempts: int  # campaign dial attempts
    dnc: int  # numbers on the do-not-call lists


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    revision: str  # the backup's migration revision
    head: str  # this release's (the engine applies those between at its start)
    restored: Counts
    aside: Path | None  # where the database it replaced went (its -wal and -shm beside it)
    replaced: Counts | None  # what that one held (None: none, or unreadable)
    dnc_lost: int  # do-not-call numbers of the replaced database the backup lacks
    callbacks_reopened: int  # callbacks open in the backup that the replaced database had called or closed


def restore_sqlite(backup: Path, target: Path, *, now: datetime | None = None) -> RestoreResult:
    """Put ``backup`` in place of the database ``target`` (see the module docstring); the engine
    must be stopped. Blocking."""
    if not backup.is_file():
        raise ConfigError(f"{backup}: no backup there" + (" (a directory)" if backup.is_dir() else ""))
    if target.exists() and backup.resolve() == target.resolve():
        raise ConfigError(f"{backup} is the database itself: name the backup to restore")
    if target.exists():
        _refuse_if_open(target)
    try:
        part = private_file(target.with_name(f".{target.name}.{os.getpid()}.restore"))
    except OSError as err:
        raise ConfigError(f"cannot write beside {target}: {err.strerror or err}") from None
    try:
        revision, head, restored = _checked_copy(backup, part)
        aside, replaced, lost = _move_aside(target, part, now or datetime.now(UTC))
        owner = target.parent.stat() if aside is None else aside.stat()
        if os.geteuid() == 0:  # run as root for the engine's user: the file stays that user's
            os.chown(part, owner.st_uid, owner.st_gid)
        os.replace(part, target)
        _sync_dir(target.parent)
    except (OSError, sqlite3.Error) as err:
        part.unlink(missing_ok=True)
        raise ConfigError(f"cannot restore {backup}: {err}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return RestoreResult(target, revision, head, restored, aside, replaced, *lost)


def _refuse_if_open(target: Path) -> None:
    """Refuse while a connection holds ``target`` open (the engine keeps its pool's open): leaving
    WAL mode needs every other connection gone. Done, it also folds a crashed engine's ``-wal`` into
    the file, so the database moved aside is whole on its own."""
    conn = sqlite3.connect(target, timeout=0)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise ConfigError(f"{target} is open (is the engine running?): stop it first, then restore") from None
    except sqlite3.DatabaseError:
        pass  # damaged (the reason to restore, maybe): moved aside as it is, -wal and all
    finally:
        conn.close()


def _checked_copy(backup: Path, part: Path) -> tuple[str, str, Counts]:
    """Copy the backup into ``part`` and check the copy: whole, a migrated database of a revision
    this release knows. Returns the revision, this release's head, what it holds."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    src = sqlite3.connect(backup)
    try:
        out = sqlite3.connect(part)
        try:
            try:
                src.backup(out)
                (verdict,) = out.execute("PRAGMA integrity_check").fetchone()
            except sqlite3.DatabaseError as err:
                raise ConfigError(f"{backup} is not a readable SQLite database ({err}): nothing was changed") from None
            if verdict != "ok":
                raise ConfigError(f"{backup} failed its integrity check ({verdict}): nothing was changed")
            revision = _scalar(out, "SELECT version_num FROM alembic_version")
            scripts = ScriptDirectory.from_config(alembic_config())
            if revision is None:
                raise ConfigError(f"{backup} has no migration revision: not a backup of this engine's database; "
                                  "nothing was changed")
            try:
                known = scripts.get_revision(str(revision)) is not None
            except CommandError:
                known = False
            if not known:
                raise ConfigError(f"{backup} is at revision {revision}, which this release does not know (a backup "
                                  "from a newer release?): restore it with that release; nothing was changed")
            counts = _counts(out)
            out.execute("PRAGMA journal_mode=DELETE")
        finally:
            out.close()
    finally:
        src.close()
    return str(revision), str(scripts.get_current_head()), counts


_DNC_LOST = ("SELECT count(DISTINCT number) FROM main.do_not_call WHERE number NOT IN "
             "(SELECT number FROM restored.do_not_call)")
# Callbacks open in the backup that the database it replaces had called since, or closed: an agent
# would call these customers again.
_REOPENED = ("SELECT count(*) FROM restored.callbacks r JOIN main.callbacks m ON m.id = r.id "
             "WHERE r.state IN ('pending', 'claimed') AND (m.state NOT IN ('pending', 'claimed') "
             "OR m.attempts > r.attempts OR m.called_at IS NOT NULL AND r.called_at IS NULL)")


def _move_aside(target: Path, part: Path, now: datetime) -> tuple[Path | None, Counts | None, tuple[int, int]]:
    """Move the database and its -wal and -shm files aside (names that keep them together)."""
    if not target.exists():
        return None, None, (0, 0)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    aside = target.with_name(f"{target.name}.before-restore-{stamp}")
    n = 1
    while any(aside.with_name(aside.name + suffix).exists() for suffix in ("", "-wal", "-shm", "-journal")):
        n += 1  # a second restore within the second must not replace the first one's files
        aside = target.with_name(f"{target.name}.before-restore-{stamp}-{n}")
    replaced: Counts | None = None
    lost = (0, 0)
    try:
        old = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        try:
            replaced = _counts(old)
            old.execute("ATTACH DATABASE ? AS restored", (f"file:{part}?mode=ro",))
            lost = (int(_scalar(old, _DNC_LOST) or 0), int(_scalar(old, _REOPENED) or 0))
        finally:
            old.close()
    except sqlite3.Error:
        pass  # damaged: nothing to count
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = target.with_name(target.name + suffix)
        if src.exists():
            os.replace(src, aside.with_name(aside.name + suffix))
    return aside, replaced, lost


def _counts(conn: sqlite3.Connection) -> Counts:
    return Counts(*(int(_scalar(conn, f"SELECT count(*) FROM {table}") or 0)
                    for table in ("interactions", "campaign_attempts", "do_not_call")))


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # the renames themselves must be durable
    finally:
        os.close(fd)

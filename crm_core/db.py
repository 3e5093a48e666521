"""The one module that creates the SQLAlchemy engines: SQLite through aiosqlite (WAL, busy
timeout, foreign keys) or PostgreSQL through asyncpg, plus the units of work and migrations.

Repositories and services never commit; ``Database.session()`` is the unit of work that does.

Hot paths (the call logger's writer, the common wrap-up, the IVR's caller look-up, the event
feed's inserts) use ``Database.run(fn)`` / ``run_read(fn)`` instead: ``fn`` is one synchronous
function on a Core ``Connection`` and is the whole transaction. On a SQLite file it runs on a
synchronous engine (pysqlite, the same file and PRAGMAs) in a thread of this database's own (one
for writes, one for reads), so a transaction costs one hop between the event loop and a thread
instead of several per statement (aiosqlite), and no greenlet switch; each of the two threads holds
one connection between its transactions (opened on its first, replaced after an error, closed by
``dispose``). On PostgreSQL it runs through ``AsyncConnection.run_sync`` on the asyncpg engine.
Errors map to ``DatabaseUnavailable`` as in ``session()``. Their many-row INSERTs and UPDATEs go
through ``crm_core.bulk_rows.execute_rows`` (on SQLite, rows straight to the driver as tuples).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from crm_core.errors import DatabaseUnavailable
from crm_core.errors import LoginRefused as LoginRefused  # its home before crm_core/errors.py: still importable here
from crm_core.outbox import DiskThread
from crm_core.revisions import current_revision, run_upgrade
from cti.errors import ConfigError
from cti.files import private_file

log = logging.getLogger(__name__)
T = TypeVar("T")


def _json_dumps(value: Any) -> str:
    """A JSON column's text: compact, UTF-8 as is (readable and searchable with LIKE in Chinese).
    orjson writes it ~5x faster than ``json`` with the same text but for float exponents (1e-05 is
    0.00001) and NaN (null: PostgreSQL refuses NaN in JSON); a value orjson refuses (an int past
    64 bits) takes ``json``'s form."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (its query, such as ``?timeout=3``, left out); None for
    an in-memory database, a ``file:`` URI, or another database."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def sqlite_folder_problem(file: Path) -> str | None:
    """Why SQLite file ``file``, not made yet, could not be made (its folder, or the nearest one of its
    folders that exists, is a file or not writable by this user), found without making anything;
    None when it could be."""
    folder = file.parent.absolute()
    nearest = folder
    while not nearest.exists() and nearest != nearest.parent:  # False too for a path through a file
        nearest = nearest.parent
    if not nearest.is_dir():
        return f"cannot create its folder {folder}: {nearest} is a file, not a folder"
    if not os.access(nearest, os.W_OK | os.X_OK):
        return (f"cannot create it in {folder}: permission denied" if nearest == folder else
                f"cannot create its folder {folder}: permission denied in {nearest}")
    return None


# The files SQLite makes beside a database at run time (WAL mode: -wal and -shm; a rollback: -journal).
_BESIDE = (("-wal", "write-ahead log"), ("-shm", "shared-memory index"), ("-journal", "rollback journal"))


def sqlite_file_problem(file: Path) -> str | None:
    """Why SQLite file ``file`` could not be opened and written by this user, found without making or
    changing anything; None when it could be. Not made yet: ``sqlite_folder_problem``. Made: it, or a
    file SQLite keeps beside it (``_BESIDE``), is a folder or not writable, or its folder is not
    writable (SQLite makes its -wal and -shm files there as it opens it): each of these failed only
    once the engine ran, after the PBX had started (os.access: as this user, a read-only mount too)."""
    path = file.absolute()
    if not path.exists():  # a dangling symlink too: SQLite makes its target
        return sqlite_folder_problem(file)
    if not path.is_file():
        return "it is a folder, not a file" if path.is_dir() else "it is not a regular file"
    if not os.access(path, os.R_OK | os.W_OK):
        return "cannot write it: permission denied"
    for suffix, what in _BESIDE:
        beside = path.with_name(path.name + suffix)
        if beside.exists():
            if not beside.is_file():
                return f"cannot write its {what} {beside}: {'a folder' if beside.is_dir() else 'not a file'} is there"
            if not os.access(beside, os.R_OK | os.W_OK):
                return f"cannot write its {what} {beside}: permission denied"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"cannot write its folder {path.parent} (SQLite makes its -wal and -shm files there): permission denied"
    return None


def sqlite_problem_line(file: Path, why: str) -> str:
    """The one line `cti config check`, `cti run` and ``Database`` say for a SQLite file ``why`` names."""
    return f"database: SQLite file {file}: {why}; check database_url (CTI_DATABASE_URL)"


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # WAL lets the console read while the call logger writes; the busy timeout makes a writer
        # wait for another writer's lock instead of failing at once with "database is locked".
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


class Database:
    """An async engine, its session factory and the migrations, for one database URL."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, echo: bool = False,
                 pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # JSON stays readable (and searchable with LIKE) for Chinese text: no \uXXXX escapes.
        kwargs: dict[str, Any] = {"echo": echo, "json_serializer": _json_dumps}
        file = sqlite_file(url)
        if file is not None:  # an operator's path through a file, or not theirs to write: said before SQLite fails
            if (why := sqlite_file_problem(file)) is not None:
                raise ConfigError(sqlite_problem_line(file, why))
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:  # what the probe could not foresee (a folder made meanwhile, a full disk)
                raise ConfigError(sqlite_problem_line(
                    file, f"cannot create its folder {file.parent.absolute()}: {err.strerror or err}")) from None
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000}
            # Enough pooled connections for the sessions open at once at full load (IVR look-ups,
            # wrap-ups, call log, feed): an overflow connection is closed when returned, so every
            # checkout past the pool opened a new SQLite connection (aiosqlite thread, PRAGMAs,
            # WAL set-up) and closed it again -- hundreds a minute at 10 calls/s, with stalls.
            kwargs.update(pool_size=max(pool_size, 20), max_overflow=10)
        else:
            kwargs.update(pool_size=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # The synchronous engine of ``run``/``run_read`` on a SQLite file (None: they go through
        # the async engine, as on PostgreSQL or an in-memory SQLite that only one engine can see).
        self.sync_engine: Engine | None = None
        self._threads: dict[str, DiskThread] = {}
        # The connection each of those threads holds between its transactions (touched only in that
        # thread): a pool checkout and return per transaction was ~15 % of a hot write's CPU.
        self._held: dict[str, Connection] = {}
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
            if file is not None:
                _owner_only(file)
                self.sync_engine = create_engine(
                    make_url(url).set(drivername="sqlite"), echo=echo, json_serializer=_json_dumps,
                    connect_args={"timeout": busy_timeout_ms / 1000}, pool_size=4, max_overflow=4)
                event.listen(self.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        # This database's own Session class: ORM events (``crm_core.directory``'s cache invalidation)
        # listen on it without hearing every other database's sessions in the process.
        self.session_class: type[Session] = type("CrmSession", (Session,), {})
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=self.session_class)

    @classmethod
    def from_settings(cls, settings: Any) -> Database:
        return cls(settings.resolved_database_url())

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Unit of work: commit when the block ends cleanly, roll back when it raises."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except (OperationalError, DBAPIError, OSError) as err:
                await _quiet_rollback(session)
                _raise_if_unavailable(err)
                raise
            except BaseException:
                await _quiet_rollback(session)
                raise

    @property
    def statement_engines(self) -> tuple[Engine, ...]:
        """Every synchronous engine that runs this database's statements (for cursor events:
        statement counts, timing metrics)."""
        return (self.engine.sync_engine,) + ((self.sync_engine,) if self.sync_engine is not None else ())

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` as one transaction, committed when it returns, rolled back when it
        raises. ``fn`` is synchronous and must not touch event-loop state (it may run in a thread)."""
        if self.sync_engine is None:
            return await self._run_async(fn, write=True)
        return await self._in_thread("write", fn)

    async def run_read(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` that only reads; on SQLite in its own thread, so that a read never waits
        behind a batch of writes (WAL lets it run beside them)."""
        if self.sync_engine is None:
            return await self._run_async(fn, write=False)
        return await self._in_thread("read", fn)

    async def _in_thread(self, kind: str, fn: Callable[[Connection], T]) -> T:
        # One thread per kind, its jobs in order; the answer comes back with one call_soon_threadsafe
        # (a ThreadPoolExecutor hop -- futures chained both ways -- cost about twice the CPU).
        thread = self._threads.get(kind)
        if thread is None:
            thread = self._threads[kind] = DiskThread(f"crm-db-{kind}")
        try:
            return await thread.submit(lambda: self._transaction(kind, fn))  # type: ignore[no-any-return]
        except (OperationalError, DBAPIError, OSError) as err:
            _raise_if_unavailable(err)
            raise

    def _transaction(self, kind: str, fn: Callable[[Connection], T]) -> T:
        """``fn`` as one transaction on the connection this kind's thread holds (opened on its first
        job): committed when it returns (a read's is rolled back: nothing was written, and WAL's
        snapshot is let go), rolled back when it raises. After an error the connection is closed (a
        locked or lost file, a broken statement: the next job starts on a fresh one)."""
        conn = self._held.get(kind)
        if conn is None:
            assert self.sync_engine is not None
            conn = self._held[kind] = self.sync_engine.connect()
        try:
            if kind == "read":
                try:
                    return fn(conn)
                finally:
                    conn.rollback()
            with conn.begin():
                return fn(conn)
        except BaseException:
            del self._held[kind]
            with contextlib.suppress(Exception):
                conn.close()
            raise

    def _let_go(self, kind: str) -> None:
        conn = self._held.pop(kind, None)
        if conn is not None:
            conn.close()

    async def _run_async(self, fn: Callable[[Connection], T], *, write: bool) -> T:
        try:
            if write:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(fn)
            async with self.engine.connect() as conn:
                return await conn.run_sync(fn)
        except (OperationalError, DBAPIError, OSError) as err:
            _raise_if_unavailable(err)
            raise

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except (OperationalError, DBAPIError, OSError):
            return False

    async def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to ``revision`` on this database."""
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(run_upgrade, revision)
        except (OperationalError, DBAPIError, OSError) as err:
            _raise_if_refused(err)
            _raise_if_unreachable(err)  # a wrong URL's refused connection: `cti db upgrade` says so
            raise

    async def current_revision(self) -> str | None:
        try:
            async with self.engine.connect() as conn:
                return await conn.run_sync(current_revision)
        except (OperationalError, DBAPIError, OSError) as err:
            _raise_if_refused(err)
            _raise_if_unreachable(err)
            raise

    async def dispose(self) -> None:
        threads, self._threads = dict(self._threads), {}
        for kind, thread in threads.items():
            if kind in self._held:  # closed in the thread that used it, after its last transaction
                with contextlib.suppress(Exception):
                    await thread.submit(lambda kind=kind: self._let_go(kind))  # type: ignore[misc]
            await asyncio.to_thread(thread.stop)  # a transaction under way ends first
        if self.sync_engine is not None:
            self.sync_engine.dispose()
        await self.engine.dispose()


async def probe_revision(url: str, *, timeout_s: float) -> str | None:
    """The schema revision of the database at ``url`` (None: no migration applied), asked over one
    connection made within ``timeout_s``, nothing created or changed (``cti config check``; the caller
    makes sure a SQLite file exists, which connecting would create). A server that is away or does
    not answer in time: ``DatabaseUnavailable`` saying why; a login it refuses: ``ConfigError``."""
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": timeout_s})
    try:
        # asyncpg's timeout bounds its connection and login; this one the whole look-up.
        async with asyncio.timeout(timeout_s + 1.0), engine.connect() as conn:
            return await conn.run_sync(current_revision)
    except TimeoutError as err:  # before OSError, of which it is one
        raise DatabaseUnavailable.because(f"no answer within {timeout_s:g} s") from err
    except (OperationalError, DBAPIError, OSError) as err:
        _raise_if_refused(err)
        _raise_if_unreachable(err)
        raise
    finally:
        await engine.dispose()


def database_where(url: str) -> str:
    """Which database ``url`` names, for an operator: engine, host, port, database name and user,
    never the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        file = sqlite_file(url)
        return f"SQLite file {file}" if file is not None else f"SQLite database {parsed.database or ':memory:'}"
    user = f" as user {parsed.username!r}" if parsed.username else ""
    return f"PostgreSQL database {parsed.database!r} on {parsed.host or 'localhost'}:{parsed.port or 5432}{user}"


def connect_problem(url: str, err: ConfigError | DatabaseUnavailable) -> str:
    """The line `cti config check` and `cti run` print for a database that refused the login
    (``ConfigError``) or did not answer (``DatabaseUnavailable``), and `cti db`'s and `cti users`'
    commands for a refused login (``LoginRefused``): where, and why, never the password."""
    if isinstance(err, DatabaseUnavailable):
        return (f"database: cannot connect to {database_where(url)}: {err.message if err.why is None else err.why}; "
                "check database_url (CTI_DATABASE_URL) and that the server runs")
    return f"database: {database_where(url)}: {err.message}"


def _why(err: BaseException) -> str:
    """A connection's failure in a few words, for an operator (no URL, so no password, in it)."""
    cause = getattr(err, "orig", None) or err
    if isinstance(cause, ConnectionRefusedError) or "connect call failed" in str(cause).lower():
        return "connection refused (nothing listens there)"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return (str(cause).splitlines() or [type(cause).__name__])[0]


def _owner_only(path: Path) -> None:
    """The SQLite file readable by its owner only: it holds customers' data and password hashes.
    Created so before SQLite opens it, and tightened if it is not; SQLite gives its -wal and -shm
    files the database's own mode when it creates them (these are tightened too if they exist)."""
    private_file(path, setting="database_url (CTI_DATABASE_URL)")
    for p in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            private_file(p)


# PostgreSQL's refusals of a login: configuration (database_url), not an outage to wait out.
_REFUSED = ("password authentication failed", "does not exist", "no pg_hba.conf entry", "authentication failed")


def _raise_if_refused(err: BaseException) -> None:
    """The server answered and refused the login (a wrong password, user or database name)."""
    text = str(getattr(err, "orig", None) or err).splitlines()[0] if str(err) else ""
    if isinstance(err, DBAPIError) and any(s in text for s in _REFUSED):
        reason = text.split(") ", 1)[-1]  # past SQLAlchemy's "(dialect.Error) " prefix
        raise LoginRefused(f"the database server refused the login: {reason}; check database_url "
                          "(CTI_DATABASE_URL): its user, password and database name") from None


def _raise_if_unreachable(err: BaseException) -> None:
    """A connection made to start work (migrations, the revision) that the database did not take:
    ``DatabaseUnavailable`` saying why in a few words (connection refused, no such host...)."""
    _raise_if_unavailable(err, why=_why)


def _raise_if_unavailable(err: BaseException, *,
                          why: Callable[[BaseException], str] = lambda e: type(e).__name__) -> None:
    """The database away (see ``_is_unavailable``) raises ``DatabaseUnavailable`` (``why``: the
    failure in a few words; a statement's path says only its type); a wrong statement is left to its
    own error."""
    if _is_unavailable(err):
        raise DatabaseUnavailable.because(why(err)) from err


async def _quiet_rollback(session: AsyncSession) -> None:
    try:
        await session.rollback()
    except (OperationalError, DBAPIError, OSError):
        log.debug("rollback failed on an unavailable database", exc_info=True)


def _is_unavailable(err: BaseException) -> bool:
    """Connection refused / dropped / locked: the database is away, not the statement wrong."""
    if isinstance(err, OSError):
        return True
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    msg = str(err).lower()
    return any(s in msg for s in ("database is locked", "connection", "could not connect", "refused",
                                  "terminating", "shutting down", "unable to open", "closed",
                                  "cannot connect", "server"))

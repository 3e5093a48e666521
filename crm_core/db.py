"""The one module that creates the SQLAlchemy engine (async): SQLite through aiosqlite (WAL, busy
timeout, foreign keys) or PostgreSQL through asyncpg, plus the unit of work and migrations.

Repositories and services never commit; ``Database.session()`` is the unit of work that does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from crm_core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000}
            # Enough pooled connections for the sessions open at once at full load (IVR look-ups,
            # wrap-ups, call log, feed): an overflow connection is closed when returned, so every
            # checkout past the pool opened a new SQLite connection (aiosqlite thread, PRAGMAs,
            # WAL set-up) and closed it again -- hundreds a minute at 10 calls/s, with stalls.
            kwargs.update(pool_size=max(pool_size, 20), max_overflow=10)
        else:
            kwargs.update(pool_size=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
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
                if _is_unavailable(err):
                    raise DatabaseUnavailable(f"database unavailable: {type(err).__name__}") from err
                raise
            except BaseException:
                await _quiet_rollback(session)
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
        async with self.engine.begin() as conn:
            await conn.run_sync(_run_upgrade, revision)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _run_upgrade(sync_conn: Any, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(sync_conn), revision)


def _current_revision(sync_conn: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(sync_conn).get_current_revision()


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

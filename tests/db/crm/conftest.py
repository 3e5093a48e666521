"""Every CRM database test runs twice: on SQLite and on a real PostgreSQL server.

Each test gets a fresh, migrated database: a copy of a migrated SQLite file, or a PostgreSQL
database created from a migrated template (fast, and nothing leaks between tests). ``bus`` is a
started in-process bus (the virtual-hold tests' engines share one).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from crm_core.db import Database
from cti.bus import InProcessBus

_counter = itertools.count()


def _plain_dsn(url: str, database: str | None = None) -> str:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    return dsn if database is None else dsn.rsplit("/", 1)[0] + "/" + database


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crm-template") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> str:
    async def create() -> None:
        conn = await asyncpg.connect(_plain_dsn(postgres_url))
        try:
            await conn.execute("CREATE DATABASE crm_template")
        finally:
            await conn.close()
        await _migrate(postgres_url.rsplit("/", 1)[0] + "/crm_template")

    asyncio.run(create())
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "crm.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    base = request.getfixturevalue("postgres_template")
    name = f"crm_test_{next(_counter)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(_plain_dsn(base))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE DATABASE {name} TEMPLATE crm_template"))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    """A started in-process bus, stopped after the test."""
    b = InProcessBus()
    await b.start()
    yield b
    await b.stop()

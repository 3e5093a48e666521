"""Alembic environment: runs on the connection ``crm_core.db.Database.upgrade`` hands over, or,
when alembic is run by hand, on an engine from ``crm_core.db`` for the configured database."""

from __future__ import annotations

import asyncio

from alembic import context

from crm_core.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    from crm_core.db import Database
    from cti.settings import load_settings

    url = config.get_main_option("sqlalchemy.url") or load_settings().resolved_database_url()
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await db.dispose()


if context.is_offline_mode():
    _run_offline()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    asyncio.run(_run_with_own_engine())

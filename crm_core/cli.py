"""``cti db``: migrate, seed the demo company, show what the database holds."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

app = typer.Typer(help="The CRM database: migrations, demo data, statistics.", no_args_is_help=True)


def _database() -> Any:
    from crm_core.db import Database
    from cti.cli import settings_or_exit

    return Database.from_settings(settings_or_exit())


async def _with_db(work: Any) -> Any:
    db = _database()
    try:
        return await work(db)
    finally:
        await db.dispose()


def _run(work: Any) -> Any:
    from cti.errors import CtiError

    try:
        return asyncio.run(_with_db(work))
    except CtiError as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(1) from None


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the database migrations (SQLite file or PostgreSQL from database_url)."""

    async def work(db: Any) -> str | None:
        await db.upgrade(revision)
        return await db.current_revision()

    typer.echo(f"database at revision {_run(work)}")


@app.command("seed-demo")
def seed_demo() -> None:
    """Create the demo company (idempotent: running it twice adds nothing the second time)."""
    from crm_core.seed import seed_demo as seed

    async def work(db: Any) -> dict[str, int]:
        await db.upgrade()
        return await seed(db, progress=lambda msg: typer.echo(f"seed: {msg}"))

    added = _run(work)
    typer.echo("seed: done (" + ", ".join(f"{k} +{v}" for k, v in added.items()) + ")")
    typer.echo("demo logins (development only): admin / admin-demo-1, sup1 / sup1-demo-1, "
               "agent1..agent8 / agent1-demo..agent8-demo (agent ids = extensions 1001..1008)")
    typer.echo("IVR demo accounts: 100001 PIN 1234 (张伟, key account, +8613800138000); "
               "100002..100010 PIN 1002..1010")


@app.command("stats")
def stats() -> None:
    """Rows per table and interactions per outcome."""
    from sqlalchemy import func, select

    from crm_core.models import Article, Case, Customer, Disposition, Interaction, Script, Segment, User

    async def work(db: Any) -> list[str]:
        lines = []
        async with db.session() as s:
            for model in (Customer, User, Interaction, Segment, Case, Disposition, Script, Article):
                n = await s.scalar(select(func.count()).select_from(model))
                lines.append(f"{model.__tablename__:22} {n}")
            rows = await s.execute(select(Interaction.outcome, func.count()).group_by(Interaction.outcome))
            for outcome, n in sorted(rows.all(), key=lambda r: str(r[0])):
                lines.append(f"  outcome {outcome or '(in progress)':20} {n}")
        return lines

    for line in _run(work):
        typer.echo(line)

"""``cti db``: migrate, seed the demo company, show what the database holds, back it up and
restore it (``cti users`` is ``crm_core.users_cli``), and the helpers both run their work with."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from crm_core.db import Database

app = typer.Typer(help="The CRM database: migrations, demo data, statistics, backups.", no_args_is_help=True)


def _database() -> Any:
    from crm_core.db import Database
    from cti.cli import settings_or_exit

    return Database.from_settings(settings_or_exit())


def _where(url: str) -> str:
    """The database URL for an error line, its password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def _with_db(work: Any) -> Any:
    db = _database()
    try:
        return await work(db)
    finally:
        await db.dispose()


def run_db(work: Any) -> Any:
    """``work(db)`` on the settings' database, disposed after; a database away or refusing us, or any
    CtiError, is one error line and exit code 1, never a traceback."""
    from crm_core.db import connect_problem
    from crm_core.errors import DatabaseUnavailable, LoginRefused
    from cti.cli import settings_or_exit
    from cti.errors import CtiError

    try:
        return asyncio.run(_with_db(work))
    except LoginRefused as err:  # `cti config check`'s and `cti run`'s line: which server, database and user
        typer.echo(f"error: {connect_problem(settings_or_exit().resolved_database_url(), err)}", err=True)
        raise typer.Exit(1) from None
    except DatabaseUnavailable as err:
        # A wrong URL, a server not started: which database, never a traceback.
        cause = f" ({err.__cause__})" if err.__cause__ is not None else ""
        typer.echo(f"error: {err.message}{cause} at {_where(settings_or_exit().resolved_database_url())}; "
                   "check database_url (CTI_DATABASE_URL) and that the server runs", err=True)
        raise typer.Exit(1) from None
    except CtiError as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(1) from None


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the database migrations (SQLite file or PostgreSQL from database_url)."""

    async def work(db: Database) -> str | None:
        await db.upgrade(revision)
        return await db.current_revision()

    current = run_db(work)
    if revision != "head" and current != revision:
        # Alembic's upgrade to an older revision does nothing: say so, not just where it stands.
        typer.echo(f"database at revision {current}, past {revision}: nothing done "
                   "(`cti db upgrade` never goes back; restore a backup to return to an older release)")
        return
    typer.echo(f"database at revision {current}")


@app.command("seed-demo")
def seed_demo() -> None:
    """Create the demo company (idempotent: running it twice adds nothing the second time)."""
    from crm_core.seed import demo_logins
    from crm_core.seed import seed_demo as seed
    from cti.cli import settings_or_exit

    config_dir = settings_or_exit().config_dir  # the agents are its queues.yaml's roster

    async def work(db: Database) -> dict[str, int]:
        await db.upgrade()
        return await seed(db, progress=lambda msg: typer.echo(f"seed: {msg}"), config_dir=config_dir)

    added = run_db(work)
    typer.echo("seed: done (" + ", ".join(f"{k} +{v}" for k, v in added.items()) + ")")
    typer.echo("demo logins (development only; an agent's id is their extension):")
    for login in demo_logins(config_dir):
        typer.echo(f"  {login}")
    typer.echo("IVR demo accounts: 100001 PIN 1234 (张伟, key account, +8613800138000); "
               "100002..100010 PIN 1002..1010")


@app.command("stats")
def stats() -> None:
    """Rows per table and interactions per outcome."""
    from sqlalchemy import func, select

    from crm_core.models import Article, Case, Customer, Disposition, Interaction, Script, Segment, User

    async def work(db: Database) -> list[str]:
        from cti.errors import ConfigError

        if await db.current_revision() is None:
            raise ConfigError("the database has no tables yet (no migration applied): run `cti db upgrade`")
        lines = []
        async with db.session() as s:
            for model in (Customer, User, Interaction, Segment, Case, Disposition, Script, Article):
                n = await s.scalar(select(func.count()).select_from(model))
                lines.append(f"{model.__tablename__:22} {n}")
            rows = await s.execute(select(Interaction.outcome, func.count()).group_by(Interaction.outcome))
            for outcome, n in sorted(rows.all(), key=lambda r: str(r[0])):
                lines.append(f"  outcome {outcome or '(in progress)':20} {n}")
        return lines

    for line in run_db(work):
        typer.echo(line)


@app.command("backup")
def backup(dest: Path = typer.Argument(..., help="The backup file to write (a new file)."),
           overwrite: bool = typer.Option(False, "--overwrite", help="Replace DEST if it exists.")) -> None:
    """A consistent copy of the SQLite database, taken while the engine runs (PostgreSQL: use
    pg_dump). Keep var/ with it: the webhook key that unseals webhook secrets lives there."""
    from crm_core.backup import backup_sqlite, sqlite_path
    from cti.cli import settings_or_exit
    from cti.errors import CtiError

    try:
        source = sqlite_path(settings_or_exit().resolved_database_url())
        result = backup_sqlite(source, dest, overwrite=overwrite)
    except CtiError as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"backup: {result.path} ({result.size_bytes} bytes, revision {result.revision}, "
               f"{result.interactions} interactions)")


@app.command("restore")
def restore(backup: Path = typer.Argument(..., help="The backup file to restore (made by `cti db backup`).")) -> None:
    """Put a backup in place of the SQLite database, the engine stopped: the backup is checked
    first, the database and its -wal/-shm files are moved aside (nothing is deleted). Then start the
    engine: it applies the migrations an older backup lacks and replays the journals in var/."""
    from crm_core.backup import restore_sqlite, sqlite_path
    from cti.cli import settings_or_exit
    from cti.errors import CtiError

    try:
        target = sqlite_path(settings_or_exit().resolved_database_url(), restore=True)
        result = restore_sqlite(backup, target)
    except CtiError as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(2) from None
    r = result.restored
    typer.echo(f"restored: {result.path} from {backup} (revision {result.revision}; {r.interactions} interactions, "
               f"{r.attempts} campaign dial attempts, {r.dnc} do-not-call numbers)")
    if result.aside is not None:
        old = result.replaced
        held = ("unreadable" if old is None else f"{old.interactions} interactions, {old.attempts} campaign dial "
                f"attempts, {old.dnc} do-not-call numbers")
        typer.echo(f"moved aside: {result.aside} ({held}); delete it once the restore is checked")
    if result.dnc_lost:
        typer.echo(f"warning: {result.dnc_lost} do-not-call numbers of the database moved aside are not in the "
                   "backup: campaigns would dial them again. Add them again before resuming any campaign "
                   "(docs/deployment.md, Restoring a SQLite backup)")
    if result.callbacks_reopened:
        typer.echo(f"warning: {result.callbacks_reopened} callbacks are open again that the database moved aside "
                   "had called or closed: agents would call those customers again. Check them on /callbacks")
    if result.replaced is not None and result.replaced.attempts > r.attempts:
        typer.echo(f"warning: {result.replaced.attempts - r.attempts} campaign dial attempts are not in the backup: "
                   "their contacts are pending again. Pause the campaigns and check them before resuming")
    if result.revision != result.head:
        typer.echo(f"the backup is at revision {result.revision}, this release at {result.head}: `cti run` "
                   "(or `cti db upgrade`) applies the migrations between")
    typer.echo("start the engine: the journals in var/ are written into the restored database")

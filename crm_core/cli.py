"""``cti db``: migrate, seed the demo company, show what the database holds, back it up and
restore it; ``cti users``: the first administrator of a database without the demo."""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="The CRM database: migrations, demo data, statistics, backups.", no_args_is_help=True)
users_app = typer.Typer(help="CRM users: create the first administrator, deactivate the demo's.",
                        no_args_is_help=True)

# An administrator's password typed by a person: longer than create_user's floor of 8 for agents.
MIN_ADMIN_PASSWORD = 12


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


def _run(work: Any) -> Any:
    from crm_core.errors import DatabaseUnavailable
    from cti.cli import settings_or_exit
    from cti.errors import CtiError

    try:
        return asyncio.run(_with_db(work))
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

    async def work(db: Any) -> str | None:
        await db.upgrade(revision)
        return await db.current_revision()

    current = _run(work)
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

    async def work(db: Any) -> dict[str, int]:
        await db.upgrade()
        return await seed(db, progress=lambda msg: typer.echo(f"seed: {msg}"), config_dir=config_dir)

    added = _run(work)
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

    async def work(db: Any) -> list[str]:
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

    for line in _run(work):
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


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


@users_app.command("create-admin")
def create_admin(
    username: str = typer.Argument(..., help="Login name of the new administrator."),
    generate: bool = typer.Option(False, "--generate", help="Generate a strong password and print it once."),
    display_name: str = typer.Option("", "--display-name", help="Name shown in the console (default: username)."),
) -> None:
    """Create an administrator (migrating the database first): the password is asked on the terminal,
    or generated with --generate and printed once. Stored as an argon2id hash, never in clear."""
    from crm_core.errors import InvalidField
    from crm_core.users import check_password, check_username, create_user

    try:
        check_username(username)  # before a password is asked for or made
    except InvalidField as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(1) from None
    if generate:
        password = secrets.token_urlsafe(18)  # 24 characters, 144 random bits
    elif _stdin_is_tty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        if len(password) < MIN_ADMIN_PASSWORD:
            typer.echo(f"error: password: must be at least {MIN_ADMIN_PASSWORD} characters", err=True)
            raise typer.Exit(1)
        try:
            check_password(password, username)
        except InvalidField as err:
            typer.echo(f"error: {err.message}", err=True)
            raise typer.Exit(1) from None
    else:
        # Never read a password from a pipe or a file: it ends up in shell history and scripts.
        typer.echo("error: no terminal to ask the password on; run it on a terminal, or pass --generate "
                   "(a strong password is printed once)", err=True)
        raise typer.Exit(2)

    async def work(db: Any) -> None:
        await db.upgrade()
        async with db.session() as s:
            await create_user(session=s, username=username, password=password, role="admin",
                              display_name=display_name or username)

    _run(work)
    typer.echo(f"administrator {username!r} created")
    if generate:
        typer.echo(f"password: {password}")
        typer.echo("(shown once: store it now; it cannot be read back)")


@users_app.command("deactivate-demo")
def deactivate_demo() -> None:
    """Deactivate every user who still logs in with a password the demo publishes (admin /
    admin-demo-1, agent1 / agent1-demo...): what `cti run` refuses to start with."""
    from crm_core.seed import published_logins
    from crm_core.users import set_active, user_by_username
    from cti.cli import settings_or_exit

    config_dir = settings_or_exit().config_dir

    async def work(db: Any) -> list[str]:
        await db.upgrade()
        logins = await published_logins(db, config_dir=config_dir)
        async with db.session() as s:
            for username in logins:
                user = await user_by_username(session=s, username=username)
                if user is not None:
                    await set_active(session=s, user_id=user.id, active=False)
        return logins

    logins: list[str] = _run(work)
    if not logins:
        typer.echo("no user logs in with a published demo password")
        return
    typer.echo(f"deactivated {len(logins)} user(s) with a published demo password: {', '.join(logins)}")

"""``cti users``: the first administrator of a database without the demo, the demo's users
deactivated, and a password reset by the operator of the engine's machine (the database only: it
works while the engine is stopped, or runs).

Passwords are never read from the command line (``ps`` and the shell's history show it): asked
twice on the terminal, read from standard input when asked to (``--password-stdin``), or generated
(``--generate``) and printed once. They follow the API's rule (``crm_core.users.check_new_password``).
"""

from __future__ import annotations

import getpass
import os
import secrets
import sys
from typing import TYPE_CHECKING

import typer

from crm_core.cli import run_db

if TYPE_CHECKING:
    from crm_core.db import Database

app = typer.Typer(help="CRM users: create the first administrator, reset a password, deactivate the demo's.",
                  no_args_is_help=True)


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _generated(username: str) -> str:
    """A strong random password (24 characters, 144 random bits) that the rule accepts for ``username``
    (a random string that happens to contain the login name is drawn again)."""
    from crm_core.errors import InvalidField
    from crm_core.users import check_new_password

    while True:
        password = secrets.token_urlsafe(18)
        try:
            check_new_password(password, username)
        except InvalidField:
            continue
        return password


def _checked(password: str, username: str) -> str:
    """``password`` if the rule accepts it for ``username``; else exit 1 naming what is wrong."""
    from crm_core.errors import InvalidField
    from crm_core.users import check_new_password

    try:
        check_new_password(password, username)
    except InvalidField as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(1) from None
    return password


def _asked(username: str, label: str = "password") -> str:
    """The password typed twice on the terminal, checked against the rule (exit 1 naming it)."""
    return _checked(typer.prompt(label, hide_input=True, confirmation_prompt=True), username)


def _show_once(password: str) -> None:
    typer.echo(f"password: {password}")
    typer.echo("(shown once: store it now; it cannot be read back)")


def _no_terminal(*ways: str) -> typer.Exit:
    typer.echo(f"error: no terminal to ask the password on; run it on a terminal, or pass {' or '.join(ways)}",
               err=True)
    return typer.Exit(2)


def local_operator() -> str:
    """Who ran the command, for the audit log: the operating system's user of this process."""
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor in /etc/passwd (a container)
        who = f"uid {os.getuid()}"
    return f"local operator ({who})"


@app.command("create-admin")
def create_admin(
    username: str = typer.Argument(..., help="Login name of the new administrator."),
    generate: bool = typer.Option(False, "--generate", help="Generate a strong password and print it once."),
    display_name: str = typer.Option("", "--display-name", help="Name shown in the console (default: username)."),
) -> None:
    """Create an administrator (migrating the database first): the password is asked on the terminal,
    or generated with --generate and printed once. Stored as an argon2id hash, never in clear."""
    from crm_core.errors import InvalidField
    from crm_core.users import check_username, create_user

    try:
        check_username(username)  # before a password is asked for or made
    except InvalidField as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(1) from None
    if generate:
        password = _generated(username)
    elif _stdin_is_tty():
        password = _asked(username)
    else:
        # Never read a password from a pipe or a file unasked: it ends up in shell history and scripts.
        raise _no_terminal("--generate (a strong password is printed once)")

    async def work(db: Database) -> None:
        await db.upgrade()
        async with db.session() as s:
            await create_user(session=s, username=username, password=password, role="admin",
                              display_name=display_name or username)

    run_db(work)
    typer.echo(f"administrator {username!r} created")
    if generate:
        _show_once(password)


@app.command("reset-password")
def reset_password(
    username: str = typer.Argument(..., help="The user's login name."),
    generate: bool = typer.Option(False, "--generate", help="Generate a strong password and print it once."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the new password from standard input (its first line)."),
) -> None:
    """Give a user a new password (migrating the database first): asked twice on the terminal, read
    from standard input with --password-stdin, or generated with --generate and printed once. Every
    session of the user ends; the reset is audited with this machine's user as the actor. Works with
    the engine stopped. A deactivated user stays deactivated."""
    from crm_core import audit
    from crm_core.errors import CrmError
    from crm_core.users import set_password, user_by_username, users_named

    if generate and password_stdin:
        typer.echo("error: --generate and --password-stdin: give one of them", err=True)
        raise typer.Exit(2)
    if not (generate or password_stdin or _stdin_is_tty()):
        raise _no_terminal("--password-stdin (the password on standard input)",
                           "--generate (a strong password is printed once)")

    async def find(db: Database) -> tuple[str, bool]:
        await db.upgrade()
        async with db.session() as s:
            user = await user_by_username(session=s, username=username)
            if user is None:
                like = await users_named(session=s, username=username)
                hint = f" (login names are exact: did you mean {', '.join(repr(n) for n in like)}?)" if like else ""
                raise CrmError(f"no user {username!r}{hint}")
            return user.username, user.active

    name, active = run_db(find)  # before a password is asked for: a typo costs nothing
    if generate:
        password = _generated(name)
    elif password_stdin:
        password = _checked(sys.stdin.readline().rstrip("\r\n"), name)
    else:
        password = _asked(name, f"new password for {name}")
    actor = local_operator()

    async def reset(db: Database) -> None:
        async with db.session() as s:
            user = await user_by_username(session=s, username=name)
            if user is None:
                raise CrmError(f"no user {name!r}")
            await set_password(session=s, user_id=user.id, password=password)  # ends their sessions too
            audit.record(s, actor=actor, actor_role="operator", action="user.password_reset",
                         target=f"user:{name}", detail={"via": "cti users reset-password", "sessions_ended": True,
                                                        "active": user.active})

    run_db(reset)
    typer.echo(f"password of {name!r} reset; every session of theirs has ended (audited as {actor})")
    if not active:
        typer.echo(f"note: {name!r} is deactivated and stays so: the new password works once an administrator "
                   "reactivates them (/users)")
    if generate:
        _show_once(password)


@app.command("deactivate-demo")
def deactivate_demo() -> None:
    """Deactivate every user who still logs in with a password the demo publishes (admin /
    admin-demo-1, agent1 / agent1-demo...): what `cti run` refuses to start with."""
    from crm_core.seed import published_logins
    from crm_core.users import set_active, user_by_username
    from cti.cli import settings_or_exit

    config_dir = settings_or_exit().config_dir

    async def work(db: Database) -> list[str]:
        await db.upgrade()
        logins = await published_logins(db, config_dir=config_dir)
        async with db.session() as s:
            for username in logins:
                user = await user_by_username(session=s, username=username)
                if user is not None:
                    await set_active(session=s, user_id=user.id, active=False)
        return logins

    logins: list[str] = run_db(work)
    if not logins:
        typer.echo("no user logs in with a published demo password")
        return
    typer.echo(f"deactivated {len(logins)} user(s) with a published demo password: {', '.join(logins)}")

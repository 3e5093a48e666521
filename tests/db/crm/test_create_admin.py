"""`cti users create-admin`: the first administrator of a database without the demo, with a
password asked on the terminal or generated (strong, printed once); argon2 like every password."""

from __future__ import annotations

import asyncio
import re

import pytest
from typer.testing import CliRunner

from callcenter.cli import app
from crm_core import users_cli
from crm_core.db import Database
from crm_core.users import authenticate, list_users


def _admins(db_url: str) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        db = Database(db_url)
        try:
            async with db.session() as s:
                return [(u.username, u.role, u.password_hash) for u in await list_users(session=s)]
        finally:
            await db.dispose()
    return asyncio.run(read())


def _login(db_url: str, username: str, password: str) -> str | None:
    async def check() -> str | None:
        db = Database(db_url)
        try:
            async with db.session() as s:
                user = await authenticate(session=s, username=username, password=password)
                return None if user is None else user.role
        finally:
            await db.dispose()
    return asyncio.run(check())


def test_generate_creates_an_admin_and_prints_the_password_once(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["users", "create-admin", "root-admin", "--generate"])
    assert result.exit_code == 0, result.output
    found = re.findall(r"password: (\S+)", result.output)
    assert len(found) == 1, result.output
    password = found[0]
    assert len(password) >= 20 and result.output.count(password) == 1
    users = _admins(db_url)
    assert [(u, r) for u, r, _ in users] == [("root-admin", "admin")]  # nothing else: no demo users
    assert users[0][2].startswith("$argon2id$") and password not in users[0][2]
    assert _login(db_url, "root-admin", password) == "admin"

    again = CliRunner().invoke(app, ["users", "create-admin", "root-admin", "--generate"])
    assert again.exit_code == 1 and "taken" in again.output


def test_the_password_is_asked_on_a_terminal(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    monkeypatch.setattr(users_cli, "_stdin_is_tty", lambda: True)
    typed = "correct horse battery staple"
    short = CliRunner().invoke(app, ["users", "create-admin", "boss"], input="short-pw1\nshort-pw1\n")
    assert short.exit_code == 1 and "at least 12" in short.output
    for weak, why in (("boss-boss-boss", "login name"), ("xyxyxyxyxyxy", "repeated"), ("abcdefghijklm", "run")):
        refused = CliRunner().invoke(app, ["users", "create-admin", "boss"], input=f"{weak}\n{weak}\n")
        assert refused.exit_code == 1 and why in refused.output, refused.output
    assert _admins(db_url) == []
    result = CliRunner().invoke(app, ["users", "create-admin", "boss"], input=f"{typed}\n{typed}\n")
    assert result.exit_code == 0, result.output
    assert typed not in result.output
    assert _login(db_url, "boss", typed) == "admin"


def test_without_a_terminal_it_asks_for_generate(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["users", "create-admin", "boss"], input="from-a-pipe-password\n")
    assert result.exit_code == 2 and "--generate" in result.output
    assert _admins(db_url) == []

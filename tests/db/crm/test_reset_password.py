"""`cti users reset-password`: the operator of the engine's machine gives a user a new password (the
go-live trial had no command for it: an administrator who lost theirs needed a spare account). The
password comes from the terminal, standard input (--password-stdin) or --generate, never the command
line; the API's rule holds; the user's sessions end; the reset is audited; no password is printed
(but a generated one, once) or logged. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from callcenter.cli import app
from callcenter.engine import Engine
from crm_core import users_cli
from crm_core.audit import AuditEntry
from crm_core.db import Database
from crm_core.users import authenticate, create_user, set_active, user_by_username
from cti.settings import load_settings
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[3]


def _password() -> str:
    return f"{secrets.token_urlsafe(12)}-Pw"  # a fresh one per test: nothing published is ever accepted


async def _user(db_url: str, username: str, password: str, *, role: str = "admin", active: bool = True) -> None:
    db = Database(db_url)
    try:
        async with db.session() as s:
            user = await create_user(session=s, username=username, password=password, role=role)
            if not active:
                await set_active(session=s, user_id=user.id, active=False)
    finally:
        await db.dispose()


async def _logs_in(db_url: str, username: str, password: str) -> bool:
    db = Database(db_url)
    try:
        async with db.session() as s:
            return await authenticate(session=s, username=username, password=password) is not None
    finally:
        await db.dispose()


async def _audit(db_url: str) -> list[AuditEntry]:
    db = Database(db_url)
    try:
        async with db.session() as s:
            return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == "user.password_reset"))).all())
    finally:
        await db.dispose()


@pytest.fixture
async def engine(db_url: str, tmp_path: Path) -> AsyncIterator[Engine]:
    """The real console app (an Engine, not started: no PBX) on this test's database."""
    settings = load_settings(database_url=db_url, state_dir=tmp_path / "state",
                             web={"port": free_port(), "session_secret": secrets.token_urlsafe(32)})
    eng = Engine(settings)
    try:
        yield eng
    finally:
        await eng.db.dispose()


def _client(eng: Engine) -> httpx.AsyncClient:
    assert eng.app is not None
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=eng.app, raise_app_exceptions=False),
                             base_url=f"http://127.0.0.1:{eng.settings.web.port}", timeout=10)


def _cti(db_url: str, tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The real command, in a process of its own, its standard input a pipe (no terminal)."""
    env = {**os.environ, "CTI_DATABASE_URL": db_url, "CTI_STATE_DIR": str(tmp_path / "state"),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", "from callcenter.cli import app; app(prog_name='cti')", *args],
                          input=stdin, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


async def test_the_new_password_logs_in_through_the_api_and_the_old_one_and_its_sessions_end(
        db_url: str, engine: Engine, tmp_path: Path) -> None:
    old, new = _password(), _password()
    await _user(db_url, "boss", old)
    async with _client(engine) as c:
        r = await c.post("/api/auth/login", json={"username": "boss", "password": old})
        assert r.status_code == 200, r.text
        session = {"Authorization": f"Bearer {r.json()['token']}"}
        assert (await c.get("/api/admin/users", headers=session)).status_code == 200

        done = await asyncio.to_thread(_cti, db_url, tmp_path, "users", "reset-password", "boss", "--password-stdin",
                                       stdin=f"{new}\n")
        assert done.returncode == 0, done.stderr
        assert "password of 'boss' reset" in done.stdout, done.stdout
        out = done.stdout + done.stderr
        assert new not in out and old not in out and "$argon2" not in out

        # The session issued before the reset is over (every node asks the database), the old
        # password is refused, the new one logs in.
        assert (await c.get("/api/admin/users", headers=session)).status_code == 401
        assert (await c.post("/api/auth/login", json={"username": "boss", "password": old})).status_code == 401
        r = await c.post("/api/auth/login", json={"username": "boss", "password": new})
        assert r.status_code == 200, r.text
        assert (await c.get("/api/admin/users", headers={"Authorization": f"Bearer {r.json()['token']}"})
                ).status_code == 200
    (row,) = await _audit(db_url)
    assert row.target == "user:boss" and row.actor.startswith("local operator (") and row.actor_role == "operator"
    assert row.detail == {"via": "cti users reset-password", "sessions_ended": True, "active": True}
    assert new not in str(row.detail) and old not in str(row.detail)


async def test_generate_prints_the_password_once_and_logs_none(db_url: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    old, typed = _password(), _password()
    await _user(db_url, "agent7", old, role="agent")
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    with caplog.at_level(logging.DEBUG):  # every logger, the database's and alembic's included
        generated = await asyncio.to_thread(CliRunner().invoke, app, ["users", "reset-password", "agent7",
                                                                      "--generate"])
        assert generated.exit_code == 0, generated.output
        (password,) = re.findall(r"password: (\S+)", generated.output)
        assert len(password) >= 20 and generated.output.count(password) == 1
        assert await _logs_in(db_url, "agent7", password) and not await _logs_in(db_url, "agent7", old)

        monkeypatch.setattr(users_cli, "_stdin_is_tty", lambda: True)  # asked twice on the terminal
        asked = await asyncio.to_thread(CliRunner().invoke, app, ["users", "reset-password", "agent7"],
                                        input=f"{typed}\n{typed}\n")
        assert asked.exit_code == 0, asked.output
        assert typed not in asked.output and await _logs_in(db_url, "agent7", typed)
    for secret in (old, password, typed):
        assert secret not in caplog.text
    assert len(await _audit(db_url)) == 2


async def test_a_deactivated_user_gets_the_password_and_stays_deactivated(db_url: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _password(), _password()
    await _user(db_url, "leaver", old, role="supervisor", active=False)
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    result = await asyncio.to_thread(CliRunner().invoke, app, ["users", "reset-password", "leaver",
                                                               "--password-stdin"], input=f"{new}\n")
    assert result.exit_code == 0, result.output
    assert "'leaver' is deactivated and stays so" in result.output, result.output
    assert not await _logs_in(db_url, "leaver", new)  # deactivated: no password logs in
    db = Database(db_url)
    try:
        async with db.session() as s:
            user = await user_by_username(session=s, username="leaver")
            assert user is not None and not user.active
            await set_active(session=s, user_id=user.id, active=True)
    finally:
        await db.dispose()
    assert await _logs_in(db_url, "leaver", new) and not await _logs_in(db_url, "leaver", old)
    (row,) = await _audit(db_url)
    assert row.detail["active"] is False


@pytest.mark.parametrize(("args", "stdin", "code", "said"), [
    (["nobody", "--password-stdin"], "a-Fine-long-phrase\n", 1, "error: no user 'nobody'"),
    (["Boss", "--password-stdin"], "a-Fine-long-phrase\n", 1, "did you mean 'boss'?"),
    (["boss", "--password-stdin"], "short-pw1\n", 1, "password: must be at least 12 characters"),
    (["boss", "--password-stdin"], "xyxyxyxyxyxyxy\n", 1, "repeated"),
    (["boss", "--password-stdin"], "boss-and-more-boss\n", 1, "login name"),
    (["boss", "--password-stdin"], "\n", 1, "password: must be at least 12 characters"),
    (["boss"], "a-Fine-long-phrase\n", 2, "no terminal to ask the password on"),  # a pipe is read only when asked
    (["boss", "--generate", "--password-stdin"], "a-Fine-long-phrase\n", 2, "give one of them"),
])
async def test_bad_input_is_one_line_naming_it_and_changes_nothing(
        args: list[str], stdin: str, code: int, said: str, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _password()
    await _user(db_url, "boss", old)
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    result = await asyncio.to_thread(CliRunner().invoke, app, ["users", "reset-password", *args], input=stdin)
    assert isinstance(result.exception, SystemExit) and result.exit_code == code, repr(result.exception)
    assert said in result.output and "Traceback" not in result.output, result.output
    assert stdin.strip() not in result.output or not stdin.strip()
    assert await _logs_in(db_url, "boss", old) and await _audit(db_url) == []

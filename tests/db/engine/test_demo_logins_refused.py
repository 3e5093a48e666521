"""A production start (``cti run --no-demo``) refuses a database whose users still log in with the
demo's published passwords (README: ``admin / admin-demo-1``...): a database seeded by ``make run``
or ``cti db seed-demo`` and taken into production would let anyone in as its administrator. The
error names the users and the way out; nothing is started. ``dev_mode`` accepts it with a warning,
and a demo user whose password was changed, or who is deactivated, is no longer a published login."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.cli import app
from callcenter.run import prepare_database
from crm_core.db import Database
from crm_core.users import create_user, set_active, set_password
from cti.errors import ConfigError
from cti.settings import Settings, load_settings


def _settings(tmp_path: Path, **over: object) -> Settings:
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                         **over)


async def _users(settings: Settings) -> dict[str, int]:
    db = Database.from_settings(settings)
    try:
        await db.upgrade()
        async with db.session() as s:
            boss = await create_user(session=s, username="boss", password="a-long-Own-passphrase", role="admin")
            # The demo's logins, as its seed makes them (their passwords are the README's).
            admin = await create_user(session=s, username="admin", password="admin-demo-1", role="admin",
                                      published=True)
            agent = await create_user(session=s, username="agent3", password="agent3-demo", role="agent",
                                      agent_id="1003", published=True)
            return {"boss": boss.id, "admin": admin.id, "agent3": agent.id}
    finally:
        await db.dispose()


async def test_a_database_with_published_demo_logins_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ids = await _users(settings)
    with pytest.raises(ConfigError) as err:
        await prepare_database(settings, seed=False)
    message = err.value.message
    assert "admin" in message and "agent3" in message and "boss" not in message, message
    assert "publishes" in message and "cti users deactivate-demo" in message and "dev_mode" in message, message

    # Changed or deactivated: no published login is left, and the start goes on.
    db = Database.from_settings(settings)
    try:
        async with db.session() as s:
            await set_password(session=s, user_id=ids["admin"], password="another-Own-passphrase")
            await set_active(session=s, user_id=ids["agent3"], active=False)
    finally:
        await db.dispose()
    assert await prepare_database(settings, seed=False) == 2


async def test_dev_mode_accepts_them_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path, dev_mode=True)
    await _users(settings)
    with caplog.at_level(logging.WARNING):
        assert await prepare_database(settings, seed=False) == 2
    assert "DEVELOPMENT MODE" in caplog.text and "admin" in caplog.text


async def test_the_demo_itself_is_not_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    await _users(settings)
    assert await prepare_database(settings, seed=True) >= 2


def test_cti_users_deactivate_demo_is_the_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path)
    asyncio.run(_users(settings))
    monkeypatch.setenv("CTI_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CTI_STATE_DIR", str(settings.state_dir))
    result = CliRunner().invoke(app, ["users", "deactivate-demo"])
    assert result.exit_code == 0, result.output
    assert "deactivated 2 user(s) with a published demo password: admin, agent3" in result.output
    assert asyncio.run(prepare_database(settings, seed=False)) == 1  # boss
    again = CliRunner().invoke(app, ["users", "deactivate-demo"])
    assert again.exit_code == 0 and "no user logs in with a published demo password" in again.output

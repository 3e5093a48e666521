"""A go-live of 30 seats on the default ``pbx.agent_endpoints`` (20): the agents whose phone
(extension, else agent id) is past the endpoints Asterisk gets have no phone at all (their console's
softphone is a 503 ``phone_unavailable``, ``cti agents sip-credentials`` refuses the extension), yet
``/api/admin/users`` creates them without a word. ``cti run`` names them as it starts, with the
setting to raise; users within the endpoints, deactivated ones, and staff without an extension are
not named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from callcenter.run import phoneless_users, prepare_database
from crm_core.db import Database
from crm_core.users import create_user, set_active
from cti.settings import Settings, load_settings

PASSWORD = "a-long-Own-passphrase"


def _settings(tmp_path: Path, **over: object) -> Settings:
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                         **over)


async def _staff(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        await db.upgrade()
        async with db.session() as s:
            await create_user(session=s, username="boss", password=PASSWORD, role="admin")
            await create_user(session=s, username="lead", password=PASSWORD, role="supervisor")
            await create_user(session=s, username="lead2", password=PASSWORD, role="supervisor", extension="1030")
            await create_user(session=s, username="alice", password=PASSWORD, role="agent", agent_id="1003")
            await create_user(session=s, username="bob", password=PASSWORD, role="agent", agent_id="1025")
            await create_user(session=s, username="carol", password=PASSWORD, role="agent", agent_id="2001",
                              extension="1020")
            gone = await create_user(session=s, username="dave", password=PASSWORD, role="agent", agent_id="1026")
            await set_active(session=s, user_id=gone.id, active=False)
    finally:
        await db.dispose()


async def test_a_start_names_the_users_past_the_endpoints(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path)  # pbx.agent_endpoints: 20, phones 1001..1020
    await _staff(settings)
    with caplog.at_level(logging.WARNING, logger="callcenter.run"):
        assert await prepare_database(settings, seed=False) == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "callcenter.run"]
    assert len(warnings) == 1, warnings
    text = warnings[0]
    assert "bob (1025)" in text and "lead2 (1030)" in text, text
    assert "pbx.agent_endpoints" in text and "20" in text and "cti pbx up" in text, text
    for named in ("alice", "carol", "dave", "boss", "lead "):
        assert named not in text, text

    # Endpoints enough for every seat: nothing to say.
    caplog.clear()
    settings = _settings(tmp_path, pbx={"agent_endpoints": 30})
    with caplog.at_level(logging.WARNING, logger="callcenter.run"):
        await prepare_database(settings, seed=False)
    assert not [r for r in caplog.records if r.name == "callcenter.run"]


def test_which_users_have_no_phone() -> None:
    users = [("a", "agent", "1001", None, True), ("b", "agent", "1021", None, True),
             ("c", "agent", "x7", None, True), ("d", "agent", "9000", "1002", True),
             ("e", "supervisor", None, None, True), ("f", "admin", None, "1099", True),
             ("g", "agent", "1050", None, False)]
    assert phoneless_users(users, agent_endpoints=20) == [("b", "1021"), ("c", "x7"), ("f", "1099")]
    assert phoneless_users(users, agent_endpoints=0) == [
        ("a", "1001"), ("b", "1021"), ("c", "x7"), ("d", "1002"), ("f", "1099")]

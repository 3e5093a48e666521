"""`cti run` whose engine cannot start (here: nothing answers on the AMI port) tells the error and
leaves nothing running behind it: what had started (the bus, the call log's journal, the AMI
client's reconnect loop, the database) is stopped before the error comes out. Before, the AMI
client went on probing the port in a task of its own."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import pytest

from callcenter.run import run
from cti.errors import CtiError
from cti.settings import load_settings
from tests.servers import free_port


async def test_a_failed_start_leaves_nothing_running(tmp_path: Path, restore_logging: None,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
        pbx={"mode": "system"},
        ami={"port": free_port(), "secret": secrets.token_urlsafe(24), "connect_timeout_s": 0.3},
        web={"port": free_port()}, agi={"port": free_port()})
    before = asyncio.all_tasks()
    with caplog.at_level(logging.INFO), pytest.raises(CtiError, match="not connected within"):
        await run(settings, demo=False)
    await asyncio.sleep(0.1)
    left = [t.get_name() for t in asyncio.all_tasks() - before if not t.done()]
    assert left == [], left
    assert "engine stopped" in caplog.text

"""The engine's stop hands the call log every journey event published before it: the bus delivers
what it holds first, then the call log writes it and closes its outbox. Before, the call log
closed its outbox first, and an event still in the bus (a bot's wrap-up as `cti run` stopped) met
"outbox is not open" and was dropped. No PBX is needed: the engine is not started, only its bus and
call log are (SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid
from cti.journey import CallArrived
from cti.settings import load_settings


async def test_events_published_just_before_the_stop_reach_the_call_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state")
    engine = Engine(settings, web=False)
    await engine.db.upgrade()
    engine.logger.subscribe(engine.bus)
    await engine.bus.start()
    await engine.logger.start()
    journal = engine.logger.outbox.append_in_thread

    async def slow_disk(lines: list[str]) -> None:  # a busy disk: the first batch takes a while
        await asyncio.sleep(0.3)
        await journal(lines)

    engine.logger.outbox.append_in_thread = slow_disk  # type: ignore[method-assign]
    lids = [f"stop-{n}" for n in range(5)]
    for lid in lids:
        await engine.bus.publish(CallArrived(ts=1_700_000_000.0, linkedid=lid, channel=f"PJSIP/t-{lid}",
                                             caller_number="+8613800138000", dnis="5000"))
        await asyncio.sleep(0)  # the first batch is under way; the others wait in the bus
    await engine.stop()
    assert "outbox is not open" not in caplog.text
    again = Engine(settings, web=False)
    try:
        await again.logger.start()  # what the first one left in its outbox, if anything, is replayed
        await again.logger.flush()
        async with again.db.session() as s:
            rows = [await interaction_by_linkedid(session=s, linkedid=lid) for lid in lids]
        assert all(r is not None and r.dialled_number == "5000" for r in rows), rows
    finally:
        await again.logger.stop()
        await again.db.dispose()

"""An engine that stops cleanly says where the agents' time ended (docs/kpis.md, "Agent time"): an
``engine_down`` row at the stop for every agent logged in, after the state they were in (a wrap-up
the stop ended included), so a report over the downtime counts none of it; the next engine's
recovery restores the state before that row, not a logout. Before, nothing was written and a report
counted the agents' last state through the whole downtime. No PBX is needed (SQLite)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from sqlalchemy import select

from callcenter.engine import Engine
from crm_core.agent_log import ENGINE_DOWN, AgentStateRow, last_states
from cti.settings import load_settings
from tests.servers import free_port


async def test_a_clean_stop_ends_the_agents_time_in_the_history(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                             web={"port": free_port(), "session_secret": secrets.token_urlsafe(32)})
    engine = Engine(settings)
    await engine.db.upgrade()
    await engine.bus.start()
    queue = engine.acd.queue_names()[0]
    now = time.time()
    await engine.acd.agent_login("a1", engine.acd.first_need(queue, None), [queue], ready=True, wrap_up_s=3600.0)
    await engine.acd.agent_login("a2", engine.acd.first_need(queue, None), [queue], ready=True)
    await engine.acd.agent_logout("a2")
    r = engine.acd.router
    r.enqueue("stop-1", queue, now - 40.0)
    r.offer_answered("stop-1", "a1", now - 30.0)
    r.call_ended("stop-1", now - 10.0)  # a1 wraps up: the stop ends it, and then a1's time
    began = time.time()
    await engine.stop()
    stopped = time.time()
    again = Engine(settings, web=False)
    try:
        async with again.db.session() as s:
            rows = list((await s.scalars(select(AgentStateRow).order_by(AgentStateRow.at, AgentStateRow.id))).all())
    finally:
        await again.db.dispose()
    a1 = [(row.state, row.reason) for row in rows if row.agent_id == "a1"]
    assert a1[-2:] == [("available", None), ("logged_out", ENGINE_DOWN)], a1
    down = [row for row in rows if row.reason == ENGINE_DOWN]
    assert [row.agent_id for row in down] == ["a1"]  # a2 had logged out itself
    assert began <= down[0].at <= stopped
    assert last_states(rows)["a1"] == ("available", None)  # what the next engine's recovery restores

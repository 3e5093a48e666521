"""The whole engine on a real Asterisk, stopped while the agent wraps up a real call: the call log's
after-call work ends at the stop (``ended_by`` stopped), where the agent left wrap-up; it was 0."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from acd.events import AgentStateChanged, AgentWrapUpEnded
from crm_core.db import Database
from crm_core.interactions import segments_of
from crm_core.models import Interaction
from cti.journey import CallConnected, CallEnded, QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import customer_number, place_call, recorded_engine, until


async def test_an_engine_stopped_during_a_wrap_up_ends_it_there(pbx: ManagedPbx, pbx_settings: Settings,
                                                                tmp_path: Path) -> None:
    async with recorded_engine(pbx, pbx_settings, tmp_path, answer_after_s=0.5) as (eng, seen):
        _, _, number = await customer_number(eng)
        await eng.desk.login_queues("1001", ["support", "general"])
        await eng.desk.set_ready("1001")
        queued = await place_call(eng, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
        call = queued.linkedid
        await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == call for e in seen))
        await asyncio.sleep(0.5)
        await eng.desk.hangup("1001", call)
        await until(lambda: eng.router.agent("1001").state.value == "wrap_up")
        await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == call for e in seen))
        await asyncio.sleep(0.5)  # half a second of after-call work, no form: then the engine stops
        database_url = eng.settings.database_url
    ends = [e for e in seen if isinstance(e, AgentWrapUpEnded) and e.linkedid == call]
    assert [(e.agent_id, e.reason) for e in ends] == [("1001", "stopped")]
    left = [e for e in seen if isinstance(e, AgentStateChanged) and e.agent_id == "1001" and e.since == ends[0].ts]
    assert [e.state for e in left] == ["available"]  # the agent state history leaves wrap-up at the same instant
    ended = next(e for e in seen if isinstance(e, CallEnded) and e.linkedid == call)
    db = Database(database_url)
    try:
        async with db.session() as s:
            row = (await s.scalars(select(Interaction).where(Interaction.linkedid == call))).one()
            wraps = [g for g in await segments_of(session=s, interaction_id=row.id) if g.kind == "wrapup"]
    finally:
        await db.dispose()
    assert row.acw_s >= 0.5 and abs(row.acw_s - (ends[0].ts - ended.ts)) < 0.05, (row.acw_s, ends[0].ts - ended.ts)
    assert [(g.agent_id, (g.detail or {}).get("ended_by")) for g in wraps] == [("1001", "stopped")]

"""Migration 0018: calls logged before the ACD published the end of each wrap-up get the after-call
work the agent state history recorded (docs/kpis.md), and keep it when the call logger folds them
again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from crm_core.agent_log import append_state
from crm_core.calllog import CallLogger
from crm_core.db import Database
from crm_core.models import Interaction, Segment
from crm_core.revisions import alembic_config
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, QueueEntered, SurveyAnswered, WrapUpDone

T = 1790000000.0


def _call(lid: str, agent: str, start: float, end: float, form: float | None) -> list[Event]:
    events: list[Event] = [
        CallArrived(ts=T + start, linkedid=lid, channel=f"PJSIP/trunk-{lid}", caller_number="13800138000"),
        QueueEntered(ts=T + start, linkedid=lid, queue="support"),
        CallConnected(ts=T + start + 5, linkedid=lid, agent_id=agent, queue="support"),
        CallEnded(ts=T + end, linkedid=lid)]
    if form is not None:
        events.append(WrapUpDone(ts=T + form, linkedid=lid, agent_id=agent, disposition="resolved"))
    return events


async def _log(db: Database, state: Path, events: list[Event]) -> None:
    logger = CallLogger(db, state)
    await logger.start()
    for ev in events:
        await logger.handle(ev)
    await logger.flush()
    await logger.stop()


async def _acw(db: Database) -> dict[str, tuple[float, str, list[tuple[float | None, str | None]]]]:
    async with db.session() as s:
        out = {}
        for i in (await s.scalars(select(Interaction).order_by(Interaction.linkedid))).all():
            segs = (await s.scalars(select(Segment).where(Segment.interaction_id == i.id, Segment.kind == "wrapup")
                                    .order_by(Segment.seq))).all()
            out[i.linkedid] = (i.acw_s, i.status, [(x.duration_s if x.ended_at is not None else None,
                                                    x.detail.get("ended_by")) for x in segs])
        return out


async def test_stored_calls_get_their_recorded_wrap_up_state_time(db: Database, tmp_path: Path) -> None:
    from alembic import command

    # Calls logged (by today's logger, which writes today's columns) before the state history is
    # known, then the schema taken back to before 0018: the rows 0018 found.
    await _log(db, tmp_path / "before", [
        *_call("M1", "1001", 10.0, 60.0, 95.0),  # the form came 25 s after the timer made 1001 ready
        *_call("M2", "1001", 110.0, 160.0, None),  # no form: 1001 went not ready after 12 s
        *_call("M3", "1001", 210.0, 260.0, 266.0),  # the form in wrap-up (the console then made them ready)
        *_call("M4", "1002", 10.0, 40.0, 90.0)])  # no state history for 1002: left as it was
    before = await _acw(db)
    assert {k: v[0] for k, v in before.items()} == {"M1": 35.0, "M2": 0.0, "M3": 6.0, "M4": 50.0}
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0017_agent_phone_reachable"))
    async with db.session() as s:
        for state, at, reachable in (("available", 0.0, True), ("reserved", 14.0, True), ("on_call", 15.0, True),
                                     ("wrap_up", 60.002, True), ("available", 70.0, True),
                                     ("on_call", 115.0, True), ("wrap_up", 160.003, True),
                                     ("wrap_up", 165.0, False),  # the phone dropped during the wrap-up
                                     ("not_ready", 172.0, False), ("available", 200.0, True),
                                     ("on_call", 215.0, True), ("wrap_up", 260.001, True),
                                     ("available", 266.004, True)):
            await append_state(session=s, agent_id="1001", state=state, reason=None, at=T + at,
                               phone_reachable=reachable)

    await db.upgrade()
    after = await _acw(db)
    assert after["M1"] == (10.0, "complete", [(10.0, "state_log")])
    assert after["M2"] == (12.0, "ended", [(12.0, "state_log")])
    assert after["M3"] == before["M3"] and after["M4"] == before["M4"]

    # A later event makes the call logger fold the calls again from their stored events: the ends
    # the migration added stay, and a late form still only gives the disposition.
    await _log(db, tmp_path / "after", [
        SurveyAnswered(ts=T + 75.0, linkedid="M1", queue="support", scores=(5,)),
        WrapUpDone(ts=T + 300.0, linkedid="M2", agent_id="1001", disposition="resolved")])
    again = await _acw(db)
    assert again["M1"] == after["M1"]
    assert again["M2"] == (12.0, "complete", [(12.0, "state_log")])
    async with db.session() as s:
        assert (await s.scalar(select(Interaction.csat).where(Interaction.linkedid == "M1"))) == 5


@pytest.mark.parametrize("gap", [-1.5, 5.5])
async def test_a_wrap_up_row_too_far_from_the_calls_end_is_another_calls(db: Database, tmp_path: Path,
                                                                         gap: float) -> None:
    from alembic import command

    await _log(db, tmp_path, _call("M1", "1001", 10.0, 60.0, 95.0))  # today's logger: today's columns
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0017_agent_phone_reachable"))
    async with db.session() as s:
        for state, at in (("wrap_up", 60.0 + gap), ("available", 70.0)):
            await append_state(session=s, agent_id="1001", state=state, reason=None, at=T + at)
    await db.upgrade()
    assert (await _acw(db))["M1"][0] == 35.0

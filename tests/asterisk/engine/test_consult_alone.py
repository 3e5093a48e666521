"""The transferring agent's phone hangs up the instant the consulted number has been bridged with
them, on the real Asterisk 22 and the whole engine: before the engine has recorded the consultation's
leg, the leg reports itself alone (``UserEvent(CtiConsultAlone)``, cti-consult-connect) and the
engine can only know it by its uniqueid, the ``ChannelId`` its Originate gave the Local channel's
``;1`` half (``acd.follower``'s ``on_consult_alone``). The transfer completes all the same: the
caller talks to the third party, the agent wraps up, and the interaction records the transfer.

That instant is a few milliseconds wide (between the two legs' BridgeEnter and the engine's
reading of it): it is held open here by keeping the engine's wait for that bridge from returning;
everything Asterisk does and reports is real."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.engine import Engine
from crm_core.models import Interaction, Segment
from cti.ami.events import ConsultAlone
from cti.events import Event
from cti.journey import CallConnected, CallTransferred, QueueEntered
from cti.pbx import ManagedPbx
from tests.helpers import customer_number, place_call, until


async def test_the_agents_phone_hanging_up_before_the_engine_recorded_the_consultation_completes_it(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx, monkeypatch: pytest.MonkeyPatch) -> None:
    eng, seen = engine
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    _, _, number = await customer_number(eng)
    queued = await place_call(eng, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
    linkedid, caller = queued.linkedid, queued.channel
    await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == linkedid for e in seen),
                what="the call connected to 1001")
    call = eng.acd.calls[linkedid]
    agent_leg = call.agent_channel
    assert agent_leg is not None and agent_leg.endswith(";1")

    # The engine's wait for the consultation's leg and the agent's to share a bridge never returns:
    # consult() stays between the number's answer and its recording of the leg.
    control = eng.acd.control
    real_wait = control.wait_bridged

    async def wait_bridged(channel: str, peer: str, *, together: bool = True, **kw: Any) -> bool:
        if together and peer == agent_leg and channel.startswith("Local/86950"):
            await asyncio.Event().wait()  # until consult() cancels it
        return await real_wait(channel, peer, together=together, **kw)

    monkeypatch.setattr(control, "wait_bridged", wait_bridged)
    transfer = asyncio.create_task(eng.desk.transfer("1001", linkedid, kind="attended", target_kind="number",
                                                     target="86950071"))
    try:
        # On Asterisk the number answered (8695...: at once) and its Bridge() pulled the agent's leg.
        third = await until(lambda: (p := eng.ami.model.bridged_peer(agent_leg)) is not None
                            and p.name.startswith("Local/86950071@cti-external") and p.name, what="the agent "
                            "bridged with the number")
        ring = call.consult_ring
        assert ring is not None and call.consult_channel is None and call.status == "consulting"
        leg = eng.ami.model.channel(third)
        assert leg is not None and third.endswith(";1") and leg.uniqueid == ring  # Originate's ChannelId

        await eng.ami.control.hangup(agent_leg.removesuffix(";1") + ";2")  # 1001's phone
        alone = await until(lambda: [e for e in seen if isinstance(e, ConsultAlone) and e.linkedid == linkedid],
                            what="the consultation's leg reporting itself alone")
        assert [(e.channel, e.uniqueid) for e in alone] == [(third, ring)]
        await asyncio.wait_for(transfer, 20)  # the consultation recorded, then completed: no error

        await until(lambda: (p := eng.ami.model.bridged_peer(caller)) is not None and p.name == third,
                    what="the caller talking to the third party")
        transferred = [e for e in seen if isinstance(e, CallTransferred) and e.linkedid == linkedid]
        assert [(e.kind, e.target_kind, e.target, e.from_agent) for e in transferred] == [
            ("attended", "number", "86950071", "1001")]
        await until(lambda: eng.router.agent("1001").state.value == "wrap_up", what="1001 wrapping up")
        assert call.consult_ring is None and call.consult_channel == third
    finally:
        if not transfer.done():
            transfer.cancel()
        with contextlib.suppress(BaseException):
            await transfer

    # The caller hangs up: the third party's leg ends with it, and the interaction has the transfer.
    await eng.ami.control.hangup(caller)
    await until(lambda: eng.ami.model.channel(third) is None or eng.ami.model.channel(third).ended_at is not None,
                what="the third party's leg gone with the caller")
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        row = (await s.scalars(select(Interaction).where(Interaction.linkedid == linkedid))).one()
        segments = list(await s.scalars(select(Segment).where(Segment.interaction_id == row.id,
                                                              Segment.kind == "transfer")))
    assert (row.agent_id, row.transfer_count) == ("1001", 1), (row.agent_id, row.transfer_count)
    assert [(g.agent_id, g.detail) for g in segments] == [
        ("1001", {"target": "86950071", "target_kind": "number", "kind": "attended"})]

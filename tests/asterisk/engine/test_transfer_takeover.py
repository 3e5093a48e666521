"""The agent who takes a call over by an attended transfer works it from their console, on the real
Asterisk: hold, resume and hang up. The call they adopt keeps the consultation's router id, and the
desk took every call with one for a consultation still under way: hang-up answered "is not
consulting; there is no consultation to cancel" and hold "the call is not yours yet", so the new
agent could neither end nor hold the call."""

from __future__ import annotations

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected, CallEnded, QueueEntered
from cti.pbx import ManagedPbx
from tests.helpers import customer_number, place_call, playing_music, until


def _connected(seen: list[Event], linkedid: str, agent: str) -> bool:
    return any(isinstance(e, CallConnected) and e.linkedid == linkedid and e.agent_id == agent for e in seen)


async def test_the_agent_who_took_an_attended_transfer_holds_and_hangs_up(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx) -> None:
    eng, seen = engine
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    _, _, number = await customer_number(eng)
    queued = await place_call(eng, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
    linkedid, caller = queued.linkedid, queued.channel
    await until(lambda: _connected(seen, linkedid, "1001"), what="the call connected to 1001")
    await eng.desk.login_queues("1002", ["support"])
    await eng.desk.set_ready("1002")

    await eng.desk.transfer("1001", linkedid, kind="attended", target_kind="agent", target="1002", note="refund")
    await until(lambda: (c := eng.acd.agent_call("1002", linkedid)) is not None and c.status == "consulting",
                what="1002 consulted")
    await eng.desk.hangup("1001", linkedid)  # completes the transfer
    await until(lambda: _connected(seen, linkedid, "1002"), what="the caller with 1002")

    await eng.desk.hold("1002", linkedid)
    await until(lambda: playing_music(pbx, caller), what="music for the caller on hold")
    await eng.desk.resume("1002", linkedid)
    peer = await until(lambda: eng.ami.model.bridged_peer(caller), what="the caller back with 1002")
    assert peer.name == eng.acd.calls[linkedid].agent_channel
    await eng.desk.hangup("1002", linkedid)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), what="the call ended")
    assert eng.acd.agent_call("1002", linkedid).status == "ended"  # type: ignore[union-attr]

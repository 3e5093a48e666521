"""An "attended" transfer to a queue: there is nobody to consult (the queue picks an agent once the
caller waits there), so the ACD carries it out as a blind transfer, and says so: ``CallTransferred``
kind ``blind``, the event feed's ``call.transferred`` kind ``blind``, the call log's transfer segment
kind ``blind``, the agent's ended call ``detail.transferred.kind`` ``blind``. The ACD with a fake PBX."""

from __future__ import annotations

import pytest

from acd.events import AgentCallUpdate
from crm_core.feed_events import to_public
from crm_core.fold import fold
from cti.journey import CallArrived, CallConnected, CallEnded, CallTransferred
from tests.unit.acd.test_blind_transfer_hold import CALLER, _talking


@pytest.mark.parametrize("held", [False, True], ids=["talking", "held"])
async def test_an_attended_transfer_to_a_queue_is_a_blind_one(held: bool) -> None:
    service, seen = await _talking()
    try:
        if held:
            await service.actions.hold("c.1")
        await service.actions.transfer("c.1", target_kind="queue", target="support", kind="attended")
        await service.bus.drain()  # type: ignore[attr-defined]
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
    transferred = [e for e in seen if isinstance(e, CallTransferred)]
    assert transferred == [CallTransferred(ts=1000.0, linkedid="c.1", from_agent="1001", target="support",
                                           target_kind="queue", kind="blind")]
    assert (to_public(transferred[0]) or {})["data"]["kind"] == "blind"
    # The agent never consulted: no "consulting" update, and their ended call says blind.
    mine = [e for e in seen if isinstance(e, AgentCallUpdate) and e.agent_id == "1001"]
    assert "consulting" not in [e.status for e in mine]
    ended = [e for e in mine if e.status == "ended"]
    assert [(e.detail or {}).get("transferred") for e in ended] == [
        {"kind": "blind", "target_kind": "queue", "target": "support"}]
    folded = fold("c.1", [CallArrived(ts=990.0, linkedid="c.1", channel=CALLER, caller_number="13800000001"),
                          CallConnected(ts=995.0, linkedid="c.1", agent_id="1001", queue="support"),
                          *transferred, CallEnded(ts=1085.0, linkedid="c.1")])
    assert [s.detail for s in folded.segments if s.kind == "transfer"] == [
        {"target": "support", "target_kind": "queue", "kind": "blind"}]

"""The engine learns by itself whether an outbound call's customer answered, on the real Asterisk:
a number that rings forever (cti-sim-customer 8699...) gives the interaction the outcome
``no_answer`` and the console ``detail.far_end``, and a callback's call to it is retried at
wrap-up although the agent did not tick "no answer"."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from acd.events import AgentCallUpdate
from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from crm_core import callbacks
from crm_core.models import Interaction
from cti.events import Event
from cti.journey import CallbackRequested, FarEndResult
from tests.helpers import until


def _far_end(seen: list[Event], linkedid: str) -> str | None:
    return next((e.result for e in seen if isinstance(e, FarEndResult) and e.linkedid == linkedid), None)


async def _outcome(eng: Engine, linkedid: str) -> str | None:
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        row = await s.scalar(select(Interaction).where(Interaction.linkedid == linkedid))
        assert row is not None and row.direction == "outbound"
        return row.outcome


async def test_never_answering_number_is_no_answer_and_its_callback_is_retried(
        engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    await eng.desk.login_queues("1002", ["support"])
    await eng.desk.set_ready("1002")

    # Click-to-dial: cti-external's Dial gives up (NOANSWER) and hangs up: after 10 s on the tests' PBX
    # (tests/conftest.py lowers trunks.yaml's 30 s).
    linkedid = await eng.desk.dial("1002", "86990001", None)
    assert await until(lambda: _far_end(seen, linkedid), timeout_s=45, what="the Dial's end") == "no_answer"
    await until(lambda: (c := eng.acd.agent_call("1002", linkedid)) is not None and c.status == "ended",
                what="the call ended")
    # The hang-up and the Dial's end are two events with their own subscribers: the console's update
    # naming the far end may follow the one that ended the call.
    await until(lambda: any(isinstance(e, AgentCallUpdate) and e.linkedid == linkedid and e.status == "ended"
                            and (e.detail or {}).get("far_end") == "no_answer" for e in seen),
                what="the console's update naming the far end")
    await eng.desk.wrap_up("1002", linkedid, WrapUpInput(disposition="info_given", notes=""))
    assert await _outcome(eng, linkedid) == "no_answer"

    # A callback to the same kind of number: the agent gives up while it rings (CANCEL) and does
    # not tick "no answer"; the callback still goes back to pending for another attempt.
    await eng.bus.publish(CallbackRequested(ts=time.time(), linkedid="far-end-cb-1", number="+8699000123",
                                            queue="support"))
    await eng.bus.drain()  # type: ignore[attr-defined]
    listed = [c for c in await eng.desk.callbacks("1002", everyone=False) if c.number == "+8699000123"]
    assert [c.state for c in listed] == ["pending"]
    cb_id = listed[0].id
    await eng.desk.claim_callback("1002", cb_id)
    cb_call, _ = await eng.desk.call_callback("1002", cb_id)
    await until(lambda: next((ch for c in eng.ami.model.calls() for ch in c.live
                              if ch.name.startswith("Local/8699000123@cti-sim-customer-")), None),
                what="the customer's phone ringing")
    await asyncio.sleep(1.0)
    await eng.desk.hangup("1002", cb_call)
    await until(lambda: (c := eng.acd.agent_call("1002", cb_call)) is not None and c.status == "ended"
                and c.far_end is not None, what="the callback call ended with its far end known")
    result = await eng.desk.wrap_up("1002", cb_call, WrapUpInput(disposition="info_given", notes="rang out"))
    settled = result["settled_callback"]
    assert (settled["id"], settled["state"], settled["attempts"]) == (cb_id, "pending", 1)
    assert _far_end(seen, cb_call) == "cancelled"
    assert await _outcome(eng, cb_call) == "no_answer"
    async with eng.db.session() as s:
        cb = await callbacks.get_callback(session=s, callback_id=cb_id)
        assert (cb.state, cb.attempts, cb.claimed_by) == ("pending", 1, None)

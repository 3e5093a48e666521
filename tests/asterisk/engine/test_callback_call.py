"""A preview callback worked through the real Asterisk: the queue's callback request becomes a
pending callback, an agent claims and calls it (their phone, then the customer's), wraps up, and
the CRM holds exactly one outbound interaction for it while the callback is done."""

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
from cti.journey import CallbackRequested
from tests.helpers import customer_number, until


async def test_claimed_callback_is_called_logged_once_and_done(engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    customer_id, _, number = await customer_number(eng)
    request = CallbackRequested(ts=time.time(), linkedid="waited-too-long-1", number=number, queue="support",
                                customer_id=customer_id)
    await eng.bus.publish(request)
    await eng.bus.publish(request)  # delivered twice: still one callback
    await eng.bus.drain()  # type: ignore[attr-defined]

    await eng.desk.login_queues("1002", ["support"])
    await eng.desk.set_ready("1002")
    listed = await eng.desk.callbacks("1002", everyone=False)
    assert [(c.number, c.customer_id, c.state) for c in listed] == [(number, customer_id, "pending")]
    cb_id = listed[0].id
    await eng.desk.claim_callback("1002", cb_id)

    linkedid, view = await eng.desk.call_callback("1002", cb_id)
    assert view.calling and view.last_call_id == linkedid
    digits = number.lstrip("+")
    await until(lambda: next((ch for c in eng.ami.model.calls() for ch in c.live
                              if ch.name.startswith(f"Local/{digits}@cti-sim-customer-") and ch.answered_at), None),
                what="the customer's leg answered")
    # The console learnt of the outbound call with the customer, for the pop, and that it is a callback's.
    assert any(isinstance(e, AgentCallUpdate) and e.linkedid == linkedid and e.customer_id == customer_id
               and (e.detail or {}).get("callback") is True for e in seen)
    await asyncio.sleep(1.0)
    await eng.desk.hangup("1002", linkedid)
    await until(lambda: (c := eng.acd.agent_call("1002", linkedid)) is not None and c.status == "ended")
    result = await eng.desk.wrap_up("1002", linkedid, WrapUpInput(disposition="resolved", notes="Called back"))
    assert result["settled_callback"] == {"id": cb_id, "state": "done", "attempts": 1}
    assert eng.router.agent("1002").state.value == "available"

    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        cb = await callbacks.get_callback(session=s, callback_id=cb_id)
        assert (cb.state, cb.attempts, cb.last_linkedid, cb.origin_linkedid) == ("done", 1, linkedid,
                                                                                 "waited-too-long-1")
        outbound = list((await s.scalars(select(Interaction).where(Interaction.direction == "outbound"))).all())
        assert [(i.linkedid, i.agent_id, i.customer_id, i.disposition, i.outcome) for i in outbound
                if i.linkedid == linkedid or i.dialled_number.endswith(digits)] == [
            (linkedid, "1002", customer_id, "resolved", "answered")]
        assert await callbacks.due_callbacks(session=s, now=cb.updated_at, agent_id="1002", queues=["support"]) == []

"""Hold, resume and transfer on a click-to-dial call (the console's Dial, a callback's or a preview
contact's call), on the real Asterisk. The agent's leg is the one that dials the customer
(cti-external's Dial): hold and transfer used to move that leg, so the Dial ended and Asterisk hung
up the customer, while the agent heard music; resume then failed with the AMI's own error. The
customer's leg, once it answers, is the one to hold and transfer; before it answers there is no one
to hold or transfer (409)."""

from __future__ import annotations

import asyncio

import pytest

from agent_console.errors import IllegalAgentAction
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallEnded, FarEndResult, QueueEntered
from cti.pbx import ManagedPbx
from tests.helpers import playing_music, until

CUSTOMER = "Local/8613800138000@cti-sim-customer-"  # cti-sim-customer: answers after 1 s, then waits


def _customer_leg(eng: Engine) -> str | None:
    return next((ch.name for c in eng.ami.model.calls() for ch in c.live
                 if ch.name.startswith(CUSTOMER) and ch.name.endswith(";1")), None)


async def _dial_answered(eng: Engine, seen: list[Event]) -> tuple[str, str]:
    await eng.desk.login_queues("1002", ["support"])
    linkedid = await eng.desk.dial("1002", "8613800138000", None)
    await until(lambda: any(isinstance(e, FarEndResult) and e.linkedid == linkedid and e.result == "answered"
                            for e in seen), what="the customer answered")
    customer = await until(lambda: _customer_leg(eng), what="the customer's leg")
    return linkedid, customer


async def test_hold_and_resume_keep_the_customer_of_a_click_to_dial_call(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx) -> None:
    eng, seen = engine
    linkedid, customer = await _dial_answered(eng, seen)
    await eng.desk.hold("1002", linkedid)
    await until(lambda: playing_music(pbx, customer), what="music for the customer on hold")
    await asyncio.sleep(1.0)
    assert eng.ami.model.channel(customer) is not None, "the customer was hung up by the hold"
    assert eng.acd.agent_call("1002", linkedid).status == "held"  # type: ignore[union-attr]
    await eng.desk.resume("1002", linkedid)
    peer = await until(lambda: eng.ami.model.bridged_peer(customer), what="the customer bridged to the agent again")
    assert peer.name == eng.acd.calls[linkedid].agent_channel
    assert eng.acd.calls[linkedid].status == "talking"
    await eng.desk.hangup("1002", linkedid)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), what="the call ended")


async def test_a_click_to_dial_call_is_transferred_with_its_customer(engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    linkedid, customer = await _dial_answered(eng, seen)
    await eng.desk.transfer("1002", linkedid, target_kind="queue", target="billing", kind="blind")
    entered = await until(lambda: next((e for e in seen if isinstance(e, QueueEntered) and e.linkedid == linkedid),
                                       None), what="the customer queued in billing")
    assert entered.queue == "billing" and entered.channel == customer
    await asyncio.sleep(1.0)
    assert eng.ami.model.channel(customer) is not None, "the customer was hung up by the transfer"
    assert eng.acd.agent_call("1002", linkedid).status == "ended"  # type: ignore[union-attr]
    await eng.ami.control.hangup(customer)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), what="the call ended")


async def test_no_hold_or_transfer_before_the_customer_answers(engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    await eng.desk.login_queues("1002", ["support"])
    linkedid = await eng.desk.dial("1002", "86990001", None)  # cti-sim-customer 8699...: rings forever
    ringing = await until(lambda: next((ch.name for c in eng.ami.model.calls() for ch in c.live
                                        if ch.name.startswith("Local/86990001@cti-sim-customer-")), None),
                          what="the customer's phone ringing")
    with pytest.raises(IllegalAgentAction, match="not answered"):
        await eng.desk.hold("1002", linkedid)
    with pytest.raises(IllegalAgentAction, match="not answered"):
        await eng.desk.transfer("1002", linkedid, target_kind="queue", target="billing", kind="attended")
    await asyncio.sleep(0.5)
    assert eng.ami.model.channel(ringing) is not None  # still ringing: nothing was moved
    await eng.desk.hangup("1002", linkedid)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), what="the call ended")

"""Hold, then a blind transfer, on a click-to-dial call, on the real Asterisk: the outbound twin of
tests/asterisk/acd/test_transfer_after_hold.py. The legs differ from an inbound call's: the agent's
leg is the one the engine originated (it runs cti-external's Dial to the customer), and the
customer's leg comes from the trunk (here cti-sim-customer). Hold parks the agent's leg in
cti-park-agent and the customer's goes to cti-hold; a transfer then moves the customer on, and the
agent's parked leg must end (CTI_RELEASED) rather than stay up, keeping their phone busy and the
next dial refused."""

from __future__ import annotations

import asyncio

import pytest

from acd.model import AgentState
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallEnded, CallTransferred, FarEndResult, HoldEnded, HoldStarted, QueueEntered
from cti.pbx import ManagedPbx
from tests.helpers import channels, playing_music, until

CUSTOMER = "Local/8613800138000@cti-sim-customer-"  # cti-sim-customer: answers after 1 s, then waits
TONE_NUMBER = "86950001"  # cti-sim-customer: 8695X answers at once and plays a tone


def _up(pbx: ManagedPbx, name: str) -> bool:
    return any(c.name == name for c in channels(pbx))


def _customer_leg(eng: Engine) -> str | None:
    return next((ch.name for c in eng.ami.model.calls() for ch in c.live
                 if ch.name.startswith(CUSTOMER) and ch.name.endswith(";1")), None)


async def _held(eng: Engine, seen: list[Event], pbx: ManagedPbx, *, resume: bool) -> tuple[str, str, str]:
    """Agent 1002 dials the customer, who answers; the call is put on hold (the agent's leg parked)
    and, with ``resume``, taken back. Returns the linkedid, the customer's and the agent's legs."""
    await eng.desk.login_queues("1002", ["support"])
    linkedid = await eng.desk.dial("1002", "8613800138000", None)
    await until(lambda: any(isinstance(e, FarEndResult) and e.linkedid == linkedid and e.result == "answered"
                            for e in seen), what="the customer answered")
    customer = await until(lambda: _customer_leg(eng), what="the customer's leg")
    agent_leg = eng.acd.calls[linkedid].agent_channel
    assert agent_leg and agent_leg != customer
    await eng.desk.hold("1002", linkedid)
    await until(lambda: playing_music(pbx, customer), what="music for the customer on hold")
    await until(lambda: any(c.name == agent_leg and c.context == "cti-park-agent" for c in channels(pbx)),
                what="the agent's leg parked")
    if resume:
        await eng.desk.resume("1002", linkedid)
        await until(lambda: (p := eng.ami.model.bridged_peer(customer)) is not None and p.name == agent_leg,
                    what="the customer talking to the agent again")
    return linkedid, customer, agent_leg


def _journey(seen: list[Event], linkedid: str) -> list[str]:
    return [type(e).__name__ for e in seen if isinstance(e, (HoldStarted, HoldEnded, CallTransferred))
            and getattr(e, "linkedid", None) == linkedid]


@pytest.mark.parametrize("resume", [True, False], ids=["held-and-resumed", "still-held"])
async def test_a_click_to_dial_call_held_then_transferred_to_a_number_frees_the_agents_leg(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx, resume: bool) -> None:
    eng, seen = engine
    linkedid, customer, agent_leg = await _held(eng, seen, pbx, resume=resume)
    await eng.desk.transfer("1002", linkedid, target_kind="number", target=TONE_NUMBER, kind="blind")
    await until(lambda: (p := eng.ami.model.bridged_peer(customer)) is not None and TONE_NUMBER in p.name,
                what="the customer talking to the number")
    await until(lambda: not _up(pbx, agent_leg), timeout_s=4, what="the agent's leg hung up")
    await asyncio.sleep(1.0)
    assert _up(pbx, customer), "the customer was hung up by the transfer"
    assert _journey(seen, linkedid) == ["HoldStarted", "HoldEnded", "CallTransferred"]
    assert eng.acd.agent_call("1002", linkedid).status == "ended"  # type: ignore[union-attr]
    assert eng.router.agent("1002").state is not AgentState.ON_CALL
    # The agent's phone is free: no leg of theirs is left anywhere in Asterisk, and their next dial rings it.
    assert not [c.name for c in channels(pbx) if "1002@cti-sim-phone" in c.name or c.context == "cti-park-agent"]
    await eng.ami.control.hangup(customer)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), what="the call ended")
    again = await eng.desk.dial("1002", TONE_NUMBER, None)
    assert eng.acd.calls[again].status == "talking"
    await eng.desk.hangup("1002", again)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == again for e in seen), what="the next call ended")


async def test_a_click_to_dial_call_held_resumed_then_transferred_to_a_queue_frees_the_agents_leg(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx) -> None:
    eng, seen = engine
    linkedid, customer, agent_leg = await _held(eng, seen, pbx, resume=True)
    await eng.desk.transfer("1002", linkedid, target_kind="queue", target="billing", kind="blind")
    entered = await until(lambda: next((e for e in seen if isinstance(e, QueueEntered) and e.linkedid == linkedid),
                                       None), what="the customer queued in billing")
    assert entered.queue == "billing" and entered.channel == customer
    await until(lambda: not _up(pbx, agent_leg), timeout_s=4, what="the agent's leg hung up")
    await asyncio.sleep(1.0)
    assert _up(pbx, customer), "the customer was hung up by the transfer"
    assert _journey(seen, linkedid) == ["HoldStarted", "HoldEnded", "CallTransferred"]
    await eng.ami.control.hangup(customer)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), what="the call ended")

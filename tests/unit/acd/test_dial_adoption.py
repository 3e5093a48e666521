"""A dial Asterisk never confirmed (its Originate timed out, or AMI was lost with it pending) whose
call turns out to be placed: once the agent's leg of it answered (a customer's leg of the call is
seen, or its far end's result came) it is adopted as the agent's LiveCall, as the confirmed path
makes it (CallConnected once, after CallArrived; the console's call update), and the watch ends: the
call's end goes the normal way (the agent's part over, a wrap-up pending). Before, it was never
adopted: the console knew no call, so no hold, transfer, hang-up or wrap-up.

The ACD over fakes: the Originate's answer, and the channels the call model would show."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from acd.delivery import AcdService
from acd.errors import AcdError, DialLost, DialUnconfirmed, unconfirmed_dial
from acd.events import AgentCallUpdate
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.errors import AmiUnavailable
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, FarEndResult
from tests.helpers import until

AGENT_LEG = "Local/1001@cti-sim-phone-00000001;1"  # the Originate's half: runs the Dial to the customer
PHONE_LEG = "Local/1001@cti-sim-phone-00000001;2"  # the simulated phone's half
CUSTOMER_LEG = "Local/8613912345678@cti-sim-customer-00000002;1"
TIMED_OUT = OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s", timed_out=True)


class LostControl(FakeCallControl):
    """The Originate written, then AMI lost before Asterisk's answer."""

    async def originate(self, channel: str, **kwargs: Any) -> OriginateResult:
        await super().originate(channel, **kwargs)
        raise AmiUnavailable("AMI connection lost (closed by Asterisk)")


class Desk:
    """The ACD with the channels the call model would show (``channels``: linkedid -> names), and a
    dial as the console makes it (agent_console.desk: hold, dial, give back)."""

    def __init__(self, control: FakeCallControl) -> None:
        self.channels: dict[str, list[str]] = {}
        self.bus = InProcessBus()
        self.acd = AcdService(Router([QueueConfig("support")]), control, self.bus,
                              live_channels=lambda: [n for names in self.channels.values() for n in names],
                              call_channels=lambda linkedid: list(self.channels.get(linkedid, ())))
        self.acd.dial_readiness.poll_s = 0.01
        self.acd.dial_readiness.grace_s = 3600.0
        self.seen: list[Event] = []
        self.bus.observe((CallArrived, CallConnected, AgentCallUpdate), self.seen.append, name="test.seen")
        self.placed: list[str | None] = []  # what the dial's ``then`` was told

    async def start(self) -> None:
        self.acd.subscribe()
        await self.bus.start()
        await self.acd.agent_login("1001", {}, ["support"], ready=True)

    async def dial(self, *, campaign: str | None = None, callback: bool = False,
                   customer_id: int | None = 7) -> str:
        readiness = self.acd.dial_readiness
        before = await readiness.hold("1001")
        with pytest.raises((DialUnconfirmed, DialLost)) as caught:
            await self.acd.actions.dial("1001", "13912345678", customer_id=customer_id, campaign=campaign,
                                        callback=callback)
        u = unconfirmed_dial(caught.value)
        assert u is not None

        async def then(linkedid: str | None) -> None:
            self.placed.append(linkedid)

        await readiness.give_back("1001", before, unconfirmed=u.linkedid, placed=u.placed, adopt=u.adopt, then=then)
        return u.linkedid

    def state(self) -> tuple[AgentState, str | None]:
        return self.acd.agent_state("1001"), self.acd.agent("1001").reason

    def of(self, linkedid: str) -> list[str]:
        """The events published for the call, by kind (and an update's status)."""
        return [type(e).__name__ + (f":{e.status}" if isinstance(e, AgentCallUpdate) else "")
                for e in self.seen if e.call_id == linkedid]

    async def settle(self, s: float = 0.1) -> None:
        """Some polls of the watch."""
        await asyncio.sleep(s)
        await self.bus.drain()


@pytest.fixture(params=["timed_out", "lost_with_ami"])
async def desk(request: pytest.FixtureRequest) -> Desk:
    control = FakeCallControl(originate_result=TIMED_OUT) if request.param == "timed_out" else LostControl()
    d = Desk(control)
    await d.start()
    yield d  # type: ignore[misc]
    await d.acd.stop()
    await d.bus.stop()


async def test_the_late_call_is_adopted_once_its_customer_leg_appears(desk: Desk) -> None:
    acd = desk.acd
    linkedid = await desk.dial(campaign="spring", callback=True)
    assert acd.dial_readiness.watching == {"1001": linkedid}
    desk.channels[linkedid] = [AGENT_LEG, PHONE_LEG, CUSTOMER_LEG]
    await until(lambda: linkedid in acd.calls, what="the call adopted")
    await desk.bus.drain()
    call = acd.calls[linkedid]
    assert (call.linkedid, call.agent_id, call.agent_channel, call.caller_channel, call.direction, call.status,
            call.caller_number, call.customer_id, call.campaign, call.callback, call.queue) == (
        linkedid, "1001", AGENT_LEG, AGENT_LEG, "outbound", "talking", "8613912345678", 7, "spring", True, "")
    assert acd.agent_call("1001", linkedid) is call
    assert desk.of(linkedid) == ["CallArrived", "CallConnected", "AgentCallUpdate:talking"]
    connected = next(e for e in desk.seen if isinstance(e, CallConnected))
    assert (connected.agent_id, connected.customer_id) == ("1001", 7)
    update = next(e for e in desk.seen if isinstance(e, AgentCallUpdate))
    assert update.detail == {"campaign": "spring", "callback": True}
    assert desk.placed == [linkedid]
    await until(lambda: not acd.dial_readiness.watching, what="the watch ended on adoption")
    assert desk.state() == (AgentState.NOT_READY, "outbound")  # until the wrap-up, as any outbound call

    # The customer answers: the follower names their leg (what hold and transfer move), as for a confirmed dial.
    await desk.bus.publish(FarEndResult(ts=1.0, linkedid=linkedid, channel=AGENT_LEG, dest_channel=CUSTOMER_LEG,
                                        result="answered"))
    await desk.bus.drain()
    assert (call.caller_channel, call.far_end) == (CUSTOMER_LEG, "answered")
    # Its end goes the normal way: the agent's part over, in wrap-up; the watch gives nothing back.
    desk.channels.clear()
    await desk.bus.publish(CallEnded(ts=2.0, linkedid=linkedid))
    await desk.settle()
    assert linkedid not in acd.calls
    ended = acd.agent_call("1001", linkedid)
    assert ended is not None and ended.status == "ended"
    assert desk.of(linkedid)[-1] == "AgentCallUpdate:ended"
    assert desk.of(linkedid).count("CallConnected") == 1
    assert desk.state() == (AgentState.WRAP_UP, None)  # as after any outbound call (an inbound call's too)
    assert desk.placed == [linkedid]


async def test_a_customer_leg_that_answered_before_adoption_is_the_calls_caller(desk: Desk) -> None:
    """The far end's answer came before the ACD knew the call (kept as early results): the adopted
    call's customer leg and far end are those, as in the confirmed path."""
    acd = desk.acd
    linkedid = await desk.dial()
    await desk.bus.publish(FarEndResult(ts=1.0, linkedid=linkedid, channel=AGENT_LEG, dest_channel=CUSTOMER_LEG,
                                        result="answered"))
    await desk.bus.drain()
    desk.channels[linkedid] = [AGENT_LEG, PHONE_LEG, CUSTOMER_LEG]
    await until(lambda: linkedid in acd.calls, what="the call adopted")
    call = acd.calls[linkedid]
    assert (call.agent_channel, call.caller_channel, call.far_end) == (AGENT_LEG, CUSTOMER_LEG, "answered")
    assert linkedid not in acd.early_customer_leg and linkedid not in acd.early_far_end


async def test_a_far_end_result_with_the_agents_leg_up_is_adopted(desk: Desk) -> None:
    """The customer was busy (their leg came and went between two looks): the agent's leg is up,
    listening to the busy tone; adopted with that result, as a confirmed dial shows it."""
    acd = desk.acd
    linkedid = await desk.dial()
    await desk.bus.publish(FarEndResult(ts=1.0, linkedid=linkedid, channel=AGENT_LEG, dest_channel="",
                                        result="busy"))
    await desk.bus.drain()
    desk.channels[linkedid] = [AGENT_LEG, PHONE_LEG]
    await until(lambda: linkedid in acd.calls, what="the call adopted")
    call = acd.calls[linkedid]
    assert (call.caller_channel, call.far_end, call.status) == (AGENT_LEG, "busy", "talking")


async def test_a_call_seen_only_on_the_agents_phone_is_adopted_when_the_customer_leg_appears(desk: Desk) -> None:
    """The agent's phone rings (or answered) and the customer's leg is not made yet: published
    (CallArrived), not adopted, the agent kept out of the queues, a second dial refused; adopted once
    the customer's leg appears."""
    acd = desk.acd
    linkedid = await desk.dial()
    desk.channels[linkedid] = [AGENT_LEG, PHONE_LEG]
    await until(lambda: "CallArrived" in desk.of(linkedid), what="the call published")
    await desk.settle()
    assert linkedid not in acd.calls and desk.of(linkedid) == ["CallArrived"]
    assert acd.dial_readiness.watching == {"1001": linkedid}
    with pytest.raises(AcdError, match="your last dial was placed after all"):
        await acd.dial_readiness.hold("1001")
    desk.channels[linkedid].append(CUSTOMER_LEG)
    await until(lambda: linkedid in acd.calls, what="the call adopted")
    await desk.bus.drain()
    assert desk.of(linkedid) == ["CallArrived", "CallConnected", "AgentCallUpdate:talking"]


async def test_a_call_whose_agent_leg_ends_before_the_customer_leg_is_given_back(desk: Desk) -> None:
    """The agent's phone rang and was put down (or the customer's leg never came): never adopted, no
    CallConnected, the agent given back as for a call never answered."""
    acd = desk.acd
    linkedid = await desk.dial()
    desk.channels[linkedid] = [AGENT_LEG, PHONE_LEG]
    await until(lambda: "CallArrived" in desk.of(linkedid), what="the call published")
    desk.channels.clear()
    await until(lambda: not acd.dial_readiness.watching, what="the watch over")
    await desk.bus.drain()
    assert linkedid not in acd.calls and acd.agent_call("1001", linkedid) is None
    assert desk.of(linkedid) == ["CallArrived"]
    assert desk.state() == (AgentState.AVAILABLE, None)
    assert desk.placed == [linkedid]


async def test_a_call_never_seen_is_not_adopted_and_the_agent_is_given_back(desk: Desk) -> None:
    acd = desk.acd
    linkedid = await desk.dial()
    await desk.settle()
    acd.dial_readiness.grace_s = 0.0
    await until(lambda: not acd.dial_readiness.watching, what="the watch over")
    await desk.bus.drain()
    assert desk.of(linkedid) == [] and linkedid not in acd.calls
    assert desk.state() == (AgentState.AVAILABLE, None)
    assert desk.placed == [None]


async def test_a_break_chosen_meanwhile_stands_after_the_adopted_call(desk: Desk) -> None:
    """The agent went on a break while their dial was watched: the call, once answered, is theirs all
    the same, and its end leaves them on their break (the watch gives nothing back)."""
    acd = desk.acd
    linkedid = await desk.dial()
    desk.channels[linkedid] = [AGENT_LEG, PHONE_LEG]
    await until(lambda: "CallArrived" in desk.of(linkedid), what="the call published")
    await acd.set_not_ready("1001", "break")
    desk.channels[linkedid].append(CUSTOMER_LEG)
    await until(lambda: linkedid in acd.calls, what="the call adopted")
    assert desk.state() == (AgentState.NOT_READY, "break")
    desk.channels.clear()
    await desk.bus.publish(CallEnded(ts=2.0, linkedid=linkedid))
    await desk.settle()
    assert not acd.dial_readiness.watching
    assert desk.state() == (AgentState.NOT_READY, "break")
    ended = acd.agent_call("1001", linkedid)
    assert ended is not None and ended.status == "ended"


async def test_a_dial_with_nothing_to_adopt_is_only_watched(desk: Desk) -> None:
    """A give-back without ``adopt`` (as before) only watches: the call published, never adopted."""
    acd = desk.acd
    readiness = acd.dial_readiness
    before = await readiness.hold("1001")
    with pytest.raises((DialUnconfirmed, DialLost)) as caught:
        await acd.actions.dial("1001", "13912345678")
    u = unconfirmed_dial(caught.value)
    assert u is not None
    await readiness.give_back("1001", before, unconfirmed=u.linkedid, placed=u.placed)
    desk.channels[u.linkedid] = [AGENT_LEG, PHONE_LEG, CUSTOMER_LEG]
    await until(lambda: "CallArrived" in desk.of(u.linkedid), what="the call published")
    await desk.settle()
    assert u.linkedid not in acd.calls and desk.of(u.linkedid) == ["CallArrived"]


async def test_a_channel_of_the_agents_phone_outside_the_call_is_not_taken_for_its_leg(desk: Desk) -> None:
    """The customer's far end answered and went (its result kept), and the agent's phone has a channel
    of another call (a SIP phone's own call, which the engine never placed): that channel is not the
    dial's leg, nothing is adopted; the call's own leg, once seen, is."""
    acd = desk.acd
    linkedid = await desk.dial()
    await desk.bus.publish(FarEndResult(ts=1.0, linkedid=linkedid, channel=AGENT_LEG, dest_channel="",
                                        result="busy"))
    await desk.bus.drain()
    desk.channels["someone-else"] = [AGENT_LEG]
    await until(lambda: "CallArrived" in desk.of(linkedid), what="the agent's phone seen")
    await desk.settle()
    assert linkedid not in acd.calls and acd.dial_readiness.watching == {"1001": linkedid}
    desk.channels = {linkedid: [AGENT_LEG]}
    await until(lambda: linkedid in acd.calls, what="the call adopted")
    assert acd.calls[linkedid].far_end == "busy"

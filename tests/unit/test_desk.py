"""The real desk refuses transfer targets that would smuggle extra destinations into a Dial."""

import asyncio
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.desk import EngineDesk
from agent_console.errors import Forbidden, IllegalAgentAction, InvalidInput, NotYourCall
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.errors import AmiActionFailed


@pytest.fixture
def desk() -> tuple[EngineDesk, FakeCallControl]:
    control = FakeCallControl()
    acd = AcdService(Router([QueueConfig(name="support")]), control, InProcessBus())
    acd.calls["L1"] = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support",
                               status="talking", agent_id="1001", agent_channel="PJSIP/1001-1")
    return EngineDesk(acd, db=None, bus=acd.bus), control  # type: ignore[arg-type]


@pytest.mark.parametrize("target", ["100&PJSIP/1002", "8610/n", "12 34", "", "1001,10"])
async def test_transfer_target_must_be_digits(desk: tuple[EngineDesk, FakeCallControl], target: str) -> None:
    d, control = desk
    with pytest.raises(InvalidInput) as err:
        await d.transfer("1001", "L1", kind="blind", target_kind="number", target=target)
    assert err.value.field == "target"
    assert control.calls == []  # nothing reached Asterisk


async def test_transfer_of_another_agents_call_is_refused(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    d, control = desk
    with pytest.raises(NotYourCall):
        await d.transfer("1002", "L1", kind="blind", target_kind="number", target="8610")
    assert control.calls == []


async def test_agent_adds_and_leaves_queues_between_calls(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    d, _ = desk
    acd = d.acd
    acd.router = router = Router([QueueConfig(name=q) for q in ("support", "billing", "sales")])
    await acd.agent_login("1003", {"support": 3, "billing": 2}, ["support"], ready=True)
    with pytest.raises(Forbidden, match="'sales'"):  # no sales skill: not one of the agent's queues
        await d.login_queues("1003", ["sales"])
    await d.login_queues("1003", ["billing"])
    assert router.agent("1003").queues == ("billing", "support") and router.agent("1003").state.value == "available"
    await d.set_not_ready("1003", "break")
    await d.logout_queues("1003", ["support"])
    view = router.agent("1003")
    assert view.queues == ("billing",) and view.state.value == "not_ready" and view.reason == "break"
    with pytest.raises(Exception, match="unknown queue"):
        await d.login_queues("1003", ["nope"])
    await d.logout_queues("1003", ["billing"])  # the last queue: logged off the ACD
    assert router.agent("1003").state.value == "logged_out"


async def test_snapshot_carries_the_calls_detail(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    """A console that reloads sees what live updates showed: IVR attributes, the far end's result."""
    d, _ = desk
    acd = d.acd
    await acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
    acd.calls["L1"].attributes = {"customer": "Li Lei"}
    acd.calls["O1"] = LiveCall(linkedid="O1", caller_channel="PJSIP/1001-2", caller_number="8699001", queue="",
                               direction="outbound", status="talking", agent_id="1001", far_end="no_answer")
    views = {c.call_id: c.detail for c in (await d.snapshot("1001")).calls}
    assert views == {"L1": {"attributes": {"customer": "Li Lei"}}, "O1": {"far_end": "no_answer"}}


async def test_a_consulted_agent_may_only_hang_up_which_returns_the_caller(
        desk: tuple[EngineDesk, FakeCallControl]) -> None:
    """The target of an attended transfer sees the consultation; hanging up ends it (the first agent
    is back with the caller); holding or transferring a call not yet theirs is refused."""
    from agent_console.errors import IllegalAgentAction

    d, control = desk
    acd = d.acd
    await acd.agent_login("1001", {}, ["support"], ready=True)
    acd.router.enqueue("L1", "support", 0.0)  # the router's side of 1001's call
    acd.router.offer_answered("L1", "1001", 0.0)
    await acd.agent_login("1002", {}, ["support"], ready=True)
    await acd.actions.transfer("L1", target_kind="agent", target="1002", kind="attended", note="refund")
    assert acd.router.agent("1002").state.value == "reserved"
    consult = acd.consultations.calls["L1#consult"]
    consult.status, consult.agent_channel = "consulting", "PJSIP/1002-1"
    acd.calls["L1"].consult_channel = "PJSIP/1002-1"
    assert d.acd.agent_call("1002", "L1") is consult
    with pytest.raises(IllegalAgentAction, match="only hang up"):
        await d.hold("1002", "L1")
    await d.hangup("1002", "L1")
    assert acd.calls["L1"].status == "talking" and acd.calls["L1"].consult is None
    hangups = [c["channel"] for m, c in control.calls if m == "hangup"]
    assert "PJSIP/1002-1" in hangups and "PJSIP/trunk-1" not in hangups  # the caller stays
    assert acd.router.agent("1002").state.value == "available"  # no wrap-up for a consultation


@pytest.mark.parametrize("chosen", [None, "lunch"])
async def test_finishing_wrap_up_applies_a_not_ready_pressed_during_the_call(
        desk: tuple[EngineDesk, FakeCallControl], monkeypatch: pytest.MonkeyPatch, chosen: str | None) -> None:
    """N during the call, then Finish wrap-up: not ready at once with the reason chosen (the
    wrap-up form's own reason, if it gave one, wins), not at the end of the queue's wrap-up timer;
    nothing of that not-ready is left pending for the next call."""
    import time

    from acd.model import AgentState
    from agent_console.ports import WrapUpInput
    from crm_core import wrapups

    async def write_wrap_up(db: object, w: object, *, policy: object) -> dict[str, object]:
        return {}

    monkeypatch.setattr(wrapups, "write_wrap_up", write_wrap_up)  # the CRM write is not what this is about
    d, _ = desk
    # The catalog: code -> resolves.
    d.wrapups._dispositions, d.wrapups._dispositions_read = {"resolved": True}, time.monotonic()
    acd = d.acd
    acd.router = Router([QueueConfig(name="support", wrap_up_s=10.0)])
    await acd.agent_login("1001", {}, ["support"], ready=True)
    acd.router.enqueue("L1", "support", acd.clock())
    acd.router.offer_answered("L1", "1001", acd.clock())
    await d.set_not_ready("1001", "break")  # N during the call: pending until the work ends
    assert acd.agent("1001").not_ready_after_call == "break"
    await acd.release_agent(acd.calls["L1"])
    assert acd.agent("1001").state is AgentState.WRAP_UP
    await d.wrap_up("1001", "L1", WrapUpInput(disposition="resolved", not_ready_reason=chosen))
    view = acd.agent("1001")
    assert (view.state, view.reason, view.not_ready_after_call) == (AgentState.NOT_READY, chosen or "break", None)
    await d.set_ready("1001")
    view = acd.agent("1001")
    assert (view.state, view.not_ready_after_call) == (AgentState.AVAILABLE, None)


async def test_no_click_to_dial_while_the_agent_has_a_call(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    """A second Dial rang the agent's phone during a live call (an outbound one leaves the agent
    not ready "outbound", so nothing else stopped it) and gave the agent two talking calls; a
    callback's call was already refused so."""
    d, control = desk
    await d.acd.agent_login("1001", {"support": 3}, ["support"], ready=False)
    with pytest.raises(IllegalAgentAction, match="finish your current call"):
        await d.dial("1001", "8613800138000", None)
    assert control.calls == []  # nothing reached Asterisk


async def test_ready_is_idempotent_and_names_the_missing_login(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    """A second "ready" (a retried request, two tabs) answered illegal_agent_action with the state
    machine's own words, "no transition from available on ready"; ready while logged out the same."""
    d, _ = desk
    with pytest.raises(IllegalAgentAction, match="log in to your queues"):
        await d.set_ready("1003")
    await d.acd.agent_login("1003", {"support": 3}, ["support"], ready=True)
    await d.set_ready("1003")  # already available: nothing to do, no error
    assert d.acd.router.agent("1003").state.value == "available"


async def test_a_consultation_from_an_outbound_call_takes_a_queue_of_the_target(
        desk: tuple[EngineDesk, FakeCallControl]) -> None:
    """An outbound call has no queue: its consultation with an agent took the first configured queue
    (here billing), which the target is not in; the target's call, and the CRM's record of the talk
    they take over, then counted in a queue that never had the call."""
    d, _ = desk
    acd = d.acd
    acd.router = Router([QueueConfig(name=q) for q in ("billing", "sales", "support")])
    await acd.agent_login("1001", {"support": 3}, ["support"], ready=False)
    await acd.agent_login("1002", {"sales": 3}, ["sales"], ready=True)
    acd.calls["O1"] = LiveCall(linkedid="O1", caller_channel="PJSIP/trunk-9", caller_number="8613800138000",
                               queue="", direction="outbound", status="talking", agent_id="1001",
                               agent_channel="PJSIP/1001-9")
    await d.transfer("1001", "O1", kind="attended", target_kind="agent", target="1002")
    consult = acd.calls["O1"].consult
    assert consult is not None and consult.queue == "sales"


ASTERISK_SAYS = "Redirect: Channel specified does not exist"  # an AMI Response: Error's Message


@pytest.mark.parametrize(("action", "method", "named"), [
    (lambda d: d.hold("1001", "L1"), "hold", "put the call on hold"),
    (lambda d: d.transfer("1001", "L1", kind="blind", target_kind="queue", target="support"), "redirect",
     "transfer the call"),
    (lambda d: d.send_dtmf("1001", "L1", "1"), "play_dtmf", "send the digits"),
])
async def test_asterisk_refusing_an_action_gives_the_agent_our_words_and_the_log_asterisks(
        desk: tuple[EngineDesk, FakeCallControl], caplog: pytest.LogCaptureFixture, action: Any, method: str,
        named: str) -> None:
    """An AMI action that Asterisk refused reached the agent as illegal_agent_action with Asterisk's
    own Message text ("Redirect: Channel specified does not exist"): the agent is told what was
    refused in our words, and Asterisk's text goes to the engine's log only."""
    d, control = desk

    async def refused(*args: Any, **kwargs: Any) -> None:
        raise AmiActionFailed(ASTERISK_SAYS)

    setattr(control, method, refused)
    with caplog.at_level(logging.WARNING), pytest.raises(IllegalAgentAction) as err:
        await action(d)
    assert ASTERISK_SAYS not in err.value.message and "Redirect" not in err.value.message, err.value.message
    assert named in err.value.message and "phone system" in err.value.message, err.value.message
    assert ASTERISK_SAYS in caplog.text and named in caplog.text


async def test_the_acds_own_refusals_still_reach_the_agent_as_they_are(
        desk: tuple[EngineDesk, FakeCallControl]) -> None:
    d, _ = desk
    with pytest.raises(IllegalAgentAction, match="L1 is not on hold"):
        await d.resume("1001", "L1")


async def test_hold_resume_and_wrap_up_name_the_calls_queue(desk: tuple[EngineDesk, FakeCallControl],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The public feed's call.held, call.resumed and call.wrapped_up said queue: null for a queued
    call: their events carry the call's queue now, as call.answered's does."""
    import time

    from agent_console.ports import WrapUpInput
    from crm_core import wrapups
    from cti.journey import HoldEnded, HoldStarted, WrapUpDone

    async def write_wrap_up(db: object, w: object, *, policy: object) -> dict[str, object]:
        return {}

    monkeypatch.setattr(wrapups, "write_wrap_up", write_wrap_up)
    d, _ = desk
    seen: list[object] = []

    async def publish(ev: object) -> None:
        seen.append(ev)

    monkeypatch.setattr(d.acd.bus, "publish", publish)
    monkeypatch.setattr(d.bus, "publish", publish)
    d.wrapups._dispositions, d.wrapups._dispositions_read = {"resolved": True}, time.monotonic()
    await d.hold("1001", "L1")
    await d.resume("1001", "L1")
    call = d.acd.calls.pop("L1")
    call.status = "ended"
    d.acd.wrapups[("1001", "L1")] = call  # hung up: the agent's to wrap up
    await d.wrap_up("1001", "L1", WrapUpInput(disposition="resolved"))
    mine = [(type(e).__name__, e.queue) for e in seen if isinstance(e, HoldStarted | HoldEnded | WrapUpDone)]
    assert mine == [("HoldStarted", "support"), ("HoldEnded", "support"), ("WrapUpDone", "support")]


async def test_the_agent_picks_only_their_own_not_ready_reasons(
        desk: tuple[EngineDesk, FakeCallControl], monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's own reasons (missed a call, just logged in, on an outbound call) are set by the
    engine: the console offered them in its picker and the desk took them ("missed" chosen by hand
    reads as a missed call on the wallboard; "outbound" made the next outbound wrap-up turn the agent
    ready). They are neither in the catalog nor accepted, with a 4xx naming the field."""
    from contextlib import asynccontextmanager

    from agent_console.desk import catalog

    @asynccontextmanager
    async def session() -> AsyncIterator[None]:
        yield None

    async def no_dispositions(**_: object) -> list[object]:
        return []

    monkeypatch.setattr(catalog, "list_dispositions", no_dispositions)  # the reasons are what is tested
    d, _ = desk
    d.db = SimpleNamespace(session=session)  # type: ignore[assignment]
    await d.acd.agent_login("1001", {}, ["support"], ready=True)
    offered = [r.code for r in (await d.catalog("1001")).reasons]
    assert offered == ["break", "lunch", "meeting", "training", "after_call_work"]
    for reason in ("missed", "login", "outbound", "nope"):
        with pytest.raises(InvalidInput) as err:
            await d.set_not_ready("1001", reason)
        assert err.value.field == "reason"
    assert d.acd.agent("1001").state.value == "available"
    await d.set_not_ready("1001", "lunch")
    assert d.acd.agent("1001").reason == "lunch"
    # The console's own (a browser phone whose microphone was lost): accepted, never offered to pick.
    await d.set_ready("1001")
    await d.set_not_ready("1001", "no_microphone")
    assert d.acd.agent("1001").reason == "no_microphone"


def _wrapping_desk(desk: tuple[EngineDesk, FakeCallControl], monkeypatch: pytest.MonkeyPatch) -> tuple[
        EngineDesk, list[object]]:
    """The desk with one disposition, a queue with a 10 s wrap-up, and the CRM's wrap-up writer
    replaced by one that keeps what it is given."""
    import time

    from crm_core import wrapups

    written: list[object] = []

    async def write_wrap_up(db: object, w: object, *, policy: object) -> dict[str, object]:
        written.append(w)
        return {}

    monkeypatch.setattr(wrapups, "write_wrap_up", write_wrap_up)
    d, _ = desk
    d.wrapups._dispositions, d.wrapups._dispositions_read = {"resolved": True}, time.monotonic()
    d.acd.router = Router([QueueConfig(name="support", wrap_up_s=10.0)])
    return d, written


async def test_a_wrap_up_with_an_unknown_not_ready_reason_is_refused_before_anything_is_written(
        desk: tuple[EngineDesk, FakeCallControl], monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_console.ports import WrapUpInput

    d, written = _wrapping_desk(desk, monkeypatch)
    acd = d.acd
    await acd.agent_login("1001", {}, ["support"], ready=True)
    acd.router.enqueue("L1", "support", acd.clock())
    acd.router.offer_answered("L1", "1001", acd.clock())
    await acd.release_agent(acd.calls["L1"])
    for reason in ("missed", "typo"):
        with pytest.raises(InvalidInput) as err:
            await d.wrap_up("1001", "L1", WrapUpInput(disposition="resolved", not_ready_reason=reason))
        assert err.value.field == "not_ready_reason"
    assert written == [] and acd.agent("1001").state.value == "wrap_up"


@pytest.mark.parametrize("pending", [None, "break"])
async def test_dialling_in_wrap_up_ends_the_wrap_up(desk: tuple[EngineDesk, FakeCallControl],
                                                    pending: str | None) -> None:
    """An agent in wrap-up may dial (the call before is over): the new call ends that wrap-up. It
    did not: the agent stayed in wrap-up through the outbound call, its timer then made them
    available and the ACD offered them a queued call while they talked, and the call before counted
    after-call work through the outbound call. Now they go not ready "outbound" (the call is handling
    time; the reason they chose for after the call before stays pending, for after this one) and the
    call before's wrap-up ends then (AgentWrapUpEnded)."""
    from acd.events import AgentWrapUpEnded
    from acd.model import AgentState

    d, _ = desk
    acd = d.acd
    now = [1000.0]
    acd.clock = lambda: now[0]
    acd.router = Router([QueueConfig(name="support", wrap_up_s=10.0)])
    ended: list[AgentWrapUpEnded] = []

    async def keep(ev: AgentWrapUpEnded) -> None:
        ended.append(ev)

    acd.bus.subscribe(AgentWrapUpEnded, keep, name="test.wrapup_ended")
    await acd.bus.start()
    await acd.agent_login("1001", {}, ["support"], ready=True)
    acd.router.enqueue("L1", "support", now[0])
    acd.router.offer_answered("L1", "1001", now[0])
    if pending is not None:
        await d.set_not_ready("1001", pending)
    now[0] = 1020.0
    await acd.release_agent(acd.calls["L1"])
    assert acd.agent("1001").state is AgentState.WRAP_UP
    now[0] = 1023.0
    await d.dial("1001", "8613800138000", None)
    view = acd.agent("1001")
    assert (view.state, view.reason, view.not_ready_after_call) == (AgentState.NOT_READY, "outbound", pending)
    now[0] = 1040.0
    await acd.decide(acd.router.tick)  # the old wrap-up timer: nothing
    assert acd.agent("1001").state is AgentState.NOT_READY
    await acd.bus.drain()
    assert [(e.linkedid, e.reason, e.ts) for e in ended] == [("L1", "not_ready", 1023.0)]


async def test_a_logged_out_agent_may_not_dial(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    """Dialled while logged out, the call was the agent's but not the ACD's concern: logging in and
    going ready during it made the agent available, and the ACD offered queued calls on top of it
    (found by tests/db/console/test_desk_conformance.py, where the fake desk refused)."""
    d, control = desk
    with pytest.raises(IllegalAgentAction, match="log in"):
        await d.dial("1004", "+8613800138000", None)
    assert control.called("originate") == []


@pytest.mark.parametrize("pending", [None, "lunch"])
async def test_an_agent_on_an_outbound_call_is_offered_no_queued_call(
        desk: tuple[EngineDesk, FakeCallControl], monkeypatch: pytest.MonkeyPatch, pending: str | None) -> None:
    """A click-to-dial during the wrap-up (which the protocol allows: the call before has ended) left
    the agent in wrap-up; wrapping the call before up (or the queue's wrap-up timer) then made them
    available during the outbound call, and so did "ready" pressed during it: the ACD offered queued
    calls on top of it. Now the dial ends the wrap-up with the not-ready the agent chose during the
    call before, else "outbound", and "ready" during an outbound call means ready after it."""
    from acd.model import AgentState
    from agent_console.ports import WrapUpInput

    d, _ = _wrapping_desk(desk, monkeypatch)
    acd = d.acd
    await acd.agent_login("1003", {}, ["support"], ready=True)
    acd.calls["L3"] = LiveCall(linkedid="L3", caller_channel="PJSIP/trunk-3", caller_number="138", queue="support",
                               status="talking", agent_id="1003", agent_channel="PJSIP/1003-1")
    acd.router.enqueue("L3", "support", acd.clock())
    acd.router.offer_answered("L3", "1003", acd.clock())
    if pending:
        await d.set_not_ready("1003", pending)
    await acd.release_agent(acd.calls["L3"])
    assert acd.agent("1003").state is AgentState.WRAP_UP

    def state() -> tuple[AgentState, str | None]:
        view = acd.agent("1003")
        return view.state, view.reason

    out = await d.dial("1003", "8613800138000", None)
    assert state() == (AgentState.NOT_READY, "outbound")  # the reason chosen before is pending
    assert acd.agent("1003").not_ready_after_call == pending
    await d.wrap_up("1003", "L3", WrapUpInput(disposition="resolved"))
    assert state() == (AgentState.NOT_READY, "outbound")
    await d.set_ready("1003")  # during the outbound call: ready after it (a pending reason is off)
    assert state() == (AgentState.NOT_READY, "outbound") and acd.agent("1003").not_ready_after_call is None
    acd.router.enqueue("L4", "support", acd.clock())
    assert state() == (AgentState.NOT_READY, "outbound")  # the queued call waits
    await acd.release_agent(acd.calls[out])
    await d.wrap_up("1003", out, WrapUpInput(disposition="resolved"))
    assert acd.agent("1003").state in (AgentState.AVAILABLE, AgentState.RESERVED)  # free: L4 is offered


@pytest.mark.parametrize(("wrap_up_s", "outbound", "expected"), [
    (60.0, False, 15.0),  # the form ends the wrap-up state: from the hang-up to the form
    (10.0, False, 10.0),  # the wrap-up time ran out first: the state's end, not the form's
    (60.0, True, 15.0),  # an outbound call has no wrap-up state: from the hang-up to the form
])
async def test_wrapup_s_is_the_calls_after_call_work_not_its_talk(
        monkeypatch: pytest.MonkeyPatch, wrap_up_s: float, outbound: bool, expected: float) -> None:
    """WrapUpDone.wrapup_s (the feed's call.wrapped_up) counted from the answer, talk included
    (75 s here): it is the call's after-call work, from the agent's end of the call to the earlier of
    the form and the end of their wrap-up state (docs/kpis.md)."""
    import time

    from agent_console.ports import WrapUpInput
    from crm_core import wrapups
    from cti.journey import WrapUpDone

    async def write_wrap_up(db: object, w: object, *, policy: object) -> dict[str, object]:
        return {}

    monkeypatch.setattr(wrapups, "write_wrap_up", write_wrap_up)
    t = [90.0]
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig(name="support", wrap_up_s=wrap_up_s)]), FakeCallControl(), bus,
                     clock=lambda: t[0])
    d = EngineDesk(acd, db=None, bus=bus, clock=lambda: t[0])  # type: ignore[arg-type]
    d.wrapups._dispositions, d.wrapups._dispositions_read = {"resolved": True}, time.monotonic()
    seen: list[WrapUpDone] = []

    async def publish(ev: object) -> None:
        if isinstance(ev, WrapUpDone):
            seen.append(ev)

    monkeypatch.setattr(bus, "publish", publish)
    await acd.agent_login("1001", {}, ["support"], ready=True)
    call = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support",
                    status="talking", agent_id="1001", agent_channel="PJSIP/1001-1", answered_at=100.0,
                    direction="outbound" if outbound else "inbound")
    acd.calls["L1"] = call
    if outbound:
        await acd.set_not_ready("1001", "outbound")
    else:
        acd.router.enqueue("L1", "support", 95.0)
        acd.router.offer_answered("L1", "1001", 100.0)
    t[0] = 160.0
    await acd.release_agent(call)  # the hang-up: wrap-up from here
    t[0] = 172.0
    await acd.decide(acd.router.tick)  # a 10 s wrap-up time ran out at 170
    t[0] = 175.0
    await d.wrap_up("1001", "L1", WrapUpInput(disposition="resolved"))
    assert [e.wrapup_s for e in seen] == [expected]


async def test_a_second_dial_while_the_first_rings_the_agents_own_phone_is_refused(
        desk: tuple[EngineDesk, FakeCallControl], monkeypatch: pytest.MonkeyPatch) -> None:
    """A dial rings the agent's own phone first (up to 30 s) and the ACD knows the call only once it
    answered: a second dial meanwhile passed the 'one call at a time' check and rang the busy phone."""
    d, _ = desk
    acd = d.acd
    await acd.agent_login("1003", {"support": 3}, ["support"], ready=True)
    answered = asyncio.Event()
    dialled: list[str] = []

    async def slow_dial(agent_id: str, number: str, **_: Any) -> str:
        dialled.append(number)
        await answered.wait()  # the agent's phone rings
        return "OUT-1"

    monkeypatch.setattr(acd.actions, "dial", slow_dial)
    first = asyncio.create_task(d.dial("1003", "8613800138000", None))
    for _ in range(200):
        if dialled or first.done():
            break
        await asyncio.sleep(0.01)
    assert dialled, first.result() if first.done() else "the first dial never reached the ACD"
    with pytest.raises(IllegalAgentAction, match="already ringing your phone"):
        await asyncio.wait_for(d.dial("1003", "8613800138001", None), 5)  # (it rang: it waited for its answer)
    answered.set()
    assert await first == "OUT-1"
    assert dialled == ["8613800138000"]


@pytest.mark.parametrize("reason", ["break", "login"])
async def test_a_dial_from_a_break_is_handling_then_the_agent_is_back_on_the_break(
        desk: tuple[EngineDesk, FakeCallControl], monkeypatch: pytest.MonkeyPatch, reason: str) -> None:
    """An agent on a break dials: not ready "outbound" for the call (handling time, docs/kpis.md; it
    stayed not ready "break", so the call's talk counted as the break), the break pending (the
    console: "then not ready: break"); the call's wrap-up puts them back on the same break."""
    from acd.events import AgentStateChanged
    from acd.model import AgentState
    from agent_console.ports import WrapUpInput

    d, _ = _wrapping_desk(desk, monkeypatch)
    acd = d.acd
    states: list[tuple[str, str | None, str | None]] = []

    async def keep(ev: AgentStateChanged) -> None:
        states.append((ev.state, ev.reason, ev.not_ready_after_call))

    acd.bus.subscribe(AgentStateChanged, keep, name="test.states")
    await acd.bus.start()
    await acd.agent_login("1003", {}, ["support"])  # not ready "login"
    if reason != "login":
        await d.set_not_ready("1003", reason)
    out = await d.dial("1003", "8613800138000", None)
    view = acd.agent("1003")
    assert (view.state, view.reason, view.not_ready_after_call) == (AgentState.NOT_READY, "outbound", reason)
    acd.router.enqueue("L4", "support", acd.clock())  # not offered to them: not ready
    await acd.release_agent(acd.calls[out])
    assert acd.agent("1003").state is AgentState.WRAP_UP
    await d.wrap_up("1003", out, WrapUpInput(disposition="resolved"))
    view = acd.agent("1003")
    assert (view.state, view.reason, view.not_ready_after_call) == (AgentState.NOT_READY, reason, None)
    await acd.bus.drain()
    assert states[-3:] == [("not_ready", "outbound", reason), ("wrap_up", None, reason), ("not_ready", reason, None)]


async def test_a_failed_dial_from_a_break_gives_the_break_back(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    """No call came of it: no wrap-up; the agent is on the break again at once."""
    from acd.model import AgentState

    d, control = desk
    acd = d.acd
    await acd.agent_login("1003", {}, ["support"])
    await d.set_not_ready("1003", "lunch")

    async def refused(*a: object, **kw: object) -> None:
        raise AmiActionFailed("Originate: Extension does not exist.")

    control.originate = refused  # type: ignore[assignment,method-assign]
    with pytest.raises(IllegalAgentAction, match="refused it"):
        await d.dial("1003", "8613800138000", None)
    view = acd.agent("1003")
    assert (view.state, view.reason, view.not_ready_after_call) == (AgentState.NOT_READY, "lunch", None)

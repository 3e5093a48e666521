"""A console click-to-dial or a callback's dial whose Originate answer never reached the engine, on
the real Asterisk (simulated: the real Originate runs, its answer is replaced by the engine's own
timeout, or by AMI lost with it pending). Asterisk placed the call under the dial's ChannelId: once
a channel of it is seen the call is published as a confirmed dial's is (CallArrived: outbound, the
agent's, the number dialled), and once the agent's leg answered (the customer's leg appears) it is
adopted as the agent's LiveCall (CallConnected once, the console's call card): the agent hangs up
from the console and wraps up, which completes its one interaction (and a callback's claim, done);
the agent stays out of the queues until the wrap-up. Before, the call was never adopted: no call
card, no wrap-up, its interaction complete without one and a callback's claim left to expire."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from acd.model import AgentState
from agent_console.errors import IllegalAgentAction
from agent_console.ports import WrapUpInput
from agent_console.principal import Principal
from callcenter.engine import Engine
from crm_core import callbacks
from crm_core.models import Interaction, utcnow
from cti.ami.control import OriginateResult
from cti.errors import AmiUnavailable
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, FarEndResult
from tests.helpers import customer_number, until

NUMBER = "8613800138000"  # cti-sim-customer: answers after 1 s, then waits


def _unconfirmed(eng: Engine, monkeypatch: pytest.MonkeyPatch, how: str) -> list[str]:
    """The real Originate, its answer lost (``timed_out``) or AMI lost with it pending (``lost``): the
    ChannelIds the dials gave their calls."""
    real = eng.acd.control.originate
    ids: list[str] = []

    async def answer_lost(*args: object, **kwargs: object) -> OriginateResult:
        ids.append(str(kwargs["channel_id"]))
        placed = await real(*args, **kwargs)  # type: ignore[arg-type]
        assert placed.success, placed
        if how == "lost":
            raise AmiUnavailable("AMI connection lost (closed by Asterisk)")
        return OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s", timed_out=True)

    monkeypatch.setattr(eng.acd.control, "originate", answer_lost)
    return ids


async def _adopted_then_wrapped_up(eng: Engine, seen: list[Event], linkedid: str, agent: str,
                                   number: str) -> dict[str, object]:
    """The late call adopted as the agent's (LiveCall, events, the console's view), hung up from the
    console and wrapped up: the wrap-up's answer."""

    def mine(kind: type[Event]) -> list[Event]:
        return [e for e in seen if isinstance(e, kind) and e.call_id == linkedid]

    await until(lambda: linkedid in eng.acd.calls, what="the late call adopted")
    call = eng.acd.calls[linkedid]
    assert (call.agent_id, call.direction, call.status, call.caller_number) == (agent, "outbound", "talking", number)
    assert call.agent_channel is not None and call.agent_channel.startswith(f"Local/{agent}@cti-sim-phone-")
    assert call.agent_channel.endswith(";1")  # the Originate's half, which runs the Dial to the customer
    await until(lambda: any(isinstance(e, FarEndResult) and e.result == "answered" for e in mine(FarEndResult)),
                what="the customer answered")
    await until(lambda: call.caller_channel.startswith(f"Local/{number}@cti-sim-customer-"),
                what="the customer's leg named")
    await until(lambda: mine(CallConnected), what="the call connected published")
    assert not eng.acd.dial_readiness.watching  # the watch ended on adoption
    (arrived,) = mine(CallArrived)
    (connected,) = mine(CallConnected)
    assert seen.index(arrived) < seen.index(connected)
    assert isinstance(arrived, CallArrived) and isinstance(connected, CallConnected)
    assert (arrived.direction, arrived.agent_id, arrived.dnis, connected.agent_id) == ("outbound", agent, number,
                                                                                       agent)
    # The console's view: the call card, in the agent's snapshot (the websocket's hello, /api/agent/snapshot).
    who = Principal(user_id=1, username=f"agent{agent}", role="agent", agent_id=agent)
    hello = await eng.app.state.console.hub.hello(who)  # type: ignore[union-attr]
    (card,) = [c for c in hello.calls if c.call_id == linkedid]
    assert (card.status, card.direction, card.peer_number) == ("talking", "outbound", number)
    assert (eng.acd.agent_state(agent), eng.acd.agent(agent).reason) == (AgentState.NOT_READY, "outbound")
    await asyncio.sleep(0.5)
    await eng.desk.hangup(agent, linkedid)  # the console's Hang up
    await until(lambda: mine(CallEnded), what="its end")
    await until(lambda: (c := eng.acd.agent_call(agent, linkedid)) is not None and c.status == "ended",
                what="the agent's part over")
    result = await eng.desk.wrap_up(agent, linkedid, WrapUpInput(disposition="resolved", notes="late call"))
    assert eng.acd.agent_call(agent, linkedid) is None
    assert mine(CallConnected) == [connected]  # once
    return result


@pytest.mark.parametrize("how", ["timed_out", "lost"])
async def test_a_click_to_dial_whose_originate_answer_was_lost_is_adopted_and_wrapped_up(
        engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    eng, seen = engine
    ids = _unconfirmed(eng, monkeypatch, how)
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    with pytest.raises(IllegalAgentAction, match="did not answer in time" if how == "timed_out" else "not reachable"):
        await eng.desk.dial("1001", NUMBER, None)
    (linkedid,) = ids
    await _adopted_then_wrapped_up(eng, seen, linkedid, "1001", NUMBER)
    assert eng.acd.agent_state("1001") is AgentState.AVAILABLE  # ready again, as the wrap-up of any outbound call
    await eng.bus.drain()  # type: ignore[attr-defined]
    await until(lambda: eng.logger.pending == 0, what="the call logger caught up")
    await eng.logger.flush()
    async with eng.db.session() as s:
        rows = list(await s.scalars(select(Interaction).where(Interaction.linkedid == linkedid)))
    assert [(i.direction, i.agent_id, i.dialled_number, i.status, i.disposition) for i in rows] == [
        ("outbound", "1001", NUMBER, "complete", "resolved")]


async def test_a_callback_dial_whose_originate_answer_was_lost_is_closed_by_its_wrap_up(
        engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback's late call, adopted, is wrapped up as a confirmed callback dial's: the claim done
    by the wrap-up (the customer reached), not left to expire two hours later as a lost call."""
    eng, seen = engine
    customer_id, _, number = await customer_number(eng)
    digits = number.lstrip("+")
    async with eng.db.session() as s:
        cb = await callbacks.create_callback(session=s, number=number, due_at=utcnow(), queue="support",
                                             customer_id=customer_id)
        cb_id = cb.id
    ids = _unconfirmed(eng, monkeypatch, "timed_out")
    await eng.desk.login_queues("1002", ["support"])
    await eng.desk.set_ready("1002")
    await eng.desk.claim_callback("1002", cb_id)
    with pytest.raises(IllegalAgentAction, match="did not answer in time"):
        await eng.desk.call_callback("1002", cb_id)
    (linkedid,) = ids
    result = await _adopted_then_wrapped_up(eng, seen, linkedid, "1002", digits)
    assert result["settled_callback"] == {"id": cb_id, "state": "done", "attempts": 1}
    assert eng.acd.agent_state("1002") is AgentState.AVAILABLE
    async with eng.db.session() as s:
        row = await callbacks.get_callback(session=s, callback_id=cb_id)
        assert (row.state, row.attempts, row.last_linkedid) == ("done", 1, linkedid)

"""A console click-to-dial whose Originate answer never reached the engine, on the real Asterisk
(simulated: the real Originate runs, its answer is replaced by the engine's own timeout). Asterisk
placed the call under the dial's ChannelId: once a channel of it is seen the call is published as a
confirmed dial's is, once (CallArrived: outbound, the agent's, the number dialled), so its one
interaction is the agent's outbound call, complete at its end (no wrap-up: the console never knew
the call); the agent stays out of the queues while it lasts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from acd.model import AgentState
from agent_console.errors import IllegalAgentAction
from callcenter.engine import Engine
from crm_core.models import Interaction
from cti.ami.control import OriginateResult
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, FarEndResult
from tests.helpers import until

NUMBER = "8613800138000"  # cti-sim-customer: answers after 1 s, then waits


async def test_a_click_to_dial_whose_originate_answer_was_lost_is_published_once(
        engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    eng, seen = engine
    real = eng.acd.control.originate
    ids: list[str] = []

    async def answer_lost(*args: object, **kwargs: object) -> OriginateResult:
        ids.append(str(kwargs["channel_id"]))
        placed = await real(*args, **kwargs)  # type: ignore[arg-type]
        assert placed.success, placed
        return OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s", timed_out=True)

    monkeypatch.setattr(eng.acd.control, "originate", answer_lost)
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    with pytest.raises(IllegalAgentAction, match="did not answer in time"):
        await eng.desk.dial("1001", NUMBER, None)
    (linkedid,) = ids

    def mine(kind: type[Event]) -> list[Event]:
        return [e for e in seen if isinstance(e, kind) and e.call_id == linkedid]

    await until(lambda: mine(CallArrived), what="the late call published")
    await until(lambda: any(isinstance(e, FarEndResult) and e.result == "answered" for e in mine(FarEndResult)),
                what="the customer answered")
    assert (eng.acd.agent_state("1001"), eng.acd.agent("1001").reason) == (AgentState.NOT_READY, "outbound")
    call = eng.ami.model.call(linkedid)
    assert call is not None
    agent_leg = next(ch.name for ch in call.live if ch.name.startswith("Local/1001@cti-sim-phone-"))
    await eng.ami.control.hangup(agent_leg)
    await until(lambda: mine(CallEnded), what="its end")
    await until(lambda: eng.acd.agent_state("1001") is AgentState.AVAILABLE, what="the agent ready again")
    await until(lambda: not eng.acd.dial_readiness.watching, what="the watch over")
    (arrived,) = mine(CallArrived)
    assert isinstance(arrived, CallArrived)
    assert (arrived.direction, arrived.agent_id, arrived.dnis) == ("outbound", "1001", NUMBER)
    assert mine(CallConnected) == []
    await eng.bus.drain()  # type: ignore[attr-defined]
    await until(lambda: eng.logger.pending == 0, what="the call logger caught up")
    await eng.logger.flush()
    async with eng.db.session() as s:
        rows = list(await s.scalars(select(Interaction).where(Interaction.linkedid == linkedid)))
    assert [(i.direction, i.agent_id, i.dialled_number, i.status) for i in rows] == [
        ("outbound", "1001", NUMBER, "complete")]

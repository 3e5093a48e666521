"""An agent free when the IVR hands the caller to a queue is rung from the caller's own channel, on
a real Asterisk: the IVR's session ends with Dial() of the agent's phone (acd/ringing.py), and no
AMI action rings it. The agent's leg belongs to the caller's call and carries the marks a restarted
engine reads; when the agent's phone hangs up, the caller's call ends; a phone that does not take
the call sends the caller back to the queue's music, where the next agent is rung by an Originate.
Hold and resume move the caller out of that dial and back. An Asterisk whose dialplan lacks the
contexts this needs has the agent rung by an Originate. (Recording, the survey, transfers, a
conference, the browser softphone's lost leg and an engine restart of such calls: the engine's
other tests, whose agents are ready before the call comes.)"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from acd.recovery import AGENT_VAR, CALL_VAR
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import AgentRingNoAnswer, CallConnected, CallEnded, QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import customer_number, engine_settings, place_call, playing_music, running_engine, until


def _queued(seen: list[Event]) -> list[Event]:
    return [e for e in seen if isinstance(e, QueueEntered)]


def _actions(eng: Engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every AMI action the engine writes from now on."""
    sent: list[tuple[str, dict[str, Any]]] = []
    for owner, name in ((eng.ami.client, "submit_action"), (eng.ami.control, "_submit_now")):
        real = getattr(owner, name)

        def counting(action: str, headers: Any, *args: Any, _real: Any = real, **kw: Any) -> Any:
            sent.append((action, dict(headers)))
            return _real(action, headers, *args, **kw)

        monkeypatch.setattr(owner, name, counting)
    return sent


def _rings(sent: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The Originates of agents' phones."""
    return [h for a, h in sent if a == "Originate" and h.get("Context") == "cti-agent-connect"]


async def _var(eng: Engine, channel: str, name: str) -> str | None:
    return await eng.ami.control.get_var(channel, name)


def _connected(seen: list[Event], linkedid: str) -> CallConnected | None:
    return next((e for e in seen if isinstance(e, CallConnected) and e.linkedid == linkedid), None)


async def _call_to_1001(eng: Engine, seen: list[Event], monkeypatch: pytest.MonkeyPatch,
                        ) -> tuple[list[tuple[str, dict[str, Any]]], QueueEntered]:
    """Agent 1001 ready, then a customer's call connected to them; the AMI actions written meanwhile."""
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    _, _, number = await customer_number(eng)
    sent = _actions(eng, monkeypatch)
    queued = await place_call(eng, lambda: _queued(seen), number)
    connected = await until(lambda: _connected(seen, queued.linkedid), what="the call connected")
    assert connected.agent_id == "1001"
    return sent, queued


async def test_the_hand_off_rings_the_free_agent_from_the_callers_channel(
        engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    eng, seen = engine
    assert eng.dialplan.missing == []  # the managed Asterisk has every context of extensions.conf
    sent, queued = await _call_to_1001(eng, seen, monkeypatch)
    # Nothing went through AMI to ring the phone or to move the caller (the test's own Originate
    # of the caller aside).
    assert not _rings(sent) and not [h for a, h in sent if a == "Redirect"], sent
    call = eng.acd.calls[queued.linkedid]
    leg = call.agent_channel
    assert leg and leg.startswith("Local/1001@cti-sim-phone-"), leg
    # The leg is part of the caller's call, marked as a restarted engine reads an agent's leg.
    chan = eng.ami.model.channel(leg)
    assert chan is not None and chan.linkedid == queued.linkedid
    assert await _var(eng, leg, AGENT_VAR) == "1001"
    assert await _var(eng, leg, CALL_VAR) == queued.linkedid
    # The agent's phone hangs up: the caller's dial returns and the dialplan ends the call.
    await eng.ami.control.hangup(leg)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == queued.linkedid for e in seen),
                what="the caller's call ended")


async def test_a_phone_that_does_not_take_the_call_sends_the_caller_back_to_the_queue(
        engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    eng, seen = engine
    eng.desk.answer_after_s = 60.0  # 1001's phone rings on and on
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    _, _, number = await customer_number(eng)
    sent = _actions(eng, monkeypatch)
    queued = await place_call(eng, lambda: _queued(seen), number)
    ringing = await until(lambda: [c for call in eng.ami.model.calls() if call.linkedid == queued.linkedid
                                   for c in call.live if c.name.startswith("Local/1001@cti-sim-phone-")],
                          what="1001's phone ringing")
    assert not _rings(sent), sent
    # 1001 declines (their phone's leg goes away unanswered): the ring is a no-answer, and the
    # caller waits on the music again, where 1002, ready now, is rung by an Originate.
    eng.desk.answer_after_s = 0.5
    await eng.desk.login_queues("1002", ["support", "general"])
    await eng.ami.control.hangup(ringing[0].name)
    await until(lambda: any(isinstance(e, AgentRingNoAnswer) and e.linkedid == queued.linkedid for e in seen),
                what="the ring no answer")
    for _ in range(100):  # cti-queue marks the caller (the engine does not follow the dialplan's steps)
        if await _var(eng, queued.channel, "CTI_IN_QUEUE") == "1":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the caller did not go back to cti-queue")
    await eng.desk.set_ready("1002")
    connected = await until(lambda: _connected(seen, queued.linkedid), what="the call connected")
    assert connected.agent_id == "1002"
    assert [h["Channel"] for h in _rings(sent)] == ["Local/1002@cti-sim-phone/n"]


async def test_a_call_rung_at_the_hand_off_holds_and_resumes(engine: tuple[Engine, list[Event]],
                                                             pbx: ManagedPbx) -> None:
    """Hold redirects the caller out of its Dial() in the IVR's session (and parks the agent's leg);
    resume bridges the two again; the console's hang-up then ends the call."""
    eng, seen = engine
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    _, _, number = await customer_number(eng)
    queued = await place_call(eng, lambda: _queued(seen), number)
    await until(lambda: _connected(seen, queued.linkedid), what="the call connected")
    caller, leg = queued.channel, eng.acd.calls[queued.linkedid].agent_channel
    await eng.desk.hold("1001", queued.linkedid)
    await until(lambda: (ch := eng.ami.model.channel(caller)) is not None and ch.bridge_id is None,
                what="the caller out of the bridge")
    await until(lambda: playing_music(pbx, caller), what="music for the caller on hold")
    assert eng.ami.model.channel(leg or "") is not None  # the agent's leg waits, parked
    await eng.desk.resume("1001", queued.linkedid)
    peer = await until(lambda: eng.ami.model.bridged_peer(caller), what="the caller bridged again")
    assert peer.name == leg and eng.acd.calls[queued.linkedid].status == "talking"
    await eng.desk.hangup("1001", queued.linkedid)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == queued.linkedid for e in seen),
                what="the call ended")


async def test_an_older_dialplan_has_the_free_agent_rung_by_an_originate(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """As an Asterisk configured by hand (pbx.mode system) with an extensions.conf older than the
    engine: the context it lacks is named, without cti-agent-dialled the caller's line is not used,
    and the call still reaches the agent. Once the dialplan is loaded and AMI connects again, nothing
    is missing; the periodic check sees a context go missing again without a reconnect."""
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    pbx.cli("dialplan remove context cti-agent-dialled")
    try:
        with caplog.at_level(logging.ERROR, logger="cti.ami.dialplan"):
            async with running_engine(pbx, engine_settings(pbx_settings, tmp_path), answer_after_s=0.5,
                                      before_start=lambda eng: eng.bus.subscribe(Event, record, name="t")) as eng:
                assert eng.dialplan.missing == ["cti-agent-dialled"]
                assert "\ncti_dialplan_contexts_missing 1.0\n" in eng.metrics.render().decode()
                assert "Asterisk lacks cti-agent-dialled of config/asterisk/extensions.conf" in caplog.text
                sent, _ = await _call_to_1001(eng, seen, monkeypatch)
                assert [h["Channel"] for h in _rings(sent)] == ["Local/1001@cti-sim-phone/n"]
                pbx.cli("dialplan reload")
                eng.ami.client.drop_connection()
                await until(lambda: eng.dialplan.missing == [], what="every context there after AMI reconnected")
                # Between connections the watch asks again (every 5 min; here every 0.3 s): the
                # context removed once more is seen missing without a reconnect.
                await eng.dialplan.stop()
                eng.dialplan.every_s = 0.3
                eng.dialplan.start()
                pbx.cli("dialplan remove context cti-agent-dialled")
                await until(lambda: eng.dialplan.missing == ["cti-agent-dialled"], what="the context missed again")
    finally:
        pbx.cli("dialplan reload")

"""An attended transfer's steps on the PBX wait for what the next step needs: the consultation is
dialled once the agent's leg has left the caller's bridge (its dialplan Bridge() pulls that leg),
and the transfer returns (a conference or a completion may follow at once) only when the answered
target's leg and the agent's are in one bridge; a target leg that never gets there is a failed
consultation, not a "consulting" call with a dead leg."""

from __future__ import annotations

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.errors import AcdError
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.journey import CallEnded

CALLER, AGENT_LEG = "Local/s@cti-queue-00000001;2", "Local/1001@cti-sim-phone-00000002;1"
TARGET_LEG = "Local/fake-00000001;1"  # FakeCallControl's answered originate


@pytest.fixture
async def acd() -> AcdService:
    bus = InProcessBus()
    service = AcdService(Router([]), FakeCallControl(), bus, clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel=CALLER, caller_number="13800000001",
                                    queue="support", status="talking", agent_id="1001", agent_channel=AGENT_LEG)
    return service


def _control(acd: AcdService) -> FakeCallControl:
    assert isinstance(acd.control, FakeCallControl)
    return acd.control


def _steps(control: FakeCallControl) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for method, kw in control.calls:
        if method == "wait_bridged":
            out.append((method, kw["channel"], kw["peer"], "together" if kw["together"] else "apart"))
        elif method in ("hold", "originate", "redirect", "unhold", "hangup"):
            out.append((method, kw.get("channel", "")))
    return out


async def test_the_consultation_is_dialled_after_the_hold_and_returns_once_bridged(acd: AcdService) -> None:
    await acd.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    assert _steps(_control(acd)) == [
        ("hold", CALLER),
        ("wait_bridged", AGENT_LEG, CALLER, "apart"),
        ("originate", "Local/8610557@cti-external/n"),
        ("wait_bridged", TARGET_LEG, AGENT_LEG, "together"),
    ]
    call = acd.calls["c.1"]
    assert call.status == "consulting" and call.consult_channel == TARGET_LEG


async def test_an_answered_target_never_bridged_with_the_agent_is_a_failed_consultation(acd: AcdService) -> None:
    _control(acd).never_bridged.add(TARGET_LEG)
    with pytest.raises(AcdError, match="could not be connected"):
        await acd.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    call = acd.calls["c.1"]
    assert call.status == "talking" and call.consult_channel is None and call.consult_target is None
    steps = _steps(_control(acd))
    assert ("hangup", TARGET_LEG) in steps and steps[-1] == ("unhold", CALLER)


async def test_a_conference_waits_for_the_consultation_bridge_before_moving_anyone(acd: AcdService) -> None:
    await acd.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    _control(acd).calls.clear()
    await acd.actions.conference("c.1")
    steps = _steps(_control(acd))
    assert steps[0] == ("wait_bridged", TARGET_LEG, AGENT_LEG, "together")
    assert [s[0] for s in steps[1:]] == ["redirect", "redirect"]
    # A consultation whose target's leg is not with the agent (it hung up, or it is not bridged
    # yet after a long while): the conference is refused, nobody is moved.
    acd.calls["c.1"].status = "consulting"
    _control(acd).calls.clear()
    _control(acd).never_bridged.add(TARGET_LEG)
    with pytest.raises(AcdError, match="not connected"):
        await acd.actions.conference("c.1")
    assert not _control(acd).called("redirect")


async def test_completing_the_transfer_waits_for_the_consultation_bridge(acd: AcdService) -> None:
    """A consulted agent's consultation counts as answered when their phone answers, before its
    Bridge() has pulled the agent's leg: the completion's AMI Bridge waits for that bridge."""
    await acd.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    _control(acd).calls.clear()
    _control(acd).never_bridged.add(TARGET_LEG)
    with pytest.raises(AcdError, match="not connected"):
        await acd.actions.hangup("c.1")  # the agent hangs up: complete the transfer
    assert not _control(acd).called("bridge") and not _control(acd).called("hangup")
    assert acd.calls["c.1"].status == "consulting" and acd.calls["c.1"].agent_id == "1001"
    _control(acd).never_bridged.clear()
    _control(acd).calls.clear()
    await acd.actions.hangup("c.1")
    # The consultation's leg is marked transferred before it is moved: its Bridge() ending later is
    # the caller leaving, not the agent's phone (cti-consult-connect).
    assert [m for m, _ in _control(acd).calls] == ["wait_bridged", "set_var", "bridge", "hangup"]
    assert _control(acd).called("set_var")[0] == {"channel": TARGET_LEG, "name": "CTI_TRANSFERRED", "value": "1"}
    assert _control(acd).called("wait_bridged")[0] == {"channel": TARGET_LEG, "peer": AGENT_LEG, "together": True}


async def test_a_conference_ending_under_the_consultations_linkedid_ends_the_agents_call() -> None:
    """In the ConfBridge Asterisk gives the call's channels the consultation's linkedid: the call
    model's CallEnded names that call and lists the agent's among those folded into it."""
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig("support", wrap_up_s=600.0)]), FakeCallControl(), bus, clock=lambda: 1000.0)
    acd.subscribe()
    await bus.start()
    call = LiveCall(linkedid="c.1", caller_channel=CALLER, caller_number="13800000001", queue="support")
    await acd.enqueue(call)
    await acd.agent_login("1001", {}, ["support"], ready=True)
    assert call.ring_task is not None
    await call.ring_task  # the fake phone answers
    await acd.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    await acd.actions.conference("c.1")
    await bus.publish(CallEnded(ts=1010.0, linkedid="cti-consult", merged=("c.1",)))
    await bus.drain()  # type: ignore[attr-defined]
    assert acd.router.agent("1001").state is AgentState.WRAP_UP and "c.1" not in acd.calls
    await acd.stop()
    await bus.stop()

"""An attended transfer to an agent who is no longer there before answering, on a real Asterisk 22:
they log out while the consultation waits for them or while it rings them, or their phone goes
offline while it rings them (for longer than PHONE_GRACE_S: one back within it, a browser phone's
page reload, keeps the consultation ringing).
The ACD takes the caller back to the transferring agent (their same leg, talking again) and the
update that does so says why (``detail.consult_ended`` reason ``unavailable``); a ringing phone
stops ringing. (tests/browser/console/test_consult_agent_gone.py shows the console's side.)"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import pytest

from acd.calls import AgentPhone
from acd.consultations import PHONE_GRACE_S
from acd.events import AgentCallUpdate
from acd.model import AgentState, QueueConfig
from cti.ami.bridge import AmiBridge
from cti.journey import CallTransferred
from cti.pbx import ManagedPbx

from .test_delivery import until
from .test_transfers import Rig, _connected_call, _rig, _stop

GONE = {"reason": "unavailable", "target_kind": "agent", "target": "1002"}


@pytest.fixture
async def rig(pbx: ManagedPbx) -> AsyncIterator[Rig]:
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=2.0, ring_timeout_s=20.0)])
    try:
        yield r
    finally:
        await _stop(pbx, r)


def _rings_1002(bridge: AmiBridge) -> bool:
    return any(c.name.startswith("Local/1002@cti-sim-phone-") for call in bridge.model.calls() for c in call.live)


async def _back_with_1001(rig: Rig, linkedid: str, channel: str, agent_leg: str) -> None:
    service, bridge, rec = rig
    back = await until(lambda: [e for e in rec.of(AgentCallUpdate)
                                if e.agent_id == "1001" and e.linkedid == linkedid and e.status == "talking"
                                and (e.detail or {}).get("consult_ended")], what="1001's call talking again")
    assert [e.detail["consult_ended"] for e in back] == [GONE]
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and p.name == agent_leg,
                what="the caller bridged with 1001's leg again")
    call = service.calls[linkedid]
    assert (call.status, call.agent_id, call.consult, call.consult_target) == ("talking", "1001", None, None)
    assert not service.consultations.calls
    assert not rec.of(CallTransferred)


async def test_a_consulted_agent_who_logs_out_while_waited_for_sends_the_caller_back(rig: Rig) -> None:
    service, _, _ = rig
    linkedid, channel = await _connected_call(rig, "13200132082")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002"), ready=False)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    assert service.calls[linkedid].status == "consulting"
    await service.agent_logout("1002")
    await _back_with_1001(rig, linkedid, channel, agent_leg)


async def test_a_consulted_agent_whose_phone_goes_offline_while_it_rings_sends_the_caller_back(rig: Rig) -> None:
    service, bridge, _ = rig
    linkedid, channel = await _connected_call(rig, "13200132083")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    # 1002's simulated phone would answer after 30 s: it rings meanwhile.
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=30.0), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    await until(lambda: service.router.agent("1002").state is AgentState.RESERVED, what="1002 rung")
    await until(lambda: _rings_1002(bridge),
                what="1002's phone ringing")
    await service.decide(functools.partial(service.router.set_device_registered, "1002", False))
    await _back_with_1001(rig, linkedid, channel, agent_leg)
    await until(lambda: not _rings_1002(bridge),
                what="1002's phone no longer ringing")
    assert service.router.agent("1002").state is AgentState.AVAILABLE  # not "missed": nothing they did


async def test_a_consulted_agent_who_logs_out_while_it_rings_sends_the_caller_back(rig: Rig) -> None:
    """Was refused (409: no transition from reserved on logout): an agent may always log out."""
    service, bridge, _ = rig
    linkedid, channel = await _connected_call(rig, "13200132084")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=30.0), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    await until(lambda: service.router.agent("1002").state is AgentState.RESERVED, what="1002 rung")
    await until(lambda: _rings_1002(bridge), what="1002's phone ringing")
    await service.agent_logout("1002")
    assert service.agent_state("1002") is AgentState.LOGGED_OUT
    await _back_with_1001(rig, linkedid, channel, agent_leg)
    await until(lambda: not _rings_1002(bridge), what="1002's phone no longer ringing")


async def test_a_consulted_agents_phone_back_within_the_grace_keeps_the_consultation_ringing(rig: Rig) -> None:
    """1002's browser phone unregisters while their page reloads and registers again 1 s later: the
    consultation goes on ringing them (it ended at once before)."""
    service, bridge, _ = rig
    linkedid, _ = await _connected_call(rig, "13200132085")
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=30.0), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    await until(lambda: _rings_1002(bridge), what="1002's phone ringing")
    await service.decide(functools.partial(service.router.set_device_registered, "1002", False))
    await asyncio.sleep(1.0)
    await service.decide(functools.partial(service.router.set_device_registered, "1002", True))
    await asyncio.sleep(PHONE_GRACE_S + 1.0)
    call = service.calls[linkedid]
    assert (call.status, call.consult_target) == ("consulting", ("agent", "1002"))
    assert _rings_1002(bridge) and service.router.agent("1002").state is AgentState.RESERVED
    await service.actions.cancel_consult(linkedid)

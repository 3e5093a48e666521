"""Asterisk's stand-in of a channel that Bridge() pulled, "Surrogate/<channel>", on a real Asterisk
22: listed by ``core show channels`` for a while after the pull (now and then for good), it stands
in the way of nothing: the agent whose phone it is named after gets the next call as usual."""

from __future__ import annotations

from acd.model import AgentState, QueueConfig
from cti.pbx import ManagedPbx
from tests.helpers import busy_context

from .test_delivery import until
from .test_transfers import _connected_call, _rig, _stop


def _listed(pbx: ManagedPbx) -> str:
    return pbx.cli("core show channels concise")


async def test_an_agents_next_call_connects_while_a_stand_in_of_its_phone_is_listed(pbx: ManagedPbx) -> None:
    """A leg to agent 1001's phone is pulled by another channel's Bridge() while its ;1 half runs
    dialplan (as cti-consult-connect pulls a consulting agent's leg parked in cti-park-agent), then
    hung up; its stand-in, "Surrogate/Local/1001@cti-sim-phone-...;1" (the name CI saw kept for
    good), stays listed as long as the old half's thread is busy (12 s). Meanwhile 1001 logs in, is
    offered a caller, answers and talks to the caller: neither the engine nor Asterisk minds the
    stand-in."""
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=0.0, ring_timeout_s=5.0)])
    service, bridge, _ = r
    try:
        with busy_context(pbx, "cti-test-busy-leg", 12):
            leg = await bridge.control.originate("Local/1001@cti-sim-phone/n", context="cti-test-busy-leg", exten="s",
                                                 variables={"CTI_ANSWER_S": "0"}, timeout_ms=5000)
            assert leg.success and leg.channel and leg.channel.startswith("Local/1001@cti-sim-phone-"), leg
            await until(lambda: f"{leg.channel}!cti-test-busy-leg!s!2!Up!System!" in _listed(pbx),
                        what="1001's leg busy in its dialplan")
            puller = await bridge.control.originate("Local/s@cti-sim-caller/n", application="Bridge",
                                                    data=leg.channel, timeout_ms=5000)
            assert puller.success
            await until(lambda: (p := bridge.model.bridged_peer(leg.channel or "")) is not None
                        and p.name == puller.channel, what="the leg pulled into the bridge")
            stand_in = f"Surrogate/{leg.channel}"
            assert stand_in in _listed(pbx)
            await bridge.control.hangup(leg.channel)
            await until(lambda: not bridge.model.calls(), what="the pull's calls over")

            linkedid, channel = await _connected_call(r, "13200132401")  # 1001 logs in, is offered it, answers
            peer = bridge.model.bridged_peer(channel)
            assert peer is not None and peer.name.startswith("Local/1001@cti-sim-phone-"), peer
            assert service.router.agent("1001").state is AgentState.ON_CALL
            assert stand_in in _listed(pbx)  # there all along
            await bridge.control.hangup(channel)
            await until(lambda: service.router.agent("1001").state is AgentState.AVAILABLE, what="1001 free again")
            assert linkedid not in service.calls
            await until(lambda: stand_in not in _listed(pbx), 20.0, what="the stand-in gone")  # its sleep ended
    finally:
        await _stop(pbx, r)

"""A consultation dialled the instant the hold returns, then a conference the instant the
consultation is bridged, on a real Asterisk 22, 40 times: each time the consultation is dialled only
once both legs of the held call are out of their bridge, and caller, agent and third party meet in
one conference.

Asterisk answers the hold's Redirect (caller to the hold, the agent's leg to the park) before the
legs act on it: each keeps the Redirect pending (a soft hang-up flag) until its bridge thread takes
it out. The hold used to go on once the two were apart, which they are as soon as the *caller* has
left: about one round in 25 the agent's leg was still in the caller's bridge then. The
consultation's Bridge() moved it, Redirect pending, into the consultation bridge, where it acted on
that Redirect and left again; a conference sent meanwhile met "Redirect failed, channel not up."
(the flag), or the consultation was gone."""

from __future__ import annotations

import functools
from typing import Any

from acd.model import AgentState, QueueConfig
from cti.pbx import ManagedPbx

from .test_delivery import until
from .test_transfers import _connected_call, _rig, _stop, _together

ROUNDS = 40


async def test_a_consultation_is_dialled_only_once_both_held_legs_left_their_bridge(pbx: ManagedPbx) -> None:
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=0.0, ring_timeout_s=5.0)])
    service, bridge, _ = r
    legs: dict[str, str] = {}  # "caller", "agent": this round's
    at_dial: list[tuple[int, str | None, str | None]] = []  # (round, agent's bridge, caller's bridge)
    originate = bridge.control.originate

    def bridge_of(name: str) -> str | None:
        ch = bridge.model.channel(name)
        return ch.bridge_id if ch is not None and ch.ended_at is None else None

    def spy(channel: str, **kw: Any) -> Any:
        if kw.get("context") == "cti-consult-connect":  # the consultation: the call is on hold now
            at_dial.append((len(at_dial), bridge_of(legs["agent"]), bridge_of(legs["caller"])))
        return originate(channel, **kw)

    bridge.control.originate = spy  # type: ignore[method-assign]
    try:
        for i in range(ROUNDS):
            linkedid, channel = await _connected_call(r, f"132001322{i:02d}", login=i == 0)
            call = service.calls[linkedid]
            agent_leg = call.agent_channel
            assert agent_leg
            legs.update(caller=channel, agent=agent_leg)
            # 8695...: a third party that answers the instant it is called.
            await service.actions.transfer(linkedid, target_kind="number", target=f"869501{i:02d}", kind="attended")
            target_leg = call.consult_channel
            assert target_leg
            await service.actions.conference(linkedid)  # the moment the transfer returns
            await until(functools.partial(_together, bridge, (channel, agent_leg, target_leg)),
                        what=f"round {i}: the three together")
            await service.actions.hangup(linkedid)  # the agent leaves, then the caller
            await until(lambda: service.router.agent("1001").state is AgentState.AVAILABLE,
                        what=f"round {i}: agent 1001 free again")
            await bridge.control.hangup(channel)
            await until(lambda: not [c for c in bridge.model.calls() if c.live], what=f"round {i}: no call left")
        assert len(at_dial) == ROUNDS
        assert [d for d in at_dial if d[1] is not None or d[2] is not None] == []
    finally:
        await _stop(pbx, r)



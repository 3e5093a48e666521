"""Recovery of the agents' own calls (a click-to-dial, a callback's or a preview contact's Dial) that
Asterisk kept through the restart: ``acd.recovery.plan`` leaves them alone (no ACD leg, no queue
entry), so the restarted engine would not know them, and the agent on one would never wrap it up.

A call with an agent's phone leg up and a customer's leg up, whose interaction (opened by the engine
that dialled) is that agent's outbound call, is their live outbound call again, as
``CallActions.dial`` made it: talking, on their console, its end wrapped up (an agent the history
leaves not ready "outbound" for it is given back to the break they dialled from then; one who chose
another reason during the call stays in it, as without the restart). The interaction names the
number and the customer. A call on the phone of an agent left "outbound" that is not taken back
(the dial still rings it; no such interaction: a call the engine did not place) is only named, for
the dial's watch (``acd.dial_readiness``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from acd.recovery import ChannelFacts, RecoveryPlan
from callcenter.recovery_agents import LastState
from crm_core.db import Database
from crm_core.models import Interaction

log = logging.getLogger(__name__)


async def own_calls_of(acd: AcdService, db: Database, last: Mapping[str, LastState], facts: Sequence[ChannelFacts],
                       decided: RecoveryPlan) -> dict[str, tuple[str, bool]]:
    """Agent -> (the linkedid of the call on their phone, taken back) for the agents ``last`` leaves
    logged in: a call with a channel of their phone that the plan does not own (none of its channels
    an ACD leg or a queued caller); taken back (in ``acd.calls``) when their leg and a customer's leg
    are up and its interaction is their outbound call."""
    planned = {a.entry.linkedid for a in decided.connected} | {w.entry.linkedid for w in decided.waiting}
    planned |= {f.linkedid for f in facts if f.agent_id is not None or f.entry is not None}
    found: dict[str, tuple[str, bool]] = {}
    adopt: dict[str, tuple[ChannelFacts, ChannelFacts]] = {}
    # A phone's channels are named by its prefix and a sequence number ("PJSIP/1002-0000002a",
    # "Local/1002@cti-sim-phone-0000002b;1"): one look-up per agent, not a pass over every channel.
    by_prefix: dict[str, list[ChannelFacts]] = {}
    for f in facts:
        if f.linkedid not in planned:
            by_prefix.setdefault(f.name.rpartition("-")[0] + "-", []).append(f)
    by_linkedid: dict[str, list[ChannelFacts]] = {}
    for f in facts:
        by_linkedid.setdefault(f.linkedid, []).append(f)
    for agent_id, agent_last in last.items():
        if agent_last.state == "logged_out":
            continue
        prefix = (acd.phones.get(agent_id) or AgentPhone(agent_id)).channel_prefix
        legs = by_prefix.get(prefix, [])
        if not legs:
            continue
        up = [f for f in legs if f.up]
        # A simulated phone is a Local channel: its ;1 half is the Originate's, which runs the Dial
        # to the customer (as acd.dial_readiness.answered_leg picks it).
        leg = next((f for f in up if f.name.endswith(";1")), up[0] if up else legs[0])
        others = [f for f in by_linkedid.get(leg.linkedid, ()) if f.up and not f.name.startswith(prefix)]
        customer = next((f for f in others if f.bridge_id is not None and f.bridge_id == leg.bridge_id),
                        others[0] if others else None)
        found[agent_id] = (leg.linkedid, False)
        if leg.up and customer is not None:
            adopt[agent_id] = (leg, customer)
    rows = await _interactions(db, [leg.linkedid for leg, _ in adopt.values()])
    for agent_id, (leg, customer) in adopt.items():
        row = rows.get(leg.linkedid)
        if row is None or row.agent_id != agent_id:
            log.info("recovery: the call %s on agent %s's phone is no outbound call of theirs the CRM knows: "
                     "not taken back", leg.linkedid, agent_id)
            continue
        number, customer_id, answered_at = row.number, row.customer_id, row.answered_at
        call = LiveCall(linkedid=leg.linkedid, caller_channel=customer.name, caller_number=number, queue="",
                        direction="outbound", customer_id=customer_id, status="talking", agent_id=agent_id,
                        agent_channel=leg.name, answered_at=answered_at or leg.created, far_end="answered")
        acd.calls[call.linkedid] = call
        found[agent_id] = (leg.linkedid, True)
        log.info("recovery: agent %s's own call %s taken back (%s with %s)", agent_id, leg.linkedid, leg.name,
                 customer.name)
        await acd.call_update(call, "talking")
    return found


@dataclass(frozen=True, slots=True)
class _OwnCall:
    agent_id: str | None
    number: str
    customer_id: int | None
    answered_at: float | None


async def _interactions(db: Database, linkedids: Sequence[str]) -> dict[str, _OwnCall]:
    """linkedid -> its interaction's agent, number dialled, customer and answer, for the outbound ones;
    none when the database cannot say (the calls are not taken back: their agents are watched)."""
    if not linkedids:
        return {}
    found: dict[str, _OwnCall] = {}
    try:
        async with db.session() as s:
            stmt = select(Interaction.linkedid, Interaction.agent_id, Interaction.dialled_number,
                          Interaction.customer_id, Interaction.answered_at).where(
                Interaction.linkedid.in_(list(linkedids)), Interaction.direction == "outbound")
            for lid, agent_id, number, customer_id, answered in (await s.execute(stmt)).all():
                found[lid] = _OwnCall(agent_id, number or "", customer_id, utc_epoch(answered))
    except Exception:
        log.exception("recovery: could not read the own calls' interactions; they are not taken back")
    return found


def utc_epoch(at: datetime | None) -> float | None:
    """The call logger's times are UTC (SQLite gives them back naive)."""
    if at is None:
        return None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()

"""The agents of a call more than one agent handled (a transfer, an answer again after the first
agent's softphone was lost, a consulted agent's consultation or wrap-up), each with their own part,
as the per-agent figures count them (docs/kpis.md, *Transferred calls*).

Pure: the call log's segments in, parts out (``acd.kpis.per_agent`` makes a call record of each).
For the queue and the totals such a call stays one record (one offered, answered and handled call
whose handle time is every agent's, the seconds of a consultation once: the caller's hold); per
agent it is one handled call for each agent who talked with the caller, with their own talk
(without hold), hold and after-call work; a consulted agent's consultation (with the transferring
agent, then in a conference) is their talk, also when the transfer never completed. An agent who
only wrapped the call up has that after-call work as their part. The queue's answer (offered,
answered, its wait) goes with the agent who answered first; the contact (disposition,
first-contact resolution, CSAT) with the agent whose wrap-up completed the call, the record's own
``agent_id``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AgentPart:
    """One agent's part of a call (seconds)."""

    agent_id: str
    talk_s: float  # excluding hold
    hold_s: float = 0.0
    acw_s: float = 0.0
    held: bool = False
    disposition: str | None = None  # their own wrap-up's


@dataclasses.dataclass(frozen=True, slots=True)
class Piece:
    """A segment of the call log as the parts need it (``crm_core.models.Segment``)."""

    kind: str  # talk, consult, hold, wrapup (others are ignored)
    agent_id: str | None
    started: float
    ended: float | None
    duration_s: float
    disposition: str | None = None


def _overlap(a: Sequence[Piece], b: Sequence[Piece]) -> float:
    return sum(max(0.0, min(x.ended, y.ended) - max(x.started, y.started))
               for x in a for y in b if x.ended is not None and y.ended is not None)


def parts_of(pieces: Iterable[Piece]) -> tuple[AgentPart, ...]:
    """Each agent who talked with the caller, in the order they first did, with their own talk (less
    their holds within it, as the call's talk is; a consulted agent's consultation is their talk
    too), hold and wrap-up time; then each agent who only consulted (a consultation cancelled, or
    cut by the caller), then each who only wrapped the call up, in the order they did. None when
    nobody talked with the caller: nobody handled the call."""
    kinds: dict[str, dict[str, list[Piece]]] = {"talk": {}, "consult": {}, "hold": {}, "wrapup": {}}
    for p in sorted(pieces, key=lambda p: p.started):
        if p.agent_id is not None and p.kind in kinds:
            kinds[p.kind].setdefault(p.agent_id, []).append(p)
    talks, consults, holds, wraps = kinds["talk"], kinds["consult"], kinds["hold"], kinds["wrapup"]
    if not talks:
        return ()
    out = []
    for agent in dict.fromkeys([*talks, *consults, *wraps]):
        talk = [*talks.get(agent, []), *consults.get(agent, [])]
        held, wrap = holds.get(agent, []), wraps.get(agent, [])
        out.append(AgentPart(
            agent_id=agent,
            talk_s=max(0.0, sum(t.duration_s for t in talk) - _overlap(talk, held)),
            hold_s=sum(h.duration_s for h in held), acw_s=sum(w.duration_s for w in wrap), held=bool(held),
            disposition=next((w.disposition for w in reversed(wrap) if w.disposition), None)))
    return tuple(out)

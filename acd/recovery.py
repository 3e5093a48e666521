"""Recovery after an engine restart: from what Asterisk still has to what the ACD must take back.

Pure and synchronous. The adapter (``callcenter.recovery``) reads the call model's resync snapshot
and two channel variables per channel, turns each live channel into ``ChannelFacts`` and carries
out the ``RecoveryPlan`` this module decides:

- a caller still in ``cti-queue`` / ``cti-announce``, or still in ``cti-inbound`` past its hand-off
  (its entry set: it rings its agent from the IVR's session, or is on its way to the queue), waits
  again, at its original place (entry time, queue, priority, skills and customer come back from
  ``CTI_ACD``, set when the ACD enqueued it);
  so does a caller still waiting in the fallback (``cti-engine-down``: app_queue), pulled back
  (``pull_back``: the adapter redirects it to ``cti-queue``);
- a caller bridged with the agent leg the ACD originated for it (``CTI_AGENT`` and ``CTI_LINKEDID`` on
  that leg; app_queue's fallback marks the legs it connects the same way), or on hold in
  ``cti-hold`` while that leg waits in ``cti-park-agent``, is re-attached to its agent (held only
  while it is in no bridge: a caller taken off hold keeps ``cti-hold`` as its place, with no
  engine too, when ``cti-hold`` bridged it back with that leg itself);
- an agent leg that is not talking to its caller (still ringing, answered but not yet bridged, or
  its caller gone) is hung up, and its caller (if any) waits again;
- anything else (IVR sessions, voicemail, outbound and transfer legs) is left alone: it has its own
  way of ending, and an agent leg in ``cti-agent-connect`` is never a new inbound call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ENTRY_VAR = "CTI_ACD"  # on the caller's channel: its queue entry (``encode_entry``)
AGENT_VAR = "CTI_AGENT"  # on an agent leg the ACD originated: the agent's id
CALL_VAR = "CTI_LINKEDID"  # on that leg: the call it was originated for
LOST_VAR = "CTI_IVR_LOST"  # on a caller that lost its IVR (cti-ivr-lost): the number it dialled

# A caller in cti-inbound with an entry was handed to a queue: its ringing leg (acd.ringing, the
# hand-off's ring) is hung up like any other, and the dialplan takes it on to cti-queue's music.
WAITING_CONTEXTS = frozenset({"cti-queue", "cti-announce", "cti-inbound"})
HOLD_CONTEXT = "cti-hold"
PARK_CONTEXT = "cti-park-agent"
FALLBACK_CONTEXT = "cti-engine-down"  # the caller runs app_queue's Queue() here while no engine runs

# v2 separates skills with ';' (v1: ','), so the entry rides in the IVR's hand-off MSet, which splits
# its argument on ','. Entries an engine of v1 wrote are still read. v3 (a caller moved to another
# queue) adds the entry into its present queue before the caller's number; v4 (a caller put back in
# queue after an answer, acd.reconnect) adds that entry and the put-back's time; v5 (a caller a
# supervisor moved, carrying the waits of its stays before the move) adds that wait after them, the
# put-back's time empty when there was none; v6 (a virtual-hold callback's call, put back after its
# agent's softphone was lost) adds its marks (``callback``) after v5's fields. An entry with none of
# these stays v2, which an older engine reads too; an engine refuses a version or a mark it does not
# know (the caller is left alone, never taken back as something it is not).
_VERSION = "v2"
_MOVED = "v3"
_PUT_BACK = "v4"
_CARRIED = "v5"
_MARKED = "v6"
_SKILL_SEP = {"v1": ",", "v2": ";", "v3": ";", "v4": ";", "v5": ";", "v6": ";"}
_FIELDS = {_MOVED: 9, _PUT_BACK: 10, _CARRIED: 11, _MARKED: 12}
_CALLBACK = "callback"
_MARKS = frozenset({_CALLBACK})


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """What the router needs to put a caller back where it was."""

    linkedid: str
    queue: str
    entered_at: float
    priority: int = 0
    customer_id: int | None = None
    skills: Mapping[str, int] | None = None
    caller_number: str = ""
    # Its entry into ``queue`` when it was moved there (an overflow, a limit's queue action) after its
    # first entry, ``entered_at``: where the wait of this stay starts (docs/kpis.md). None: no move.
    queue_entered_at: float | None = None
    # When it was put back in ``queue`` after an answer (its agent's softphone lost and not back): it
    # waits since then, and its queue counted its answer already (docs/kpis.md). None: never answered.
    put_back_at: float | None = None
    # The waits of its stays before a supervisor's move that no queue counted: ``queue`` counts its
    # answer or abandon with them (docs/kpis.md, moved between queues). 0: none.
    moved_wait_s: float = 0.0
    # A virtual-hold callback's call (put back after its agent's softphone was lost): its queue
    # counted the contact when the caller pressed the key; its answer is no answered call (docs/kpis.md).
    callback: bool = False


def encode_entry(entry: QueueEntry) -> str:
    """``v2|linkedid|queue|entered_at|priority|customer|skill:level;...|caller_number``, or for a
    caller moved to another queue ``v3|...|skill:level;...|queue_entered_at|caller_number``, or for
    a caller put back after an answer ``v4|...|skill:level;...|queue_entered_at|put_back_at|caller_number``,
    for a caller a supervisor moved with the waits before its move
    ``v5|...|skill:level;...|queue_entered_at|put_back_at or empty|moved_wait_s|caller_number``, for a
    virtual-hold callback's call ``v6|...|put_back_at or empty|moved_wait_s|callback|caller_number``:
    no ',' but in the caller's number (the fields the dialplan cuts, 3 and 4, stay where v1 had them)."""
    skills = ";".join(f"{k}:{v}" for k, v in sorted((entry.skills or {}).items()))
    customer = "" if entry.customer_id is None else str(entry.customer_id)
    head = (entry.linkedid, entry.queue, f"{entry.entered_at:.3f}", str(entry.priority), customer, skills)
    stay = head[2] if entry.queue_entered_at is None else f"{entry.queue_entered_at:.3f}"
    back = "" if entry.put_back_at is None else f"{entry.put_back_at:.3f}"
    if entry.callback:
        return "|".join((_MARKED, *head, stay, back, f"{entry.moved_wait_s:.3f}", _CALLBACK, entry.caller_number))
    if entry.moved_wait_s > 0:
        return "|".join((_CARRIED, *head, stay, back, f"{entry.moved_wait_s:.3f}", entry.caller_number))
    if entry.put_back_at is not None:
        return "|".join((_PUT_BACK, *head, stay, f"{entry.put_back_at:.3f}", entry.caller_number))
    if stay == head[2]:
        return "|".join((_VERSION, *head, entry.caller_number))
    return "|".join((_MOVED, *head, stay, entry.caller_number))


def decode_entry(text: str | None) -> QueueEntry | None:
    """The entry ``encode_entry`` wrote (v2 to v6, or v1 from an older engine), or None for anything else
    (absent, unknown version or mark, damaged)."""
    if not text:
        return None
    version = text.split("|", 1)[0]
    fields = _FIELDS.get(version, 8)
    parts = text.split("|", fields - 1)
    sep = _SKILL_SEP.get(version)
    if len(parts) != fields or sep is None or not parts[1] or not parts[2]:
        return None
    try:
        entered, priority = float(parts[3]), int(parts[4])
        customer = int(parts[5]) if parts[5] else None
        skills: dict[str, int] = {}
        for item in filter(None, parts[6].split(sep)):
            name, _, level = item.partition(":")
            skills[name] = int(level)
        stay = float(parts[7]) if fields >= 9 else None
        put_back = float(parts[8]) if fields == 10 or (fields >= 11 and parts[8]) else None
        carried = float(parts[9]) if fields >= 11 else 0.0
    except ValueError:
        return None
    marks = set(filter(None, parts[10].split(";"))) if fields == 12 else set()
    if not marks <= _MARKS:
        return None
    if stay == entered:
        stay = None  # a v4 entry of a caller never moved
    if not math.isfinite(carried) or carried < 0:
        return None
    return QueueEntry(parts[1], parts[2], entered, priority, customer, skills or None, parts[-1], stay, put_back,
                      carried, _CALLBACK in marks)


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """One live channel as the adapter found it: the snapshot's facts and the ACD's variables."""

    name: str
    linkedid: str
    context: str
    up: bool
    created: float
    bridge_id: str | None = None
    entry: QueueEntry | None = None  # from ENTRY_VAR: a caller the ACD queued
    agent_id: str | None = None  # from AGENT_VAR: an agent leg the ACD originated
    for_call: str | None = None  # from CALL_VAR on that leg
    lost_dnis: str | None = None  # from LOST_VAR: a caller queued by the dialplan, never by an engine


@dataclass(frozen=True, slots=True)
class RestoreWaiting:
    entry: QueueEntry
    channel: str
    pull_back: bool = False  # waiting in the fallback's app_queue: redirect it to cti-queue first
    lost_dnis: str | None = None  # it lost its IVR (ChannelFacts): its arrival and entry are logged now


@dataclass(frozen=True, slots=True)
class Attach:
    entry: QueueEntry
    caller_channel: str
    agent_id: str
    agent_channel: str
    answered_at: float  # the agent leg's creation: the offer, a few seconds before the answer
    held: bool = False
    fallback: bool = False  # connected by app_queue while no engine ran: no engine saw it connect
    lost_dnis: str | None = None  # it lost its IVR first (ChannelFacts): its arrival and entry are logged now


@dataclass(frozen=True, slots=True)
class HangupLeg:
    channel: str
    agent_id: str
    reason: str  # "not_connected" (rang or answered, never bridged) or "orphan" (its caller is gone)


@dataclass(frozen=True, slots=True)
class RecoveryPlan:
    waiting: tuple[RestoreWaiting, ...] = ()  # in original order (entry time)
    connected: tuple[Attach, ...] = ()
    hangups: tuple[HangupLeg, ...] = ()
    busy_agents: frozenset[str] = field(default_factory=frozenset)  # talking, whether or not attached


def plan(channels: Iterable[ChannelFacts]) -> RecoveryPlan:
    """Decide, for every live channel, what the ACD takes back (see the module docstring)."""
    chans = list(channels)
    legs = [c for c in chans if c.agent_id is not None]
    callers = {c.entry.linkedid: c for c in chans if c.entry is not None and c.agent_id is None}
    waiting: list[RestoreWaiting] = []
    connected: list[Attach] = []
    hangups: list[HangupLeg] = []
    busy: set[str] = set()
    used_legs: set[str] = set()

    for linkedid, caller in callers.items():
        entry = caller.entry
        assert entry is not None
        own = [leg for leg in legs if leg.for_call == linkedid]
        talking = next((leg for leg in own if leg.up and _talking(caller, leg)), None)
        if talking is not None and talking.agent_id is not None:
            used_legs.update(leg.name for leg in own)
            if talking.agent_id not in busy:
                # Held: in cti-hold and in no bridge. A caller taken off hold (the AMI Bridge of an
                # Unhold, or cti-hold's own Bridge() with no engine left) keeps cti-hold as its
                # dialplan place while it talks in the bridge.
                connected.append(Attach(entry, caller.name, talking.agent_id, talking.name, talking.created,
                                        held=caller.context == HOLD_CONTEXT and caller.bridge_id is None,
                                        fallback=caller.context == FALLBACK_CONTEXT, lost_dnis=caller.lost_dnis))
            # else: a second conversation claiming the same agent; never cut, never attached
            busy.add(talking.agent_id)
            continue
        for leg in own:
            used_legs.add(leg.name)
            hangups.append(HangupLeg(leg.name, leg.agent_id or "", "not_connected"))
        if caller.bridge_id is None and caller.context in WAITING_CONTEXTS:
            waiting.append(RestoreWaiting(entry, caller.name, lost_dnis=caller.lost_dnis))
        elif caller.bridge_id is None and caller.context == FALLBACK_CONTEXT:
            waiting.append(RestoreWaiting(entry, caller.name, pull_back=True, lost_dnis=caller.lost_dnis))

    for leg in legs:
        if leg.name in used_legs:
            continue
        if leg.bridge_id is None:
            hangups.append(HangupLeg(leg.name, leg.agent_id or "", "orphan"))
        elif leg.agent_id is not None:
            busy.add(leg.agent_id)  # talking to something we do not know: never offer it a call
    waiting.sort(key=lambda w: (w.entry.entered_at, w.entry.linkedid))
    return RecoveryPlan(tuple(waiting), tuple(connected), tuple(hangups), frozenset(busy))


def _talking(caller: ChannelFacts, leg: ChannelFacts) -> bool:
    if caller.bridge_id is not None and caller.bridge_id == leg.bridge_id:
        return True
    return caller.context == HOLD_CONTEXT and leg.context == PARK_CONTEXT

"""The call model's records (cti.ami.callmodel): a channel's phases and their allowed steps, the
frozen views callers read (``Channel``, ``Call``, ``Transfer``) and the mutable records the model
folds events into behind them. Pure data: no I/O, no folding."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cti.ami import events as ev


class Phase(enum.Enum):
    DOWN = "down"
    RINGING = "ringing"
    UP = "up"
    HUNGUP = "hungup"


ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.DOWN: frozenset({Phase.RINGING, Phase.UP, Phase.HUNGUP}),
    Phase.RINGING: frozenset({Phase.UP, Phase.HUNGUP, Phase.DOWN}),
    Phase.UP: frozenset({Phase.HUNGUP}),
    Phase.HUNGUP: frozenset(),
}

# Asterisk channel states: 0 Down, 1 Rsrvd, 2 OffHook, 3 Dialing, 4 Ring, 5 Ringing, 6 Up,
# 7 Busy, 8 Dialing Offhook, 9 Pre-ring.
PHASE_OF_STATE = {3: Phase.RINGING, 4: Phase.RINGING, 5: Phase.RINGING, 6: Phase.UP, 9: Phase.RINGING}


@dataclass(frozen=True, slots=True)
class Channel:
    uniqueid: str
    name: str
    linkedid: str
    phase: Phase
    state: int
    caller_num: str
    caller_name: str
    connected_num: str
    connected_name: str
    context: str
    exten: str
    created: float
    ringing_at: float | None
    answered_at: float | None
    ended_at: float | None
    cause: int
    bridge_id: str | None
    local_peer: str | None
    on_hold: bool

    @property
    def talk_s(self) -> float | None:
        if self.answered_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.answered_at


@dataclass(frozen=True, slots=True)
class Transfer:
    kind: str  # blind | attended
    ts: float
    success: bool
    transferer: str  # uniqueid
    transferee: str  # uniqueid
    target: str  # exten@context (blind) or the target channel's uniqueid (attended)


@dataclass(frozen=True, slots=True)
class Call:
    linkedid: str
    channels: tuple[Channel, ...]  # every channel the call had, hung up ones included
    created: float
    answered_at: float | None
    ended_at: float | None
    cause: int
    cause_text: str
    transfers: tuple[Transfer, ...]
    merged: tuple[str, ...]  # Linkedids folded into this call

    @property
    def live(self) -> tuple[Channel, ...]:
        return tuple(c for c in self.channels if c.phase is not Phase.HUNGUP)

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.created


@dataclass(slots=True)
class ChanRecord:
    uniqueid: str
    name: str
    linkedid: str
    created: float
    phase: Phase = Phase.DOWN
    state: int = 0
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    cause: int = 0
    bridge_id: str | None = None
    local_peer: str | None = None
    on_hold: bool = False

    def view(self) -> Channel:
        return Channel(self.uniqueid, self.name, self.linkedid, self.phase, self.state, self.caller_num,
                       self.caller_name, self.connected_num, self.connected_name, self.context, self.exten,
                       self.created, self.ringing_at, self.answered_at, self.ended_at, self.cause,
                       self.bridge_id, self.local_peer, self.on_hold)


@dataclass(slots=True)
class CallRecord:
    linkedid: str
    created: float
    chans: dict[str, ChanRecord] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    answered_at: float | None = None
    transfers: list[Transfer] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    housekeeping: bool = False  # the engine's own short-lived channel (call_outcomes.HOUSEKEEPING_CONTEXTS): no call

    def view(self, ended_at: float | None = None, cause: int = 0, cause_text: str = "") -> Call:
        return Call(self.linkedid, tuple(c.view() for c in self.chans.values()), self.created, self.answered_at,
                    ended_at, cause, cause_text, tuple(self.transfers), tuple(self.merged))


@dataclass(slots=True)
class ResyncRecord:
    started: float
    channels: dict[str, ev.ChannelSnapshot] = field(default_factory=dict)
    bridges: dict[str, ev.BridgeSnapshot] = field(default_factory=dict)
    born: set[str] = field(default_factory=set)  # channels and bridges created during the resync
    gone: set[str] = field(default_factory=set)  # channels hung up during the resync
    pbx_restarted: bool = False
    lost_at: float | None = None

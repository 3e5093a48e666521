"""Where each agent goes back to after a restart, from their recorded state history: pure.

The history (``crm_core.agent_log``) has one row per state the agent entered. What the running
engine kept beside it is read back from those rows where they hold it: an agent who dialled their
own call (``acd.dial_readiness``) is not ready "outbound" with the state they dialled from pending
(``Router.own_call_started``): the not-ready reason of the row before the "outbound" one (a
break), else nothing (ready, or wrapping up, before the dial: ready after it; a reason chosen
during the call before for after it is in no row). The call's wrap-up,
or its end while no engine ran, gives them back to it (``restore``), as without the restart.

Two kinds of row need reading: a row repeating "not ready outbound" with the same
phone reachability is the agent pressing ready during the call (``Desk.set_ready`` makes that
"outbound" again and withdraws the break: ready after the call); one whose reachability changed is
their phone's (the state unchanged). After an ``engine_down`` row, the next engine's recovery logs
the agent in ("not ready login") before restoring them: that login is the restart's, not the
agent's, and does not end the own call's story.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from acd.dial_readiness import OUTBOUND
from crm_core.agent_log import engine_down

LOGIN = "login"  # the reason of an agent logged in not ready (the desk's login, the recovery's)
BUSY_STATES = frozenset({"available", "reserved", "on_call", "wrap_up"})  # restored as ready


class StateRow(Protocol):
    """One row of the history (``crm_core.agent_log.AgentStateRow``)."""

    @property
    def agent_id(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def at(self) -> float: ...

    @property
    def phone_reachable(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class LastState:
    """An agent's last recorded state and reason; ``own_call``: they were on their own dial's call
    (not ready "outbound") or wrapping it up, and ``back_to`` is where its end gives them back: the
    not-ready reason pending since the dial (a break), None for ready. ``since``: when they entered
    the state (its row's time)."""

    state: str
    reason: str | None = None
    own_call: bool = False
    back_to: str | None = None
    since: float = field(default=0.0, compare=False)


@dataclass(frozen=True, slots=True)
class Restore:
    """What recovery does for one agent, once logged in again (not ready "login"). ``not_ready``:
    not ready with that reason; with ``own_call``, the reason pending during the own call (None:
    ready after it) and the agent not ready "outbound" for the call; ``watch``: their phone is busy
    with a call recovery could not take back (a dial still ringing it): given back once it is free."""

    ready: bool = False
    not_ready: str | None = None
    own_call: bool = False
    watch: bool = False

    @property
    def label(self) -> str:
        """The state restored, for the recovery report."""
        return "available" if self.ready else "not_ready"


def last_states(rows: Iterable[StateRow]) -> dict[str, LastState]:
    """Each agent's ``LastState`` from their history, oldest rows first; an engine's ``engine_down``
    rows are passed over (where an engine stopped counting, not what the agent did)."""
    walks: dict[str, _Walk] = {}
    for r in rows:
        walks.setdefault(r.agent_id, _Walk()).step(r)
    return {agent_id: w.result() for agent_id, w in walks.items() if w.last is not None}


def restore_order(last: Mapping[str, LastState]) -> list[str]:
    """The agents in the order recovery gives them back: those available before the restart first,
    longest idle first (the router's idle order, and the first agent made ready takes the first
    caller waiting), then the others (ready from the restart on: a call or a wrap-up before it)."""
    return sorted(last, key=lambda a: (last[a].state != "available", last[a].since))


def restore(last: LastState, *, busy: bool, own_call_live: bool, phone_live: bool) -> Restore:
    """Recovery's decision for an agent logged in again. ``busy``: talking on a call the plan could not
    attach (never offered a second call: left not ready); ``own_call_live``: their own call is up and
    taken back (its wrap-up gives them back, as without the restart); ``phone_live``: a channel of
    their phone is live (their dial may still ring it)."""
    if last.state == "logged_out" or busy:
        return Restore()
    on_own = last.own_call and last.state == "not_ready" and last.reason == OUTBOUND
    if on_own and (own_call_live or phone_live):
        return Restore(not_ready=last.back_to, own_call=True, watch=not own_call_live)
    if last.own_call:  # its call ended, while no engine ran or before: where its wrap-up leads
        step = Restore(not_ready=last.back_to) if last.back_to else Restore(ready=True)
    elif last.state in BUSY_STATES:
        step = Restore(ready=True)
    elif last.reason and last.reason != LOGIN:
        step = Restore(not_ready=last.reason)
    else:
        step = Restore()
    if own_call_live and (step.ready or last.own_call):
        # On a call of theirs taken back (one the history does not show: a dial its rows missed):
        # never ready during it, which would offer a queued call on top; after it, where they were going.
        return Restore(not_ready=step.not_ready, own_call=True)
    return step


@dataclass
class _Row:
    state: str
    reason: str | None
    reachable: bool
    at: float


@dataclass
class _Walk:
    """One agent's rows, in order."""

    last: _Row | None = None  # the last row (its state is the agent's)
    prev: _Row | None = None  # the last row of the agent's own (not the restart's login)
    down: bool = False  # an engine_down row since ``prev``
    own: bool = False
    back: str | None = None
    skipped: bool = False  # the last row is the restart's login

    def step(self, r: StateRow) -> None:
        if engine_down(r.state, r.reason):
            self.down = True
            return
        row = _Row(r.state, r.reason, r.phone_reachable, r.at)
        last = self.last
        if (last is not None and (last.state, last.reason) == (row.state, row.reason)
                and last.reachable != row.reachable):
            row.at = last.at  # its phone's reachability changed: in the state since the earlier row
        self.last = row
        if self.down and (row.state, row.reason) == ("not_ready", LOGIN):
            self.skipped = True
            return
        self.skipped = False
        prev = self.prev
        if (row.state, row.reason) == ("not_ready", OUTBOUND):
            if prev is None or (prev.state, prev.reason) != ("not_ready", OUTBOUND):
                # The dial: from a not-ready reason (a break), it is pending; from ready or wrap-up, none.
                self.own = True
                self.back = prev.reason if prev is not None and prev.state == "not_ready" else None
            elif not self.down and row.reachable == prev.reachable:
                self.back = None  # ready pressed during the call: not ready "outbound" again, the break off
        elif not (row.state == "wrap_up" and self.own):
            self.own, self.back = False, None  # the own call's wrap-up keeps it; anything else ends it
        self.prev, self.down = row, False

    def result(self) -> LastState:
        assert self.last is not None
        own = self.own and not self.skipped
        return LastState(self.last.state, self.last.reason, own, self.back if own else None, self.last.at)

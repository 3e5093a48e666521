"""An agent's readiness around their own dial (the console's click-to-dial, a callback's Dial, a
preview campaign contact's Dial): out of the queues while their phone may ring, given back when
the dial failed. One place for every dial, so that the console's and the preview's agree.

    held = await acd.dial_readiness.hold("1001")       # before the Originate
    try:
        linkedid = await acd.actions.dial("1001", number)
    except Exception as err:
        if (u := unconfirmed_dial(err)) is not None:    # written, its answer never came (acd.errors)
            await acd.dial_readiness.give_back("1001", held, unconfirmed=u.linkedid, placed=u.placed)
        else:
            await acd.dial_readiness.give_back("1001", held)
        raise

``hold``: refused (AcdError) while the agent's last dial, one Asterisk never confirmed, is still
watched (below: its call may ring yet); otherwise the agent goes not ready "outbound" for the call,
so that its time counts as handling (docs/kpis.md; ``Router.own_call_started``): from ready, from
wrap-up (its timer would make them available during the call; the dial ends it), and from a break
or any other not-ready reason, which stays pending meanwhile (the console shows "then not ready:
break"). After the call its wrap-up leaves them where they were going: the pending break, else
ready (the console's wrap-up, ``agent_console.desk``). ``give_back`` after a failed dial: no call
came of it, so no wrap-up does that; an agent still not ready "outbound" goes back to the pending
reason (the break they dialled from, or the one chosen for after the call before), else, ready or
in wrap-up before, ready; one who chose another state meanwhile stays in it.

A dial Asterisk never answered (``DialUnconfirmed``: the Originate was written, its answer never
came; or ``DialLost``: written, then the AMI connection lost) may have placed its call: the agent's
phone may ring, or they may be talking to the customer. Ready at once, they would be offered a
queued call on top of it. They stay not ready "outbound" while any channel of their phone or of the
call is live, and are given back when it is gone, or when ``grace_s`` passed without one (Asterisk
never made the call). An agent not ready for their own reason is left so, but their dial is watched
all the same. Watched, a call seen is published once as a confirmed dial's call is (``placed``: its
CallArrived), so that its interaction knows its direction, agent and number.

Once the agent's leg of it answered (a customer's leg of the call is seen, or its far end's result
came: the dialplan dials the customer only then), the call is adopted (``adopt``): the agent's live
call as a confirmed dial's is (CallConnected, the console's call card, hold, transfer, hang-up), and
the watch ends there; its end goes the way of any call's (wrap-up, which makes the agent ready or
not as after any outbound call). A call seen only through the agent's phone (it rings, or the
customer's leg never came) is adopted once the customer's leg appears, or, gone first, ends the
watch as a call never seen does: the agent given back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from acd.calls import AgentPhone, LiveCall, PhoneBook
from acd.errors import AcdError, Adopt, Placed
from acd.model import AgentState, AgentView
from cti.bus import EventBus
from cti.tasks import TaskSet

log = logging.getLogger(__name__)

OUTBOUND = "outbound"  # the engine's not-ready reason while an agent's own call is under way
# After an unconfirmed dial, how long the engine looks for the call before believing it never was:
# the Originate's own wait (ring time and 15 s) has passed already; a loaded Asterisk that still
# places the call makes its channel within seconds.
GRACE_S = 15.0
POLL_S = 0.5
# What the dial's owner records of an unconfirmed dial once it is known: the call's linkedid when it is
# first seen, None when the watch ends without it (a callback's Dial: placed, or not).
Then = Callable[[str | None], Awaitable[None]]


async def until_gone(live: Callable[[], bool], clock: Callable[[], float], *, grace_s: Callable[[], float],
                     wait: Callable[[], Awaitable[bool]], gone_s: float = 0.0,
                     on_seen: Callable[[], Awaitable[None]] | None = None) -> bool:
    """Follow a call that may or may not have been placed, by looking at ``live()`` between
    ``wait()``s: True once it is gone (seen, then not live for ``gone_s``) or was never seen within
    ``grace_s()`` (read at each look); False when ``wait()`` says to stop first (the call's end came another way).
    ``on_seen``: once, the first time it is live. Used by this module's watch and by the campaign
    dialer's ``follow_unconfirmed``."""
    since, seen = clock(), False  # since: the start, or when the call was last seen live
    while True:
        now = clock()
        if live():
            if not seen and on_seen is not None:
                await on_seen()
            since, seen = now, True
        elif now - since >= (gone_s if seen else grace_s()):
            return True
        if await wait():
            return False


@dataclass(eq=False, slots=True)
class _Watched:
    """An agent's unconfirmed dial while it is watched."""

    linkedid: str
    since: float  # when the watch began
    seen: bool = False  # a channel of its call was seen
    asked: bool = False  # the agent asked to be ready while its call was up: ready after it


class ReadinessHost(Protocol):
    """The service (``acd.delivery.AcdService``) as this part sees it."""

    phones: PhoneBook
    bus: EventBus
    clock: Callable[[], float]
    live_channels: Callable[[], Iterable[str]]
    call_channels: Callable[[str], Iterable[str]]  # the live channels of the call known by a linkedid
    calls: dict[str, LiveCall]

    @property
    def early_far_end(self) -> Mapping[str, str]: ...  # far-end results of calls not (yet) known: linkedid -> result

    def agent_state(self, agent_id: str) -> AgentState: ...

    def agent(self, agent_id: str) -> AgentView: ...

    def agent_calls(self, agent_id: str) -> list[LiveCall]: ...

    async def set_ready(self, agent_id: str) -> None: ...

    async def set_not_ready(self, agent_id: str, reason: str) -> None: ...

    async def own_call_started(self, agent_id: str, reason: str) -> None: ...


class DialReadiness:
    """Takes an agent out of the queues for their dial and gives them back after a failed one."""

    def __init__(self, acd: ReadinessHost, *, grace_s: float = GRACE_S, poll_s: float = POLL_S) -> None:
        self.acd = acd
        self.grace_s, self.poll_s = grace_s, poll_s
        self._watched: dict[str, _Watched] = {}  # agent -> their unconfirmed dial, while it is watched
        self._watches: dict[str, asyncio.Task[None]] = {}  # agent -> its watch (a newer one replaces it)
        self._tasks = TaskSet(log, "acd: %s failed")

    @property
    def watching(self) -> dict[str, str]:
        """Agent -> the linkedid of their unconfirmed dial, while it is watched."""
        return {agent_id: w.linkedid for agent_id, w in self._watched.items()}

    def check_dial(self, agent_id: str) -> None:
        """AcdError while the agent's last dial, one Asterisk never confirmed, is watched: its call may
        ring yet, and a second dial would ring their phone on top of it."""
        w = self._watched.get(agent_id)
        if w is None:
            return
        if w.seen:
            raise AcdError("your last dial was placed after all and is still on your phone: wait until it ends")
        left = max(1, math.ceil(self.grace_s - (self.acd.clock() - w.since)))
        raise AcdError(f"your last dial may still be ringing: wait up to {left} s")

    async def hold(self, agent_id: str) -> AgentState:
        """Out of the queues for the dial (AcdError: ``check_dial``); the state before it, for ``give_back``."""
        self.check_dial(agent_id)
        state = self.acd.agent_state(agent_id)
        if state in (AgentState.AVAILABLE, AgentState.WRAP_UP, AgentState.NOT_READY):
            await self.acd.own_call_started(agent_id, OUTBOUND)  # a break stays pending: back to it after
        return state

    async def give_back(self, agent_id: str, before: AgentState, *, unconfirmed: str | None = None,
                        placed: Placed = lambda now: (), adopt: Adopt | None = None,
                        then: Then | None = None) -> None:
        """After a failed dial. ``unconfirmed``: the linkedid of a call Asterisk may have placed, watched
        whatever the agent's state; ``placed``: what to publish, once, if a channel of it is seen;
        ``adopt``: makes it the agent's live call once their leg of it answered (the watch ends there);
        ``then``: called once, with the linkedid when it is seen, or None when the watch ends without
        it (not when the watch is cancelled: the engine stopping)."""
        # Back where they were after the call: a reason pending since the dial (a break), else ready
        # for an agent ready or in wrap-up before it. Not ready "outbound" before (no reason pending): still so.
        ready_after = before in (AgentState.AVAILABLE, AgentState.WRAP_UP) or self._pending(agent_id) is not None
        if unconfirmed is None:
            if ready_after:
                await self._ready_again(agent_id)
            return
        w = self._watched[agent_id] = _Watched(unconfirmed, since=self.acd.clock())
        old = self._watches.pop(agent_id, None)
        if old is not None:
            old.cancel()
        task = self._tasks.spawn(self._watch(agent_id, w, ready_after, placed, adopt, then),
                                 f"acd.dial_watch.{agent_id}")
        self._watches[agent_id] = task
        task.add_done_callback(lambda t: self._forget(agent_id, t))

    async def stop(self) -> None:
        await self._tasks.stop()

    def _forget(self, agent_id: str, task: asyncio.Task[Any]) -> None:
        if self._watches.get(agent_id) is task:
            del self._watches[agent_id]
            self._watched.pop(agent_id, None)

    def ready_after_dial(self, agent_id: str) -> bool:
        """The agent asks to be ready: while the call of their unconfirmed dial is up, they are made
        ready once it is gone instead (True), as after any call; else False (ready now)."""
        w = self._watched.get(agent_id)
        if w is None or not self.dial_live(agent_id, w.linkedid):
            return False
        w.asked = True
        return True

    def _held(self, agent_id: str) -> bool:
        """Still as the dial left them: not ready "outbound", on no call (another dial's included; one
        to wrap up, the call before a dial from wrap-up, does not count)."""
        try:
            return (self.acd.agent_state(agent_id) is AgentState.NOT_READY
                    and self.acd.agent(agent_id).reason == OUTBOUND
                    and all(c.status == "ended" for c in self.acd.agent_calls(agent_id)))
        except AcdError:  # logged out meanwhile
            return False

    def phone_live(self, agent_id: str) -> bool:
        """A channel of the agent's phone is live (ringing or up): with one call at a time, their dial's."""
        phone = self.acd.phones.get(agent_id) or AgentPhone(agent_id)
        return any(name.startswith(phone.channel_prefix) for name in self.acd.live_channels())

    def dial_live(self, agent_id: str, linkedid: str) -> bool:
        """A channel of the dial's call (its linkedid, the Originate's ChannelId) or of the agent's
        phone is live: the dial may still ring, or be talking."""
        return any(True for _ in self.acd.call_channels(linkedid)) or self.phone_live(agent_id)

    def answered_leg(self, agent_id: str, linkedid: str) -> str | None:
        """The agent's leg of the dial's call once it answered, else None: a channel of the call on
        their phone, with a customer's leg of the call seen (a channel of it not the phone's, or its
        far end's result). A channel of their phone outside the call is not taken for it (a SIP
        phone may be on a call of its own, which the engine never placed)."""
        prefix = (self.acd.phones.get(agent_id) or AgentPhone(agent_id)).channel_prefix
        names = list(self.acd.call_channels(linkedid))
        legs = [n for n in names if n.startswith(prefix)]
        if not legs or not (linkedid in self.acd.early_far_end or any(not n.startswith(prefix) for n in names)):
            return None
        # A simulated phone is a Local channel: its ;1 half is the one the Originate made, which runs
        # the Dial to the customer (the far end's result names it; DTMF and hold act on it).
        return next((n for n in legs if n.endswith(";1")), legs[0])

    async def _adopt(self, agent_id: str, linkedid: str, adopt: Adopt, leg: str) -> bool:
        """The call made the agent's (``adopt``): whether the ACD knows it now. A failure once it does
        (publishing it) is logged: the call stays the agent's, its end and wrap-up go on; one before,
        too: the watch goes on."""
        log.warning("acd: the dial of agent %s that Asterisk never confirmed was answered (%s): call %s "
                    "adopted as theirs", agent_id, leg, linkedid)
        try:
            await adopt(leg)
        except Exception:
            log.exception("acd: adopting the call %s of agent %s failed", linkedid, agent_id)
        return linkedid in self.acd.calls

    async def _watch(self, agent_id: str, w: _Watched, ready_after: bool, placed: Placed,
                     adopt: Adopt | None, then: Then | None) -> None:
        """Until the call is gone, or the grace passed without it, or it is adopted (``adopt``: once its
        agent's leg answered). While the agent is as the dial left them, their phone's channels count
        as the call's (one call at a time) and they are made ready at the end; once they are not
        (another state chosen), only the call's own channels count. An adopted call's wrap-up makes
        them ready, as any outbound call's."""
        giving, linkedid, adopted = ready_after, w.linkedid, False

        def live() -> bool:
            nonlocal giving
            giving = (ready_after or w.asked) and self._held(agent_id)
            return self.dial_live(agent_id, linkedid) if giving else any(True for _ in self.acd.call_channels(linkedid))

        async def seen() -> None:
            w.seen = True
            log.warning("acd: the dial of agent %s that Asterisk never confirmed was placed (%s): "
                        "not ready until their phone is free", agent_id, linkedid)
            for ev in placed(self.acd.clock()):  # what a confirmed dial publishes, once
                await self.acd.bus.publish(ev)
            await _call(then, linkedid)

        async def wait() -> bool:  # True: adopted (the ACD knows the call from now on)
            nonlocal adopted
            if linkedid in self.acd.calls:  # known to the ACD some other way: its end is the ACD's
                adopted = True
            elif adopt is not None and w.seen and (leg := self.answered_leg(agent_id, linkedid)) is not None:
                # No await between the look at the call's channels and its LiveCall (adopt): its end,
                # which comes after its channels are gone, finds it.
                adopted = await self._adopt(agent_id, linkedid, adopt, leg)
            if adopted:
                return True
            await asyncio.sleep(self.poll_s)
            return False

        await until_gone(live, self.acd.clock, grace_s=lambda: self.grace_s, wait=wait, on_seen=seen)
        if not w.seen:
            await _call(then, None)  # before a dial may follow (a callback's again: no longer being called)
        if self._watched.get(agent_id) is w:  # a dial may follow at once (check_dial)
            del self._watched[agent_id]
        if giving and not adopted:
            await self._ready_again(agent_id)

    def _pending(self, agent_id: str) -> str | None:
        """The not-ready reason pending since the dial (a break), while the agent is as it left them."""
        return self.acd.agent(agent_id).not_ready_after_call if self._held(agent_id) else None

    async def _ready_again(self, agent_id: str) -> None:
        """Where the dial found them: the reason pending since (a break), else ready."""
        if not self._held(agent_id):
            return
        try:
            pending = self.acd.agent(agent_id).not_ready_after_call
            if pending is not None:
                await self.acd.set_not_ready(agent_id, pending)
            else:
                await self.acd.set_ready(agent_id)
        except AcdError as err:  # logged out meanwhile
            log.warning("acd: agent %s not given back after a failed dial: %s", agent_id, err.message)


async def _call(then: Then | None, linkedid: str | None) -> None:
    """``then(linkedid)``; its failure (the CRM away) is logged and ends neither the watch nor the
    agent's way back to ready."""
    if then is None:
        return
    try:
        await then(linkedid)
    except Exception:
        log.exception("acd: recording an unconfirmed dial's outcome (%s) failed", linkedid or "no call seen")

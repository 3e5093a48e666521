"""Interventions on an agent: listen / whisper / barge (ChanSpy), force not ready, force logout,
live skill change. Each one is carried out, then written to the audit log and published as a
``supervisor.intervention`` event (who, whom, what, when). And one on a waiting caller: moving it
to another queue (``move_call``: audited ``call.move``; the ACD publishes its ``call.queue_left``
with reason ``moved`` and the supervisor as its actor, and its ``call.queued``). ``spy.stop`` hangs up the
supervisor's spy leg (starting another spy does too).

Spying rings the supervisor's phone first: an Originate of the supervisor's phone into the
``ChanSpy`` application on the agent's channel; when the phone answers it hears (listen), speaks
to the agent only (whisper) or joins both (barge). The phone is the supervisor's browser softphone
(``PJSIP/web<extension>``, registered by the wallboard page) when it is registered, their SIP desk
phone for kind ``sip``, else the simulated phone (docs/softphone.md). A phone that rings out, is busy
or cannot be reached started nothing: ``PhoneNoAnswer`` (409 ``phone_no_answer``), told calmly.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from acd.delivery import AcdService
from acd.errors import UnknownAgent
from acd.events import SupervisorIntervention
from acd.model import MAX_LEVEL, MIN_LEVEL, AgentState
from agent_console.errors import CallNotFound, IllegalAgentAction, InvalidInput, PhoneNoAnswer, TargetNotFound
from agent_console.queue_scope import EVERY_QUEUE, QueueScope, check_call_scope
from agent_console.security import Principal
from agent_console.supervisor.audit import AuditLog
from cti.ami.control import CallControl
from cti.bus import EventBus
from cti.endpoints import webrtc_endpoint
from cti.errors import CtiError

log = logging.getLogger(__name__)

SpyMode = Literal["listen", "whisper", "barge"]
_EXTENSION = re.compile(r"^[0-9]{2,15}$")
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SKILL = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def phone_channel(extension: str, kind: str) -> str:
    """The supervisor's phone as an Originate channel (simulated phones answer by themselves)."""
    if not _EXTENSION.match(extension):
        raise InvalidInput("phone", "a phone extension is 2 to 15 digits")
    if kind == "webrtc":
        return f"PJSIP/{webrtc_endpoint(extension)}"
    return f"PJSIP/{extension}" if kind == "sip" else f"Local/{extension}@cti-sim-phone/n"


class Interventions:
    def __init__(self, acd: AcdService, control: Callable[[], CallControl], bus: EventBus, audit: AuditLog, *,
                 phone_kind: Callable[[], str] = lambda: "sim", clock: Callable[[], float] = time.time,
                 on_change: Callable[[], Any] = lambda: None) -> None:
        self.acd, self._control, self.bus, self.audit = acd, control, bus, audit
        self._phone_kind, self.clock, self._on_change = phone_kind, clock, on_change
        # supervisor username -> (spy channel, agent, linkedid): one spy per supervisor at a time
        self.spies: dict[str, tuple[str, str, str]] = {}

    def _agent(self, agent_id: str) -> Any:
        try:
            return self.acd.agent(agent_id)
        except UnknownAgent:  # never logged in since the engine started
            raise TargetNotFound(f"agent {agent_id} is not known to the ACD (never logged in)") from None

    async def _done(self, who: Principal, action: str, agent_id: str, linkedid: str | None = None,
                    detail: dict[str, Any] | None = None) -> dict[str, Any]:
        now = self.clock()
        entry = await self.audit.append(actor=who.username, actor_role=who.role, action=action,
                                        target=f"agent:{agent_id}",
                                        detail={**(detail or {}), **({"linkedid": linkedid} if linkedid else {})},
                                        at=now)
        await self.bus.publish(SupervisorIntervention(ts=now, actor=who.username, actor_role=who.role,
                                                      action=action, agent_id=agent_id, linkedid=linkedid,
                                                      detail=detail or None))
        self._on_change()
        return entry

    def _kind(self, extension: str, kind: str | None) -> str:
        """The phone to ring: a browser softphone only while it is registered (the wallboard open),
        otherwise the simulated phone, as before browsers had phones."""
        kind = kind or self._phone_kind()
        if kind == "webrtc":
            state = self.acd.device_state(f"PJSIP/{webrtc_endpoint(extension)}")
            return "webrtc" if state not in (None, "UNAVAILABLE", "INVALID") else "sim"
        return kind

    async def spy(self, who: Principal, agent_id: str, mode: SpyMode, phone: str,
                  kind: str | None = None, *, scope: QueueScope = EVERY_QUEUE) -> dict[str, Any]:
        """``kind``: the supervisor's own phone kind (users.phone_kind); None: the engine's default.
        ``scope``: the queues ``who`` oversees; the call heard must be of one of them (an agent who
        serves two teams may be on the other team's call)."""
        if mode not in ("listen", "whisper", "barge"):
            raise InvalidInput("mode", "listen, whisper or barge")
        self._agent(agent_id)
        calls = [c for c in self.acd.agent_calls(agent_id) if c.status in ("talking", "held") and c.agent_channel]
        if not calls:
            raise IllegalAgentAction(f"agent {agent_id} has no connected call to {mode} on")
        call = calls[0]
        check_call_scope(scope, call.linkedid, call.queue)
        kind = self._kind(phone, kind)
        channel = phone_channel(phone, kind)
        await self._end_spy(who.username)  # switching listen -> whisper -> barge: one spy leg at a time
        # The leg's uniqueid, chosen here: "stop" hangs it up while the supervisor's phone still rings.
        leg = f"spy-{uuid.uuid4().hex}"
        self.spies[who.username] = (leg, agent_id, call.linkedid)
        try:
            result = await self._control().spy(channel, call.agent_channel or "", mode, channel_id=leg,
                                               caller_id=f"\"{mode} {agent_id}\" <{agent_id}>")
        except BaseException:
            self._forget_spy(who.username, leg)
            raise
        if self.spies.get(who.username, ("",))[0] != leg:  # stopped (or replaced) while it rang
            raise IllegalAgentAction(f"the {mode} was stopped before the supervisor's phone {phone} answered")
        if not result.success:
            self._forget_spy(who.username, leg)
            if result.refused or result.timed_out:  # Asterisk's words (a refusal) go to the log only
                log.warning("spy: the %s of %s by %s through phone %s failed: %s", mode, agent_id, who.username,
                            phone, result.reason)
                raise IllegalAgentAction(f"the phone system could not call the supervisor's phone {phone} "
                                         "(the details are in the engine's log)")
            # Rang out, busy or declined: nothing was started and nothing is wrong (the wallboard says
            # so as information, not as a fault).
            raise PhoneNoAnswer(f"the supervisor's phone {phone} did not answer (reason {result.reason}): "
                                f"no {mode} was started")
        if result.channel:
            self.spies[who.username] = (result.channel, agent_id, call.linkedid)
        return await self._done(who, f"spy.{mode}", agent_id, call.linkedid,
                                {"phone": phone, "phone_kind": kind, "spy_channel": result.channel or ""})

    def _forget_spy(self, username: str, leg: str) -> None:
        if self.spies.get(username, ("",))[0] == leg:
            del self.spies[username]

    async def _end_spy(self, username: str) -> tuple[str, str, str] | None:
        spy = self.spies.pop(username, None)
        if spy is not None:
            try:
                await self._control().hangup(spy[0], may_be_gone=True)
            except CtiError as err:
                # Usually already gone (ChanSpy's E option ends it with the agent's call, or the phone
                # hung up); said, because a leg left up would keep listening.
                log.warning("spy: hanging up %s's spy leg %s failed: %s", username, spy[0], err)
        return spy

    async def stop_spy(self, who: Principal) -> dict[str, Any]:
        """Hang up this supervisor's spy leg."""
        spy = await self._end_spy(who.username)
        if spy is None:
            raise IllegalAgentAction("you are not listening to any call")
        return await self._done(who, "spy.stop", spy[1], spy[2], {"spy_channel": spy[0]})

    async def force_not_ready(self, who: Principal, agent_id: str, reason: str = "supervisor") -> dict[str, Any]:
        if not _REASON.match(reason):
            raise InvalidInput("reason", "a reason code: lower-case letters, digits and _")
        view = self._agent(agent_id)
        if view.state is AgentState.LOGGED_OUT:
            raise IllegalAgentAction(f"agent {agent_id} is logged out")
        await self.acd.set_not_ready(agent_id, reason)
        after_call = view.state in (AgentState.RESERVED, AgentState.ON_CALL)
        return await self._done(who, "agent.force_not_ready", agent_id,
                                detail={"reason": reason, "from": view.state.value, "after_call": after_call})

    async def force_logout(self, who: Principal, agent_id: str) -> dict[str, Any]:
        view = self._agent(agent_id)
        if view.state is AgentState.LOGGED_OUT:
            raise IllegalAgentAction(f"agent {agent_id} is already logged out")
        if view.state not in (AgentState.AVAILABLE, AgentState.NOT_READY, AgentState.RESERVED):
            # The router logs out an agent without a call, also while one rings them (the offer is
            # withdrawn, the caller waits again); on a call: force not ready first, log out after.
            raise IllegalAgentAction(f"agent {agent_id} is {view.state.value}: force not ready, then log out "
                                     "when the call and wrap-up are over")
        await self.acd.agent_logout(agent_id)
        return await self._done(who, "agent.force_logout", agent_id, detail={"from": view.state.value})

    async def move_call(self, who: Principal, linkedid: str, queue: str) -> dict[str, Any]:
        """Send a waiting caller to ``queue``, as an overflow does (``Router.move_waiting``: it keeps
        its wait and place; the topic skill of the queue it leaves stays behind). The router refuses
        a call ringing an agent (409) and one no longer waiting (404)."""
        call = self.acd.calls.get(linkedid)
        if call is None:
            raise CallNotFound(f"no caller {linkedid} is waiting in the ACD")
        before = call.queue
        await self.acd.decide(lambda now: self.acd.router.move_waiting(linkedid, queue, now, actor=who.username,
                                                                       actor_role=who.role))
        entry = await self.audit.append(actor=who.username, actor_role=who.role, action="call.move",
                                        target=f"call:{linkedid}",
                                        detail={"queue": before, "to": queue, "linkedid": linkedid}, at=self.clock())
        self._on_change()
        return entry

    async def set_skills(self, who: Principal, agent_id: str, skills: Mapping[str, int]) -> dict[str, Any]:
        for name, lvl in skills.items():
            if not _SKILL.match(name):
                raise InvalidInput("skills", f"bad skill name {name!r}")
            if isinstance(lvl, bool) or not isinstance(lvl, int) or not MIN_LEVEL <= lvl <= MAX_LEVEL:
                raise InvalidInput("skills", f"{name}: proficiency is a whole number {MIN_LEVEL}..{MAX_LEVEL}")
        view = self._agent(agent_id)
        await self.acd.set_skills(agent_id, dict(skills))
        return await self._done(who, "agent.set_skills", agent_id,
                                detail={"before": dict(view.skills), "after": dict(skills)})

"""The ACD's live calls and agents' phones: what delivery and the call actions share."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cti.endpoints import webrtc_endpoint
from cti.errors import CtiError
from cti.journey import CallTransferred

if TYPE_CHECKING:
    from cti.ami.control import CallControl

PhoneKind = Literal["webrtc", "sip", "sim"]
PHONE_KINDS: tuple[PhoneKind, ...] = ("webrtc", "sip", "sim")
QUEUE_CONTEXT = "cti-queue"  # where the ACD's waiting callers wait (docs/resilience.md)
CallStatus = Literal["queued", "ringing", "talking", "held", "consulting", "conference", "ended", "gone"]


@dataclass(frozen=True, slots=True)
class AgentPhone:
    """How to ring an agent: a registered SIP desk phone, the console's browser softphone (the
    WebRTC endpoint web<extension>, docs/softphone.md) or a simulated phone."""

    extension: str
    kind: PhoneKind = "sim"
    answer_after_s: float = 2.0

    @property
    def device(self) -> str:
        """The PJSIP device whose state says whether the phone is registered."""
        return f"PJSIP/{webrtc_endpoint(self.extension)}" if self.kind == "webrtc" else f"PJSIP/{self.extension}"

    @property
    def registers(self) -> bool:
        """Phones that must be registered to be offered calls (the simulated one never is)."""
        return self.kind in ("sip", "webrtc")

    @property
    def dial(self) -> str:
        if self.registers:
            return self.device
        # /n: no Local-channel optimisation, so the agent's channel keeps one name for the call.
        return f"Local/{self.extension}@cti-sim-phone/n"

    @property
    def channel_prefix(self) -> str:
        return f"{self.device}-" if self.registers else f"Local/{self.extension}@cti-sim-phone-"


class PhoneBook(dict[str, AgentPhone]):
    """Agent -> phone (a plain dict to its users), which also answers "whose registering phone is
    this device?" by one lookup: device states arrive a few times per call, for every device on
    the PBX, and scanning every agent's phone for each was a visible share of the engine's CPU.
    Any change to the book drops the index; the next lookup rebuilds it."""

    __slots__ = ("_by_device",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_device: dict[str, tuple[tuple[str, AgentPhone], ...]] | None = None

    def registering(self, device: str) -> tuple[tuple[str, AgentPhone], ...]:
        """(agent, phone) for each phone that registers as ``device`` (``PJSIP/1001``)."""
        index = self._by_device
        if index is None:
            built: dict[str, list[tuple[str, AgentPhone]]] = {}
            for agent_id, phone in self.items():
                if phone.registers:
                    built.setdefault(phone.device, []).append((agent_id, phone))
            index = self._by_device = {dev: tuple(owners) for dev, owners in built.items()}
        return index.get(device, ())

    def __setitem__(self, key: str, value: AgentPhone) -> None:
        self._by_device = None
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._by_device = None
        super().__delitem__(key)

    def setdefault(self, key: str, default: AgentPhone) -> AgentPhone:
        self._by_device = None
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self._by_device = None
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, AgentPhone]:
        self._by_device = None
        return super().popitem()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._by_device = None
        super().update(*args, **kwargs)

    def clear(self) -> None:
        self._by_device = None
        super().clear()

    def __ior__(self, other: Any) -> PhoneBook:  # type: ignore[override,misc]
        self.update(other)
        return self


@dataclass(eq=False)
class LiveCall:
    linkedid: str
    caller_channel: str
    caller_number: str
    queue: str
    direction: str = "inbound"
    customer_id: int | None = None
    skills: dict[str, int] | None = None
    priority: int = 0
    attributes: dict[str, str] | None = None
    queued_at: float = 0.0  # its first queue entry
    queue_entered_at: float | None = None  # its entry into ``queue`` when moved there later (acd.recovery)
    put_back_at: float | None = None  # put back in queue after an answer (acd.reconnect; acd.recovery)
    moved_wait_s: float = 0.0  # the waits before a supervisor's move that ``queue`` counts (Overflow.carried_s)
    status: CallStatus = "queued"
    agent_id: str | None = None
    agent_channel: str | None = None
    consult_channel: str | None = None  # attended transfer: the target's leg, talking to the agent
    consult_target: tuple[str, str] | None = None  # (target kind, target)
    consult_ring: str | None = None  # a number consulted, ringing (or answered, not yet bridged): its leg's uniqueid
    answered_at: float | None = None
    # The agent's part ended (hang-up, transfer away: ``AcdService.release_agent``), and when the
    # wrap-up state of the call ended before the form did (the timer, not ready...): its after-call work.
    ended_at: float | None = None
    wrap_left_at: float | None = None
    far_end: str | None = None  # outbound: how the customer's leg ended (FarEndResult.result)
    # Whose errand the call is, for the agent's screen: the outbound campaign that called the customer
    # (a preview dial, or a person a progressive or predictive campaign reached), or a callback: a
    # preview callback's call (outbound), or virtual hold's (inbound: the customer kept their place).
    campaign: str | None = None
    callback: bool = False
    ring_task: asyncio.Task[None] | None = field(default=None, repr=False)
    tags: list[str] = field(default_factory=list)  # what agents tagged the call with; follows transfers
    note: str = ""  # the transferring agent's note, shown in the next agent's pop
    transfer_from: str | None = None  # the agent who transferred the call here
    # Where this agent passed the call on, once their part ended by a transfer: (kind blind | attended,
    # target kind, target), as CallTransferred says; their ended call's card says so (call_detail).
    transferred_to: tuple[str, str, str] | None = None
    # A consultation that ended without the agent's asking (its target did not answer): (reason, target
    # kind, target), on the one update that takes the caller back to the agent (acd.consult_actions).
    consult_ended: tuple[str, str, str] | None = None
    # An attended transfer to an agent goes through the ACD as a call of its own (pinned to the
    # target): ``router_id`` names it in the router; ``linkedid`` stays the customer's call.
    router_id: str | None = None
    consult: LiveCall | None = field(default=None, repr=False)  # that consultation, on the original call

    @property
    def rid(self) -> str:
        """The call's id in the router."""
        return self.router_id or self.linkedid


CONSULT_SUFFIX = "#consult"  # a consultation's router id: the customer's linkedid and this


def linkedid_of(router_id: str) -> str:
    """The customer's call (linkedid) that a router call id names (``LiveCall.rid``)."""
    return router_id.removesuffix(CONSULT_SUFFIX)


class RecentAgents:
    """Customer -> the agent who last served them, for "preferred agent" routing. Entries older
    than the window are dropped as new ones arrive (insertion order is time order), so memory
    follows the window's traffic rather than growing all day."""

    def __init__(self, window_s: float, *, cap: int = 200_000) -> None:
        self.window_s, self.cap = window_s, cap
        self._served: OrderedDict[int, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._served)

    def remember(self, customer_id: int, agent_id: str, now: float) -> None:
        self._served[customer_id] = (agent_id, now)
        self._served.move_to_end(customer_id)
        while self._served:
            _, oldest = next(iter(self._served.values()))
            if now - oldest <= self.window_s and len(self._served) <= self.cap:
                break
            self._served.popitem(last=False)

    def get(self, customer_id: int, now: float) -> str | None:
        served = self._served.get(customer_id)
        if served is None or now - served[1] > self.window_s:
            return None
        return served[0]


def transferred(call: LiveCall, *, ts: float, from_agent: str, kind: str, target_kind: str,
                target: str) -> CallTransferred:
    """The event of ``from_agent``'s part of ``call`` ending by their transfer (blind or attended),
    and where the call went noted on it: their ended call's card says so (``call_detail``)."""
    call.transferred_to = (kind, target_kind, target)
    return CallTransferred(ts=ts, linkedid=call.linkedid, from_agent=from_agent, target=target,
                           target_kind=target_kind, kind=kind)


def call_detail(call: LiveCall) -> dict[str, Any] | None:
    """The console's ``detail`` of a call: attributes (IVR's and agents'), tags, the transfer that
    brought it (agent and note), the consultation on it (whom the agent consults, or that the agent
    is the one consulted), where the agent's transfer sent it, an outbound call's far-end result,
    the campaign or callback it works."""
    detail: dict[str, Any] = {}
    if call.attributes:
        detail["attributes"] = call.attributes
    if call.tags:
        detail["tags"] = list(call.tags)
    if call.transfer_from is not None:
        detail["transfer"] = {"from_agent": call.transfer_from, "note": call.note}
    if call.consult_target is not None:  # the transferring agent's call, consulting or in conference
        kind, target = call.consult_target
        detail["consult"] = {"role": "transferring", "target_kind": kind, "target": target}
    elif call.router_id is not None and call.status in ("consulting", "conference"):
        # The consultation leg of an attended transfer to an agent (acd.consultations): the call is
        # still the transferring agent's, this agent may only hang up until it completes.
        detail["consult"] = {"role": "consulted", "from_agent": call.transfer_from}
    if call.consult_ended is not None:
        reason, kind, target = call.consult_ended
        detail["consult_ended"] = {"reason": reason, "target_kind": kind, "target": target}
    if call.transferred_to is not None:  # the agent's part ended by their transfer: where the call went
        kind, target_kind, target = call.transferred_to
        detail["transferred"] = {"kind": kind, "target_kind": target_kind, "target": target}
    if call.far_end is not None:
        detail["far_end"] = call.far_end
    if call.campaign is not None:
        detail["campaign"] = call.campaign
    if call.callback:
        detail["callback"] = True
    return detail or None


async def to_queue_music(control: CallControl, channel: str) -> None:
    """A caller the ACD takes back (held until now, in cti-hold) waits where the queue's callers
    wait: cti-queue's music also watches the engine's heartbeat, so that an engine that dies then
    sends it on to its fallback (cti-engine-down); cti-hold's would play on for nobody. Before the
    call waits again: an agent's ring then pulls it from there (its Bridge() would be undone by a
    Redirect after it). A caller gone meanwhile is no error (its end follows)."""
    with contextlib.suppress(CtiError):
        await control.redirect(channel, QUEUE_CONTEXT, "s")

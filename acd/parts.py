"""What each part of the call delivery sees of the ACD service (``acd.delivery.AcdService``).

The service builds its parts and hands each one itself; a part knows the service only through
its protocol here, which names exactly what that part uses. So the parts never import the
service (no import circle, not even a type-only one), and a test may hand a part a fake.

    part             protocol            what it does (module)
    JourneyFollower  FollowerHost        the bus events the ACD follows: hand-offs, ends, phones (acd.follower)
    RingContacts     RingContactsHost    rings again a queue call whose phone moved while it rang (the follower's)
    DecisionEffects  EffectsHost         what each router decision publishes and does on the PBX (acd.effects)
    Rings            RingsHost           rings an agent's phone for an offer, pops the console (acd.ringing)
    PhoneReconnect   ReconnectHost       rings the same agent again after a lost softphone (acd.reconnect)
    Consultations    ConsultationsHost   attended transfers to an agent through the ACD (acd.consultations)
    CallActions      CallActionsHost     hold, transfer, DTMF, click-to-dial (acd.call_actions); its attended
                                         transfers and conference: ConsultActions (acd.consult_actions)

Parts that call one another do so through the service too (its ``rings``, ``consultations``,
``actions``...), seen through the small protocols at the end of this module: no part needs another
part's class, and the few imports among the parts' modules (a constant) run one way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

from acd.announce import PromptFloor
from acd.calls import AgentPhone, LiveCall, PhoneBook
from acd.decisions import Decision, Offer
from acd.handoff import Handoffs
from acd.model import AgentState
from acd.routing import Router
from cti.ami.control import CallControl
from cti.ami.events import DeviceStateChange
from cti.bus import EventBus
from cti.journey import AgentDialEnded, CallEnded

# One step of the router at ``now``: its decisions, which the service carries out (``decide``).
RouterStep = Callable[[float], list[Decision]]
# Builds a transferred call's screen pop (the console's PopSource): (linkedid, agent, what the ACD knows).
PopBuilder = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class RingsHost(Protocol):
    """The service as ``acd.ringing.Rings`` sees it: the PBX, the bus, the router's steps."""

    router: Router
    control: CallControl
    bus: EventBus
    phones: PhoneBook
    clock: Callable[[], float]
    live_channels: Callable[[], Iterable[str]]
    retry_s: float  # between tries to reach the PBX again after a failed offer

    @property
    def consultations(self) -> TransferPops: ...

    async def decide(self, step: RouterStep) -> None: ...


class ReconnectHost(Protocol):
    """The service as ``acd.reconnect.PhoneReconnect`` sees it: the live calls and the PBX's channels."""

    control: CallControl
    phones: PhoneBook
    calls: dict[str, LiveCall]
    clock: Callable[[], float]
    live_channels: Callable[[], Iterable[str]]
    device_state: Callable[[str], str | None]

    async def call_update(self, call: LiveCall, status: str) -> None: ...

    async def release_agent(self, call: LiveCall) -> None: ...

    async def restore_waiting(self, call: LiveCall, *, fresh_timers: bool = False) -> None: ...

    async def set_not_ready(self, agent_id: str, reason: str) -> None: ...


class ConsultationsHost(Protocol):
    """The service as ``acd.consultations.Consultations`` sees it: the router's steps and the calls' book."""

    router: Router
    bus: EventBus
    calls: dict[str, LiveCall]
    wrapups: dict[tuple[str, str], LiveCall]
    clock: Callable[[], float]
    pop_builder: PopBuilder | None

    @property
    def actions(self) -> ConsultCancelling: ...

    async def decide(self, step: RouterStep) -> None: ...

    async def call_update(self, call: LiveCall, status: str) -> None: ...

    def remember_agent(self, customer_id: int, agent_id: str, now: float) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None: ...


class CallActionsHost(Protocol):
    """The service as ``acd.call_actions.CallActions`` and its ``ConsultActions`` see it: the PBX, the
    calls' book, the queues."""

    router: Router
    control: CallControl
    bus: EventBus
    phones: PhoneBook
    calls: dict[str, LiveCall]
    wrapups: dict[tuple[str, str], LiveCall]
    clock: Callable[[], float]
    # A click-to-dial's far end may answer before its originate returns (acd.follower's on_far_end).
    early_far_end: OrderedDict[str, str]
    early_customer_leg: OrderedDict[str, str]

    @property
    def consultations(self) -> ConsultationDesk: ...

    async def call_update(self, call: LiveCall, status: str) -> None: ...

    async def release_agent(self, call: LiveCall) -> None: ...

    async def enqueue(self, call: LiveCall, *, preferred: str | None = None, by_history: bool = True,
                      required: str | None = None) -> None: ...

    async def restore_waiting(self, call: LiveCall, *, fresh_timers: bool = False) -> None: ...

    def agent_state(self, agent_id: str) -> AgentState: ...

    def queue_names(self) -> list[str]: ...


class RingContactsHost(Protocol):
    """The service as ``acd.ring_contacts.RingContacts`` sees it: the calls and consultations ringing,
    the router's steps."""

    router: Router
    calls: dict[str, LiveCall]
    clock: Callable[[], float]

    @property
    def consultations(self) -> ConsultationDesk: ...

    async def decide(self, step: RouterStep) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None: ...


class FollowerHost(Protocol):
    """The service as ``acd.follower.JourneyFollower`` sees it: where the events it follows lead
    (and, through it, ``acd.ring_contacts.RingContacts``)."""

    router: Router
    control: CallControl
    bus: EventBus
    phones: PhoneBook
    calls: dict[str, LiveCall]
    clock: Callable[[], float]
    wrapups: dict[tuple[str, str], LiveCall]
    device_state: Callable[[str], str | None]
    handoffs: Handoffs
    early_far_end: OrderedDict[str, str]
    early_customer_leg: OrderedDict[str, str]

    @property
    def stopped(self) -> bool: ...

    @property
    def rings(self) -> RingLines: ...

    @property
    def reconnect(self) -> SoftphoneWatch: ...

    @property
    def consultations(self) -> ConsultationDesk: ...

    @property
    def actions(self) -> PartyHangUps: ...

    async def enqueue(self, call: LiveCall, *, preferred: str | None = None, by_history: bool = True,
                      required: str | None = None) -> None: ...

    def call_known(self, linkedid: str) -> bool: ...

    async def decide(self, step: RouterStep) -> None: ...

    async def release_agent(self, call: LiveCall) -> None: ...

    async def call_update(self, call: LiveCall, status: str) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None: ...


class EffectsHost(Protocol):
    """The service as ``acd.effects.DecisionEffects`` sees it: what the decisions act on."""

    router: Router
    control: CallControl
    bus: EventBus
    calls: dict[str, LiveCall]
    wrapups: dict[tuple[str, str], LiveCall]
    clock: Callable[[], float]
    callbacks: CallbackTurns | None
    floor: PromptFloor  # one prompt at a time per waiting caller (acd.announce)

    @property
    def rings(self) -> RingHangUps: ...

    @property
    def consultations(self) -> ConsultationOutcomes: ...

    async def ring_offer(self, call: LiveCall, d: Offer) -> None: ...

    async def call_update(self, call: LiveCall, status: str) -> None: ...

    def remember_agent(self, customer_id: int, agent_id: str, now: float) -> None: ...

    async def remember_entry(self, call: LiveCall) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None: ...


class CallbackTurns(Protocol):
    """Where a virtual-hold entry's turn goes (``acd.virtual_hold_pbx.VirtualHold``): it must not block."""

    def turn(self, offer: Offer) -> None: ...

    def number_of(self, entry_id: str) -> str | None:
        """The number a waiting virtual-hold entry is to be called back on (None: no such entry)."""
        ...


# -- the parts as other parts see them -------------------------------------------------------------

class TransferPops(Protocol):
    """``Consultations`` as the rings see it: a transferred call's pop."""

    async def transfer_pop(self, call: LiveCall, agent_id: str, now: float) -> dict[str, Any] | None: ...


class ConsultCancelling(Protocol):
    """``CallActions`` as a consultation sees it: a consulted agent who did not answer sends the caller back."""

    async def cancel_consult(self, linkedid: str, *, reason: str = "cancelled") -> None: ...


class PartyHangUps(Protocol):
    """``CallActions`` as the follower sees it: a party's own phone hung up during an attended
    transfer, and the ACD does what that party's console Hang up would have done."""

    async def hangup(self, linkedid: str) -> None: ...

    async def consultation_left(self, linkedid: str, channel: str) -> None: ...

    async def consultation_alone(self, linkedid: str, channel: str, uniqueid: str = "") -> None: ...

    async def parked_agent_left(self, linkedid: str, channel: str) -> None: ...


class ConsultationDesk(Protocol):
    """``Consultations`` as the call actions see it: start, drop, and hand over a consultation (and
    as ``acd.ring_contacts`` sees it: the one ringing an agent, ended when their phone stays away)."""

    async def enqueue(self, consult: LiveCall, target: str) -> None: ...

    async def drop(self, consult: LiveCall, *, wrap_up: bool, reason: str | None = None) -> None: ...

    async def adopt(self, consult: LiveCall, original: LiveCall) -> None: ...

    async def left_conference(self, call: LiveCall) -> None: ...

    def ringing(self, agent_id: str) -> LiveCall | None: ...

    async def phone_gone(self, agent_id: str) -> None: ...


class RingLines(Protocol):
    """``Rings`` as the follower sees it: the callers' lines held at the hand-off, and their dials' ends."""

    def release_line(self, channel: str) -> None: ...

    def dial_ended(self, ev: AgentDialEnded) -> None: ...


class SoftphoneWatch(Protocol):
    """``PhoneReconnect`` as the follower sees it: the device states and ends it watches for."""

    def on_device_state(self, ev: DeviceStateChange, owners: Iterable[tuple[str, AgentPhone]]) -> None: ...

    def on_call_ended(self, ev: CallEnded) -> None: ...


class RingHangUps(Protocol):
    """``Rings`` as the decisions' effects see it: a withdrawn offer stops the agent's phone ringing."""

    async def hang_up(self, agent_id: str, *, strict: bool = False) -> None: ...


class ConsultationOutcomes(Protocol):
    """``Consultations`` as the decisions' effects see it: its calls, answered or put back by the router."""

    calls: dict[str, LiveCall]

    async def answered(self, consult: LiveCall, now: float) -> None: ...

    async def requeued(self, consult: LiveCall, reason: str) -> None: ...

    async def target_unreachable(self, agent_id: str) -> None: ...

    def target_reachable(self, agent_id: str) -> None: ...

"""What the ACD follows on the bus: the IVR's hand-offs and lost callers, calls' ends, outbound calls'
far ends, the callers' dials of agents' phones, parties hanging up during a consultation or a
conference, and the device states and SIP contacts of agents' phones.

The ACD service (``acd.delivery.AcdService``) builds one (``acd.follower``) and subscribes it with
itself; the follower turns each event into the service's commands and router steps. It sees the
service as an ``acd.parts.FollowerHost``.

    follower = JourneyFollower(acd)
    follower.subscribe()                               # AcdService.subscribe does
    registered = follower.registered_at_login("1001", phone)  # what the router is told at a login
"""

from __future__ import annotations

import functools
import logging

from acd.calls import AgentPhone, LiveCall
from acd.decisions import Decision
from acd.errors import AcdError
from acd.parts import FollowerHost
from acd.recovery import LOST_VAR
from acd.ring_contacts import RingContacts
from cti.ami.events import (
    ConferenceLeft,
    ConsultAlone,
    ConsultLeft,
    ContactStatus,
    DeviceStateChange,
    IvrLost,
    ParkedLeft,
)
from cti.bus import observe
from cti.errors import CtiError
from cti.journey import AgentDialEnded, CallArrived, CallEnded, FarEndResult, IvrFinished

log = logging.getLogger(__name__)


def phone_registered(phone: AgentPhone, state: str | None) -> bool:
    """A SIP or browser phone Asterisk reports UNAVAILABLE (not registered) is not offered calls."""
    return not phone.registers or state not in ("UNAVAILABLE", "INVALID")


class JourneyFollower:
    """The ACD's subscriptions to the journey and the PBX; ``acd`` owns the calls and the router."""

    def __init__(self, acd: FollowerHost) -> None:
        self.acd = acd
        # What the router was last told of each agent's phone registration: a device state that
        # does not change it (ringing, in use, idle again: three per call) is not a router step.
        self._told_registered: dict[str, bool] = {}
        # Rings (queue calls', consultations') whose phone moved to a new SIP contact (a page reload).
        self.ring_contacts = RingContacts(acd, offline=self.phone_lost)

    def subscribe(self) -> None:
        bus = self.acd.bus
        bus.subscribe(IvrFinished, self.on_ivr_finished, name="acd.ivr_finished")
        bus.subscribe(IvrLost, self.on_ivr_lost, name="acd.ivr_lost")
        bus.subscribe(CallEnded, self.on_call_ended, name="acd.call_ended")
        bus.subscribe(FarEndResult, self.on_far_end, name="acd.far_end")
        bus.subscribe(ConsultLeft, self.on_consult_left, name="acd.consult_left")
        bus.subscribe(ConsultAlone, self.on_consult_alone, name="acd.consult_alone")
        bus.subscribe(ParkedLeft, self.on_parked_left, name="acd.parked_left")
        bus.subscribe(ConferenceLeft, self.on_conference_left, name="acd.conference_left")
        observe(bus, AgentDialEnded, self.acd.rings.dial_ended, name="acd.dial_end")
        # One observer for the ACD and its softphone watcher (acd.reconnect), called as each device
        # state is published: in memory and quick (a state changes nothing unless a phone registers
        # or unregisters), so no worker task is woken; a registration change's router step runs in
        # a task of its own.
        observe(bus, DeviceStateChange, self.on_device_state, name="acd.device_state")
        bus.subscribe(ContactStatus, self.on_contact_status, name="acd.contact_status")

    # -- agents' phones -------------------------------------------------------------------------
    def registered_at_login(self, agent_id: str, phone: AgentPhone) -> bool:
        """Whether the agent's phone is registered now: what the router is told at the agent's login."""
        registered = phone_registered(phone, self.acd.device_state(phone.device))
        self._told_registered[agent_id] = registered
        return registered

    def on_device_state(self, ev: DeviceStateChange) -> None:
        """An agent's phone registered or unregistered: the router is told (offered calls or not).
        The bus observer: what the router is told is noted now and the step runs in a task, so
        that the next device state (published before that task runs) is weighed against it; the
        ACD's lock takes the steps in the order they were started."""
        acd = self.acd
        owners = acd.phones.registering(ev.device)
        if not owners:
            return  # not an agent's phone (a trunk, a Local channel, a queue...)
        if not acd.stopped:  # a stopped ACD calls no agent back
            acd.reconnect.on_device_state(ev, owners)
        told = self._told_registered
        for agent_id, phone in owners:
            registered = phone_registered(phone, ev.state)
            if told.get(agent_id) is registered:
                continue
            told[agent_id] = registered
            acd.spawn(self._tell_registered(agent_id, registered), f"acd.registered:{agent_id}")

    async def _tell_registered(self, agent_id: str, registered: bool) -> None:
        try:
            await self.acd.decide(functools.partial(self.acd.router.set_device_registered, agent_id, registered))
        except AcdError:  # not logged in to the ACD: the next device state tries again
            if self._told_registered.get(agent_id) is registered:
                del self._told_registered[agent_id]

    async def on_contact_status(self, ev: ContactStatus) -> None:
        """An agent's phone's SIP contact changed: a queue call or a consultation ringing it may
        have to ring it again at its new contact (a browser phone's page reload,
        ``acd.ring_contacts``, ``acd.consultations``)."""
        for agent_id, _ in self.acd.phones.registering(f"PJSIP/{ev.endpoint}"):
            await self.ring_contacts.contact_status(agent_id, ev.uri, ev.status)

    def phone_lost(self, agent_id: str, now: float) -> list[Decision]:
        """The router step that makes ``agent_id``'s phone offline: its ring's contact went away and
        did not come back (``acd.ring_contacts``), though the device state, ringing, never said it.
        Noted as told, so the device state that says registered again is told to the router."""
        self._told_registered[agent_id] = False
        return self.acd.router.set_device_registered(agent_id, False, now)

    # -- calls ----------------------------------------------------------------------------------
    async def on_ivr_finished(self, ev: IvrFinished) -> None:
        """The IVR handed a caller to a queue: enqueued."""
        if ev.outcome != "queue" or not ev.queue:
            return
        try:
            await self.acd.enqueue(LiveCall(
                linkedid=ev.linkedid, caller_channel=ev.channel, caller_number=ev.caller_number, queue=ev.queue,
                customer_id=ev.customer_id, skills=dict(ev.skills) if ev.skills else None, priority=ev.priority,
                attributes=dict(ev.attributes) if ev.attributes else None))
        finally:
            # An offer made on entry has rung from the caller's held line (acd.ringing); otherwise
            # the IVR may end its session now, and the caller goes on to the queue's music.
            self.acd.rings.release_line(ev.channel)

    async def on_ivr_lost(self, ev: IvrLost) -> None:
        """A caller whose IVR was lost waits in the queue the engine named for it (``cti-ivr-lost``):
        enqueued as it stands, unidentified. One this engine already holds (its recovery found it in
        ``cti-queue`` first) is left as it is."""
        if self.acd.call_known(ev.linkedid):
            return
        if not self.acd.router.has_queue(ev.queue):
            log.warning("caller %s lost its IVR and waits in %r, not a queue of this engine: left to the "
                        "dialplan's fallback", ev.linkedid, ev.queue)
            return
        log.warning("caller %s lost its IVR (no engine answered it): queued in %s", ev.linkedid, ev.queue)
        # Its arrival was never logged: no IVR started for it.
        await self.acd.bus.publish(CallArrived(ts=ev.ts, linkedid=ev.linkedid, channel=ev.channel,
                                               caller_number=ev.caller_num, dnis=ev.dnis))
        await self.acd.enqueue(LiveCall(linkedid=ev.linkedid, caller_channel=ev.channel, caller_number=ev.caller_num,
                                        queue=ev.queue))
        self.acd.spawn(self._unmark_lost(ev.channel), f"acd.unmark_lost:{ev.linkedid}")

    async def _unmark_lost(self, channel: str) -> None:
        """Logged now: a later engine's recovery must not log the caller's arrival and entry again."""
        try:
            await self.acd.control.set_var(channel, LOST_VAR, "")
        except CtiError as err:  # the caller may have hung up meanwhile
            log.info("acd: could not clear the lost-IVR mark of %s: %s", channel, err.message)

    async def on_call_ended(self, ev: CallEnded) -> None:
        """A caller waiting or ringing an agent hung up (abandoned); a connected call's agent part ends."""
        self.acd.reconnect.on_call_ended(ev)
        self.acd.handoffs.forget(ev.linkedid)  # handed off, never enqueued (hung up on the hand-off)
        # A conference's ConfBridge moves the call's channels to the consultation's linkedid: the
        # end comes under that call, the agent's call among those folded into it.
        for linkedid in (ev.linkedid, *ev.merged):
            await self._ended(linkedid, ev)

    async def _ended(self, linkedid: str, ev: CallEnded) -> None:
        call = self.acd.calls.get(linkedid)
        if call is None or call.status in ("ended", "gone"):
            return
        if call.status in ("queued", "ringing"):
            await self.acd.decide(lambda now: self.acd.router.caller_hung_up(call.rid, now,
                                                                       system_failure=ev.system_failure))
            call.status = "gone"
            self.acd.calls.pop(call.linkedid, None)
        else:
            consult, call.consult = call.consult, None
            await self.acd.release_agent(call)
            if consult is not None:  # the caller left during a consultation or conference
                await self.acd.consultations.drop(consult, wrap_up=True)

    async def on_consult_left(self, ev: ConsultLeft) -> None:
        """The consulted party (an agent's phone, a number's far end) hung up during the consultation:
        the caller is back with the agent, a consulted agent is free (``acd.consult_actions``). The
        leg's end the engine caused itself (Back to caller) finds no consultation on it any more."""
        call = next((c for c in self.acd.calls.values()
                     if c.status == "consulting" and c.consult_channel == ev.channel), None)
        if call is None:
            return
        log.info("call %s: the consulted party %s hung up during the consultation", call.linkedid, ev.channel)
        try:
            await self.acd.actions.consultation_left(call.linkedid, ev.channel)
        except (AcdError, CtiError) as err:  # the agent's own leg gone too: nobody to go back to
            log.warning("call %s: the caller could not be put back with the agent after the consulted party "
                        "hung up: %s", call.linkedid, err)

    async def on_consult_alone(self, ev: ConsultAlone) -> None:
        """The agent's leg left the consultation's Bridge() and the engine did not move it: the
        transferring agent's phone hung up. As their console's Hang up there, the transfer completes
        (``acd.consult_actions``). The engine's own Back to caller finds no consultation on the leg."""
        # A leg consult() has not recorded yet (bridged and left in one turn) is still the call's ring:
        # its uniqueid is the one the ring's Originate gave it.
        call = next((c for c in self.acd.calls.values() if c.status == "consulting" and (
            c.consult_channel == ev.channel or (c.consult_channel is None and c.consult_ring == ev.uniqueid))), None)
        if call is None:
            return
        log.info("call %s: the agent's phone hung up during the consultation with %s", call.linkedid, ev.channel)
        try:
            await self.acd.actions.consultation_alone(call.linkedid, ev.channel, ev.uniqueid)
        except (AcdError, CtiError) as err:
            log.warning("call %s: the transfer could not be completed after the agent's phone hung up: %s",
                        call.linkedid, err)

    async def on_parked_left(self, ev: ParkedLeft) -> None:
        """An agent's parked leg hung up by its own end (their phone) while their caller was on hold,
        a plain hold or for a consultation that still rang: the caller waits in the queue again
        (``acd.call_actions``, ``acd.consult_actions``)."""
        call = next((c for c in self.acd.calls.values() if c.agent_channel == ev.channel and (
            c.status == "held" or (c.status == "consulting" and not c.consult_channel))), None)
        if call is None:
            return  # a consultation answered meanwhile (its leg, left alone, completes the transfer)
        log.info("call %s: the agent's phone %s hung up with the caller on hold (%s)", call.linkedid, ev.channel,
                 call.status)
        try:
            await self.acd.actions.parked_agent_left(call.linkedid, ev.channel)
        except (AcdError, CtiError) as err:
            log.warning("call %s: the caller could not wait in the queue again after the agent's phone hung up: %s",
                        call.linkedid, err)

    async def on_conference_left(self, ev: ConferenceLeft) -> None:
        """A party's own end hung up in a three-way conference. The consulted party (an agent, or a
        number): the caller and the agent talk on without them; a consulted agent's consultation
        ends ("left") and they wrap up. The transferring agent's phone: as their console's Hang up
        there (``acd.consult_actions``), the call goes on with the consulted party, or ends once that
        party has left. The caller's leaving ends the call (no ConferenceLeft)."""
        call = next((c for c in self.acd.calls.values()
                     if c.status == "conference" and ev.channel in (c.consult_channel, c.agent_channel)), None)
        if call is None:
            return
        if ev.channel == call.consult_channel:
            log.info("call %s: the consulted party %s left the conference", call.linkedid, ev.channel)
            await self.acd.consultations.left_conference(call)
            return
        log.info("call %s: the agent's phone %s left the conference", call.linkedid, ev.channel)
        try:
            await self.acd.actions.hangup(call.linkedid)
        except (AcdError, CtiError) as err:  # the caller hung up meanwhile: the call's end follows
            log.info("call %s: after the agent's phone left the conference: %s", call.linkedid, err)

    async def on_far_end(self, ev: FarEndResult) -> None:
        """An outbound call's customer leg stopped ringing: remember how, and show it."""
        call = self.acd.calls.get(ev.linkedid)
        if call is None:
            call = next((c for (_, lid), c in self.acd.wrapups.items() if lid == ev.linkedid), None)
        if call is None:
            self.acd.early_far_end[ev.linkedid] = ev.result
            while len(self.acd.early_far_end) > 1000:
                self.acd.early_far_end.popitem(last=False)
            if ev.result == "answered":
                self.acd.early_customer_leg[ev.linkedid] = ev.dest_channel
                while len(self.acd.early_customer_leg) > 1000:
                    self.acd.early_customer_leg.popitem(last=False)
            return
        if call.direction != "outbound" or call.far_end == "answered":
            return  # an inbound call's transfer to a number; or a later leg of an answered call
        call.far_end = ev.result
        if ev.result == "answered" and ev.channel == call.agent_channel:
            call.caller_channel = ev.dest_channel  # the customer: what hold and transfer move
        await self.acd.call_update(call, call.status)

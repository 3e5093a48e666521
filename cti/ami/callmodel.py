"""The calls Asterisk has now, folded from typed AMI events: pure, synchronous, no I/O.

``CallModel.apply(event)`` updates the picture and returns the journey events to publish
(``CallEnded`` when the last channel of a call hangs up, ``FarEndResult`` when a Dial() ends,
``AgentDialEnded`` instead when it was the caller's dial of an agent's phone (the ACD's ring),
``VoicemailLeft`` when the dialplan reports a message left).
Calls are keyed by Linkedid; what each journey event says is ``cti.ami.call_outcomes``'s.

Asterisk quirks the model absorbs:
- A Local channel is two channels (``;1`` and ``;2``) joined back to back; the model links the
  halves (``local_peer``) from LocalBridge or from their names.
- When a channel enters a bridge with another call, Asterisk moves *that* channel to the other
  call's Linkedid but leaves its Local ``;2`` half on the old one. The model moves both halves
  and, when nothing live is left in the old call, folds it into the new one (no CallEnded: the
  conversation goes on) and remembers the old Linkedid as an alias.
- Bridges are learnt from BridgeEnter and BridgeLeave alone (the engine's AMI user is not sent
  BridgeCreate or BridgeDestroy: two events a call that say nothing the members do not): a bridge
  exists here from its first member's entry until its last member leaves or hangs up. An empty
  bridge (a holding bridge nobody is in yet) is therefore not listed.
- After a reconnect the resync lists (ResyncStarted, *Snapshot, ResyncFinished) replace what we
  knew: channels that vanished meanwhile are hung up (their calls end), unknown ones are added,
  and whatever live events arrived during the resync win over the older snapshot.
- When Asterisk itself restarted meanwhile (``ResyncStarted.pbx_restarted``: the AMI client saw
  its start time change), the channels it had died with it: their calls end at ``lost_at`` (when
  the connection dropped, not when we noticed) with ``CallEnded.system_failure`` set, so nobody
  counts them as the caller's abandon.

What needs no absorbing: the stand-in Asterisk makes when Bridge() pulls a channel running dialplan
("Surrogate/<channel>", listed by ``core show channels``, now and then for good) never reaches AMI,
neither as events nor in CoreShowChannels (its technology is internal), so it is never a channel here.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from cti.ami import events as ev
from cti.ami.call_outcomes import HOUSEKEEPING_CONTEXTS, call_ended, dial_ended, voicemail_left
from cti.ami.call_records import ALLOWED as _ALLOWED
from cti.ami.call_records import PHASE_OF_STATE as _PHASE_OF_STATE
from cti.ami.call_records import Call, Channel, Phase, Transfer
from cti.ami.call_records import CallRecord as _Call
from cti.ami.call_records import ChanRecord as _Chan
from cti.ami.call_records import ResyncRecord as _Resync
from cti.ami.errors import IllegalTransition
from cti.events import Event

log = logging.getLogger(__name__)


class CallModel:
    """Calls keyed by Linkedid; ``apply`` returns the journey events to publish."""

    def __init__(self, *, keep_ended: int = 1000, queue_of: Callable[[str], str | None] | None = None,
                 handling_of: Callable[[str], tuple[str | None, int | None]] | None = None) -> None:
        """``queue_of``: the queue the engine knows for a call (the ACD's), stamped on its CallEnded;
        ``handling_of``: its agent and customer (the ACD's, either None when unknown), stamped too."""
        self._queue_of = queue_of
        self._handling_of = handling_of
        self._chans: dict[str, _Chan] = {}  # live channels by uniqueid
        self._by_name: dict[str, str] = {}  # live channel name -> uniqueid
        self._calls: dict[str, _Call] = {}
        self._ended: OrderedDict[str, Call] = OrderedDict()
        self._keep_ended = keep_ended
        self._alias: dict[str, str] = {}
        self._bridges: dict[str, dict[str, float]] = {}
        self._devices: dict[str, str] = {}
        self._resync: _Resync | None = None
        self._out: list[Event] = []
        # Called (no arguments, synchronously) after an event changed who is in which bridge, once
        # the model is consistent again: the AMI bridge wakes its bridge waiters (cti.ami.bridge_waits).
        # It may read the model, never change it.
        self.on_bridges_changed: Callable[[], None] | None = None
        self._handlers: dict[type[Event], Callable[[Event], None]] = {
            ev.Newchannel: self._newchannel, ev.Newstate: self._newstate, ev.Hangup: self._hangup,
            ev.DialEnd: self._dial_end, ev.BridgeEnter: self._bridge_enter, ev.BridgeLeave: self._bridge_leave,
            ev.LocalBridge: self._local_bridge,
            ev.Hold: self._hold, ev.Unhold: self._hold, ev.BlindTransfer: self._blind_transfer,
            ev.AttendedTransfer: self._attended_transfer, ev.DeviceStateChange: self._device_state,
            ev.ResyncStarted: self._resync_started,
            ev.ChannelSnapshot: self._channel_snapshot, ev.BridgeSnapshot: self._bridge_snapshot,
            ev.ResyncFinished: self._resync_finished, ev.VoicemailResult: self._voicemail,
        }

    # -- queries ------------------------------------------------------------------------------
    def calls(self) -> list[Call]:
        """Calls with at least one live channel."""
        return [c.view() for c in self._calls.values()]

    def call(self, linkedid: str) -> Call | None:
        """A live call, or a recently ended one (with its end time and cause)."""
        linkedid = self._resolve(linkedid)
        live = self._calls.get(linkedid)
        return live.view() if live is not None else self._ended.get(linkedid)

    def channel(self, name_or_uniqueid: str) -> Channel | None:
        uid = self._by_name.get(name_or_uniqueid, name_or_uniqueid)
        chan = self._chans.get(uid)
        return chan.view() if chan is not None else None

    def bridged_peer(self, name_or_uniqueid: str) -> Channel | None:
        """The first other channel in the same bridge (the one that entered earliest)."""
        uid = self._by_name.get(name_or_uniqueid, name_or_uniqueid)
        chan = self._chans.get(uid)
        if chan is None or chan.bridge_id is None:
            return None
        for other in self._bridges.get(chan.bridge_id, {}):
            if other != uid and other in self._chans:
                return self._chans[other].view()
        return None

    def bridges(self) -> dict[str, tuple[str, ...]]:
        """Bridges with at least one live member, and their members' uniqueids by time of entry."""
        return {bid: tuple(members) for bid, members in self._bridges.items()}

    def device_state(self, device: str) -> str | None:
        """The device's last state Asterisk told us (DeviceStateList at each resync, then live
        events). The shipped manager.conf sends only PJSIP devices' states and never their in-use,
        ringing or on-hold states: ask it whether a phone is registered, not whether it is busy."""
        return self._devices.get(device)

    # -- folding ------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Event]:
        handler = self._handlers.get(type(event))
        if handler is None:
            return []
        self._out = []
        try:
            handler(event)
        except IllegalTransition as err:
            log.warning("call model ignored %s: %s", event.name, err)
        return self._out

    def _resolve(self, linkedid: str) -> str:
        seen = 0
        while linkedid in self._alias and seen < 16:
            linkedid = self._alias[linkedid]
            seen += 1
        return linkedid

    def _get_call(self, linkedid: str, ts: float) -> _Call:
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid, ts)
        return call

    def _chan(self, uid: str, name: str, linkedid: str, ts: float) -> _Chan:
        """The live channel, created if we missed its Newchannel, and placed in its current call."""
        chan = self._chans.get(uid)
        if chan is None:
            chan = self._add_chan(uid, name, linkedid, ts)
        elif linkedid and self._resolve(linkedid) != chan.linkedid:
            self._move(chan, self._resolve(linkedid), ts)
        return chan

    def _add_chan(self, uid: str, name: str, linkedid: str, ts: float) -> _Chan:
        linkedid = self._resolve(linkedid or uid)
        chan = _Chan(uid, name, linkedid, ts)
        self._chans[uid] = chan
        self._by_name[name] = uid
        call = self._get_call(linkedid, ts)
        call.chans[uid] = chan
        call.live.add(uid)
        if name.startswith("Local/") and name[-2:] in (";1", ";2"):
            sibling = self._by_name.get(name[:-1] + ("2" if name[-1] == "1" else "1"))
            if sibling is not None:
                self._link_local(uid, sibling)
        if self._resync is not None:
            self._resync.born.add(uid)
        return chan

    def _join_halves(self, a: str, b: str, ts: float) -> None:
        """After a resync: a Local channel's halves on two Linkedids (one half bridged into another
        call, the other left behind, as live events would have shown) go into one call, the call
        of the half that has company. Otherwise the lone half would end as a call of its own."""
        ca, cb = self._chans.get(a), self._chans.get(b)
        if ca is None or cb is None or ca.linkedid == cb.linkedid:
            return
        alone_a = self._calls[ca.linkedid].live == {a}
        alone_b = self._calls[cb.linkedid].live == {b}
        if alone_b and not alone_a:
            self._move(cb, ca.linkedid, ts)
        elif alone_a and not alone_b:
            self._move(ca, cb.linkedid, ts)

    def _link_local(self, a: str, b: str) -> None:
        ca, cb = self._chans.get(a), self._chans.get(b)
        if ca is not None and cb is not None:
            ca.local_peer, cb.local_peer = b, a

    def _move(self, chan: _Chan, linkedid: str, ts: float) -> None:
        old_id = chan.linkedid
        old = self._calls.get(old_id)
        new = self._get_call(linkedid, ts)
        movers = [chan]
        peer = self._chans.get(chan.local_peer) if chan.local_peer else None
        if peer is not None and peer.linkedid == old_id:
            movers.append(peer)
        for c in movers:
            log.debug("channel %s moves from call %s to %s", c.name, old_id, linkedid)
            if old is not None:
                old.chans.pop(c.uniqueid, None)
                old.live.discard(c.uniqueid)
            c.linkedid = linkedid
            new.chans[c.uniqueid] = c
            new.live.add(c.uniqueid)
        if old is not None and not old.live:
            del self._calls[old_id]
            new.created = min(new.created, old.created)
            for uid, c in old.chans.items():  # hung-up channels of the folded call stay in its history
                new.chans.setdefault(uid, c)
            new.merged.append(old_id)
            new.merged.extend(old.merged)
            new.transfers.extend(old.transfers)
            self._alias[old_id] = linkedid
            if len(self._alias) > 10 * self._keep_ended:
                self._alias.pop(next(iter(self._alias)))

    def _step(self, chan: _Chan, phase: Phase, ts: float) -> None:
        if phase is chan.phase:
            return
        if phase not in _ALLOWED[chan.phase]:
            raise IllegalTransition(f"{chan.name}: {chan.phase.value} -> {phase.value} is not allowed")
        log.debug("channel %s: %s -> %s", chan.name, chan.phase.value, phase.value)
        chan.phase = phase
        if phase is Phase.RINGING and chan.ringing_at is None:
            chan.ringing_at = ts
        elif phase is Phase.UP and chan.answered_at is None:
            chan.answered_at = ts
            call = self._calls.get(chan.linkedid)
            if call is not None and call.answered_at is None:
                call.answered_at = ts

    def _newchannel(self, e: Event) -> None:
        assert isinstance(e, ev.Newchannel)
        chan = self._chans.get(e.uniqueid) or self._add_chan(e.uniqueid, e.channel, e.linkedid, e.ts)
        chan.state, chan.caller_num, chan.caller_name = e.state, e.caller_num, e.caller_name
        chan.context, chan.exten = e.context, e.exten
        if e.context in HOUSEKEEPING_CONTEXTS and (call := self._calls.get(chan.linkedid)) is not None:
            call.housekeeping = True
        self._step(chan, _PHASE_OF_STATE.get(e.state, Phase.DOWN), e.ts)

    def _newstate(self, e: Event) -> None:
        assert isinstance(e, ev.Newstate)
        chan = self._chan(e.uniqueid, e.channel, e.linkedid, e.ts)
        chan.state, chan.caller_num, chan.caller_name = e.state, e.caller_num, e.caller_name
        chan.connected_num, chan.connected_name = e.connected_num, e.connected_name
        phase = _PHASE_OF_STATE.get(e.state, Phase.DOWN)
        if not (phase is Phase.DOWN and chan.phase is Phase.UP):  # Busy/OffHook after Up: not an end
            self._step(chan, phase, e.ts)

    def _hangup(self, e: Event) -> None:
        assert isinstance(e, ev.Hangup)
        chan = self._chans.get(e.uniqueid)
        if chan is None:
            return  # a channel we never saw (it lived and died while we were away)
        if e.linkedid and self._resolve(e.linkedid) != chan.linkedid:
            self._move(chan, self._resolve(e.linkedid), e.ts)
        bridged = chan.bridge_id is not None
        self._end_channel(chan, e.ts, e.cause, e.cause_text)
        if bridged:  # it left its bridge with its hang-up (no BridgeLeave may come)
            self._bridges_changed()

    def _end_channel(self, chan: _Chan, ts: float, cause: int, cause_text: str, *,
                     system_failure: bool = False) -> None:
        self._step(chan, Phase.HUNGUP, ts)
        chan.ended_at, chan.cause = ts, cause
        del self._chans[chan.uniqueid]
        if self._by_name.get(chan.name) == chan.uniqueid:
            del self._by_name[chan.name]
        if chan.bridge_id is not None:
            self._leave_bridge(chan.bridge_id, chan.uniqueid)
        if self._resync is not None:
            self._resync.gone.add(chan.uniqueid)
        call = self._calls.get(chan.linkedid)
        if call is None:
            return
        call.live.discard(chan.uniqueid)
        if not call.live:
            del self._calls[call.linkedid]
            self._ended[call.linkedid] = call.view(ts, cause, cause_text)
            while len(self._ended) > self._keep_ended:
                self._ended.popitem(last=False)
            if call.housekeeping:
                return  # the engine's own Local channel (e.g. writing a softphone password): not a call
            self._out.append(call_ended(call, ts, cause, cause_text, system_failure=system_failure,
                                        queue_of=self._queue_of, handling_of=self._handling_of))

    def _call_now(self, uid: str, linkedid: str) -> str:
        """The call channel ``uid`` is in now (an event names the Linkedid the channel had then)."""
        chan = self._chans.get(uid)
        return chan.linkedid if chan is not None else self._resolve(linkedid)

    def _dial_end(self, e: Event) -> None:
        assert isinstance(e, ev.DialEnd)
        if e.dest_uniqueid and e.dest_uniqueid not in self._chans:
            self._add_chan(e.dest_uniqueid, e.dest_channel, e.linkedid, e.ts)  # we missed its Newchannel
        if (ended := dial_ended(e, self._call_now(e.uniqueid, e.linkedid))) is not None:
            self._out.append(ended)

    def _voicemail(self, e: Event) -> None:
        assert isinstance(e, ev.VoicemailResult)
        if (left := voicemail_left(e, self._call_now(e.uniqueid, e.linkedid))) is not None:
            self._out.append(left)

    def _bridge_enter(self, e: Event) -> None:
        assert isinstance(e, ev.BridgeEnter)
        chan = self._chan(e.uniqueid, e.channel, e.linkedid, e.ts)
        if chan.bridge_id is not None and chan.bridge_id != e.bridge_id:
            self._leave_bridge(chan.bridge_id, chan.uniqueid)  # we missed its BridgeLeave
        members = self._bridges.get(e.bridge_id)
        if members is None:  # its first member: the bridge is new to us
            members = self._bridges[e.bridge_id] = {}
            if self._resync is not None:
                self._resync.born.add(e.bridge_id)
        members[chan.uniqueid] = e.ts
        chan.bridge_id = e.bridge_id
        self._bridges_changed()

    def _bridge_leave(self, e: Event) -> None:
        assert isinstance(e, ev.BridgeLeave)
        self._leave_bridge(e.bridge_id, e.uniqueid)
        chan = self._chans.get(e.uniqueid)
        if chan is not None and chan.bridge_id == e.bridge_id:
            chan.bridge_id = None
        self._bridges_changed()

    def _bridges_changed(self) -> None:
        if self.on_bridges_changed is not None:
            self.on_bridges_changed()

    def _leave_bridge(self, bridge_id: str, uid: str) -> None:
        """``uid`` is no longer in the bridge; the bridge is gone with its last member."""
        members = self._bridges.get(bridge_id)
        if members is not None:
            members.pop(uid, None)
            if not members:
                del self._bridges[bridge_id]

    def _drop_bridge(self, bridge_id: str) -> None:
        for uid in self._bridges.pop(bridge_id, {}):
            chan = self._chans.get(uid)
            if chan is not None and chan.bridge_id == bridge_id:
                chan.bridge_id = None

    def _local_bridge(self, e: Event) -> None:
        assert isinstance(e, ev.LocalBridge)
        self._link_local(e.one_uniqueid, e.two_uniqueid)

    def _hold(self, e: Event) -> None:
        assert isinstance(e, ev.Hold | ev.Unhold)
        chan = self._chans.get(e.uniqueid)
        if chan is not None:
            chan.on_hold = isinstance(e, ev.Hold)

    def _call_of(self, *uids: str) -> _Call | None:
        for uid in uids:
            chan = self._chans.get(uid)
            if chan is not None:
                return self._calls.get(chan.linkedid)
        return None

    def _blind_transfer(self, e: Event) -> None:
        assert isinstance(e, ev.BlindTransfer)
        call = self._call_of(e.transferee_uniqueid, e.transferer_uniqueid)
        if call is not None:
            call.transfers.append(Transfer("blind", e.ts, e.success, e.transferer_uniqueid,
                                           e.transferee_uniqueid, f"{e.exten}@{e.context}"))

    def _attended_transfer(self, e: Event) -> None:
        assert isinstance(e, ev.AttendedTransfer)
        call = self._call_of(e.transferee_uniqueid, e.transferer_uniqueid)
        if call is not None:
            call.transfers.append(Transfer("attended", e.ts, e.success, e.transferer_uniqueid,
                                           e.transferee_uniqueid, e.target_uniqueid))

    def _device_state(self, e: Event) -> None:
        assert isinstance(e, ev.DeviceStateChange)
        self._devices[e.device] = e.state

    # -- resync -------------------------------------------------------------------------------
    def _resync_started(self, e: Event) -> None:
        assert isinstance(e, ev.ResyncStarted)
        self._resync = _Resync(e.ts, pbx_restarted=e.pbx_restarted, lost_at=e.lost_at)

    def _channel_snapshot(self, e: Event) -> None:
        assert isinstance(e, ev.ChannelSnapshot)
        if self._resync is not None:
            self._resync.channels[e.uniqueid] = e

    def _bridge_snapshot(self, e: Event) -> None:
        assert isinstance(e, ev.BridgeSnapshot)
        if self._resync is not None:
            self._resync.bridges[e.bridge_id] = e

    def _resync_finished(self, e: Event) -> None:
        rs, self._resync = self._resync, None
        if rs is None:
            return
        ts = e.ts
        for uid in list(self._chans):
            if uid not in rs.channels and uid not in rs.born:
                gone = self._chans[uid]
                if rs.pbx_restarted:
                    # Cut by the crash: it ended when we lost Asterisk (never after its own start).
                    end = min(ts, rs.lost_at) if rs.lost_at is not None else ts
                    log.info("channel %s was cut by an Asterisk restart", gone.name)
                    self._end_channel(gone, max(end, gone.created), 0, "system failure: Asterisk restarted",
                                      system_failure=True)
                    continue
                log.info("channel %s ended while AMI was disconnected", gone.name)
                self._end_channel(gone, ts, 0, "ended while AMI was disconnected")
        for snap in rs.channels.values():
            if snap.uniqueid in rs.gone:
                continue
            chan = self._chans.get(snap.uniqueid)
            if chan is None:
                chan = self._add_chan(snap.uniqueid, snap.channel, snap.linkedid, ts - snap.duration_s)
            elif self._resolve(snap.linkedid) != chan.linkedid and snap.uniqueid not in rs.born:
                self._move(chan, self._resolve(snap.linkedid), ts)
            if snap.uniqueid in rs.born:
                continue  # live events since the resync started are newer than this snapshot
            chan.state, chan.context, chan.exten = snap.state, snap.context, snap.exten
            chan.caller_num, chan.caller_name = snap.caller_num, snap.caller_name
            chan.connected_num, chan.connected_name = snap.connected_num, snap.connected_name
            phase = _PHASE_OF_STATE.get(snap.state, Phase.DOWN)
            if phase in _ALLOWED[chan.phase]:
                self._step(chan, phase, ts)
        for name, uid in list(self._by_name.items()):
            if name.startswith("Local/") and name.endswith(";1"):
                sibling = self._by_name.get(name[:-1] + "2")
                if sibling is not None:
                    self._link_local(uid, sibling)
                    self._join_halves(uid, sibling, ts)
        for bid in list(self._bridges):
            if bid not in rs.bridges and bid not in rs.born:
                self._drop_bridge(bid)
        for bid, snap_b in rs.bridges.items():
            for uid in snap_b.uniqueids:
                chan = self._chans.get(uid)
                if chan is not None and uid not in rs.gone:
                    if chan.bridge_id is not None and chan.bridge_id != bid:
                        self._leave_bridge(chan.bridge_id, uid)
                    self._bridges.setdefault(bid, {}).setdefault(uid, ts)
                    chan.bridge_id = bid
        self._bridges_changed()

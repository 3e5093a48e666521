"""The ``CallControl`` port (what the engine may do to calls), its AMI adapter and an in-memory fake.

Every value is checked with cti.safety (field name = the AMI header) before anything is sent:
"1001\\r\\nAction: Originate" raises UnsafeValue("Channel") and nothing reaches Asterisk.

Hold on Asterisk 22: AMI has no "put this channel on hold" action (Hold/Unhold events come from
phones' re-INVITEs), so ``hold`` redirects the held party into ``hold_context`` (music on hold)
and its partner, as ExtraChannel of the same Redirect, into ``park_context`` (answer and wait in
silence); ``unhold`` bridges the two back with the AMI Bridge action. The defaults use the
shipped dialplan: cti-queue,s (MusicOnHold) and cti-sim-caller,s (Answer, Wait).

``originate`` returns when Asterisk's OriginateResponse (matched by ActionID) arrives. That event
comes from the originating thread while channel events come through stasis: it can overtake the
channel's own Newstate Up, so wait on the call model for the channel's state, not on the order.
The channel gets a ChannelId we choose (``cti-<uuid>``), so ``uniqueid``/``linkedid`` are known.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cti.ami.bridge_waits import BridgeWaits
from cti.ami.manager import AmiReply
from cti.ami.translate import translate
from cti.errors import AmiActionFailed, AmiNoReply, CtiError, UnsafeValue
from cti.safety import check_header_name, check_value, check_variable_name

SpyMode = Literal["listen", "whisper", "barge"]
_SPY_OPTIONS: dict[str, str] = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}
_DTMF = frozenset("0123456789*#ABCDabcd")
# How long an action's bridge outcome is waited for: Asterisk moves a redirected channel or runs a
# consultation's Bridge() within milliseconds; a loaded machine can take 5-10 times longer.
BRIDGE_WAIT_S = 10.0


@dataclass(frozen=True)
class OriginateResult:
    """``reason``: Asterisk's code (4 answered, 5 busy, 3 no answer, 8 congested, 0/1 failed) or
    an error message: Asterisk refused the action outright (Response: Error, no channel was made),
    or, ``timed_out``, Asterisk gave no answer within the wait (AmiNoReply): the Originate was
    written, so its call may have been placed."""

    success: bool
    reason: int | str
    uniqueid: str | None = None
    linkedid: str | None = None
    channel: str | None = None
    timed_out: bool = False

    @property
    def refused(self) -> bool:
        """Asterisk refused the Originate outright: no channel was made, no phone rang."""
        return not self.success and isinstance(self.reason, str) and not self.timed_out


class CallControl(Protocol):
    """Actions on calls. Channel arguments are Asterisk channel names (or uniqueids for get_var)."""

    def originate(self, channel: str, *, context: str | None = None, exten: str | None = None,
                  priority: int = 1, application: str | None = None, data: str | None = None,
                  caller_id: str | None = None, variables: Mapping[str, str] | None = None,
                  timeout_ms: int = 30000, channel_id: str | None = None) -> Awaitable[OriginateResult]:
        """Awaitable (an ``async def`` does): the AMI adapter writes the Originate before returning
        the awaitable, so a caller that does not await at once (the ACD's ring task) loses no time."""

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1, *,
                       extra_channel: str | None = None, extra_context: str | None = None,
                       extra_exten: str | None = None, extra_priority: int = 1) -> None: ...

    async def hangup(self, channel: str, cause: int = 16, *, may_be_gone: bool = False) -> None:
        """``may_be_gone``: a clean-up of a channel that has likely hung up already; a missing
        channel is believed at once instead of waited out as one being moved."""

    async def bridge(self, channel1: str, channel2: str) -> None: ...

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None: ...

    async def attended_transfer(self, channel: str, exten: str, context: str) -> None: ...

    async def hold(self, channel: str, peer: str | None = None) -> None: ...

    async def unhold(self, channel: str, peer: str | None = None) -> None: ...

    async def play_dtmf(self, channel: str, digit: str, duration_ms: int = 120) -> None: ...

    async def start_recording(self, channel: str, file: str) -> None: ...

    async def stop_recording(self, channel: str) -> None: ...

    async def mute_recording(self, channel: str, muted: bool) -> None: ...

    async def spy(self, supervisor_channel: str, target_channel: str, mode: SpyMode = "listen", *,
                  caller_id: str | None = None, channel_id: str | None = None) -> OriginateResult:
        """``channel_id``: the spy leg's uniqueid, by which it can be hung up while it still rings."""

    async def set_var(self, channel: str, name: str, value: str) -> None: ...

    async def get_var(self, channel: str, name: str) -> str | None: ...

    async def wait_bridged(self, channel: str, peer: str, *, together: bool = True,
                           timeout_s: float = BRIDGE_WAIT_S) -> bool:
        """Wait until ``channel`` and ``peer`` are in one bridge (``together``), or until each is
        in none (``together=False``: both have acted on a Redirect that takes them out of their
        bridge); False when that did not happen within ``timeout_s``."""


class _Sender(Protocol):
    async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                          expect: Literal["response", "list", "originate"] = "response",
                          timeout_s: float = 10.0) -> AmiReply: ...


def _originate_headers(channel: str, *, context: str | None, exten: str | None, priority: int,
                       application: str | None, data: str | None, caller_id: str | None,
                       variables: Mapping[str, str] | None, timeout_ms: int,
                       channel_id: str) -> dict[str, str | list[str]]:
    if (application is None) == (context is None or exten is None):
        raise UnsafeValue("Application", "give either context+exten or application, not both or neither")
    headers: dict[str, str | list[str]] = {"Channel": check_value("Channel", channel)}
    if application is not None:
        headers["Application"] = check_value("Application", application)
        if data is not None:
            headers["Data"] = check_value("Data", data)
    else:
        headers["Context"] = check_value("Context", context)
        headers["Exten"] = check_value("Exten", exten)
        headers["Priority"] = str(int(priority))
    if caller_id is not None:
        headers["CallerID"] = check_value("CallerID", caller_id)
    if variables:
        headers["Variable"] = [f"{check_header_name(k)}={check_value('Variable', v)}" for k, v in variables.items()]
    headers["Timeout"] = str(int(timeout_ms))
    headers["ChannelId"] = check_value("ChannelId", channel_id)
    # Async: the Response comes at once and the outcome later as OriginateResponse (same ActionID).
    headers["Async"] = "true"
    return headers


def _spy_data(target_channel: str, mode: str) -> str:
    check_value("Data", target_channel)
    if "," in target_channel or "|" in target_channel:
        raise UnsafeValue("Data", "a channel name for ChanSpy must not contain ',' or '|'")
    if mode not in _SPY_OPTIONS:
        raise UnsafeValue("Data", f"spy mode must be one of {sorted(_SPY_OPTIONS)}")
    return f"{target_channel},{_SPY_OPTIONS[mode]}"


def _cancel_with(sent: asyncio.Future[AmiReply], out: asyncio.Future[OriginateResult]) -> None:
    """Whoever waited for the outcome gave up: the action's own future goes too (it is forgotten)."""
    if out.cancelled():
        sent.cancel()


log = logging.getLogger(__name__)

_MOVING_RETRY_S = (0.02, 0.05, 0.1)
_CHANNEL_MISSING = ("does not exist", "No such channel")
# Bridge's answer while a channel is still on its way out of its bridge. Asterisk has then already
# replaced that channel's way out with where it stood before: Hold waits for its legs to land so
# that a Resume never meets one (see ``hold``); other Bridges are tried again.
_BRIDGE_BUSY = ("Unable to add Channel",)
# Hold returns once each leg runs the dialplan it was sent to, which clears the leg's mark (cti-hold
# the caller's CTI_HOLDING, cti-park-agent the agent leg's CTI_PARKING): looked at this often, for
# this long at most.
_LANDING_POLL_S = (0.005, 0.01, 0.02, 0.05)
LANDING_WAIT_S = 5.0


class AmiCallControl:
    """CallControl over AMI actions (through AmiClient.send_action)."""

    def __init__(self, sender: _Sender, *, linkedid_of: Callable[[str], str | None] | None = None,
                 bridges: BridgeWaits | None = None,
                 hold_context: str = "cti-hold", hold_exten: str = "s",
                 park_context: str = "cti-park-agent", park_exten: str = "s") -> None:
        """``bridges``: the waits on the call model's bridges (woken by the model's bridge changes);
        without them, ``wait_bridged`` cannot see bridges and answers True at once. Held callers
        hear music in ``hold_context``; their agent's leg waits silently in ``park_context``: both
        clear the mark Hold waits for (config/asterisk/extensions.conf)."""
        self._send = sender.send_action
        self._submit_now: Callable[..., asyncio.Future[AmiReply]] | None = getattr(sender, "submit_action", None)
        self._linkedid_of = linkedid_of
        self._bridges = bridges
        self.hold_context, self.hold_exten = hold_context, hold_exten
        self.park_context, self.park_exten = park_context, park_exten
        self._held: dict[str, str] = {}

    def originate(self, channel: str, *, context: str | None = None, exten: str | None = None,
                  priority: int = 1, application: str | None = None, data: str | None = None,
                  caller_id: str | None = None, variables: Mapping[str, str] | None = None,
                  timeout_ms: int = 30000, channel_id: str | None = None) -> asyncio.Future[OriginateResult]:
        """The Originate is on the wire when this returns (no task's turn awaited); the future
        holds the outcome. Every failure, a refused value included, comes out of the future."""
        # ChannelId is the new channel's uniqueid, so the call's linkedid: a caller that must name
        # the call before it exists (a campaign's attempt row) chooses it.
        channel_id = channel_id or f"cti-{uuid.uuid4().hex}"
        out: asyncio.Future[OriginateResult] = asyncio.get_running_loop().create_future()
        try:
            headers = _originate_headers(channel, context=context, exten=exten, priority=priority,
                                         application=application, data=data, caller_id=caller_id,
                                         variables=variables, timeout_ms=timeout_ms, channel_id=channel_id)
            # The outcome arrives when the far end answers or the dial times out: allow for both.
            sent = self._submit("Originate", headers, expect="originate", timeout_s=timeout_ms / 1000 + 15)
        except Exception as err:  # handed to whoever awaits, as an async def would raise it
            out.set_exception(err)
            return out
        sent.add_done_callback(functools.partial(self._originated, out))
        out.add_done_callback(functools.partial(_cancel_with, sent))
        return out

    def _submit(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                expect: Literal["response", "list", "originate"], timeout_s: float) -> asyncio.Future[AmiReply]:
        if self._submit_now is not None:
            return self._submit_now(action, headers, expect=expect, timeout_s=timeout_s)
        # A sender without submit_action (tests' fakes): the action goes out at the task's turn.
        return asyncio.ensure_future(self._send(action, headers, expect=expect, timeout_s=timeout_s))

    def _originated(self, out: asyncio.Future[OriginateResult], sent: asyncio.Future[AmiReply]) -> None:
        if out.done():
            return
        if sent.cancelled():
            out.cancel()
            return
        err = sent.exception()
        if isinstance(err, AmiActionFailed):  # refused outright, or (AmiNoReply) no answer in time
            out.set_result(OriginateResult(False, err.message, timed_out=isinstance(err, AmiNoReply)))
            return
        if err is not None:
            out.set_exception(err)
            return
        reply = sent.result()
        final = translate(reply.final, 0.0) if reply.final else None
        if final is None:
            out.set_result(OriginateResult(False, "no OriginateResponse"))
            return
        uniqueid = getattr(final, "uniqueid", "") or None
        linkedid = None
        if uniqueid is not None:
            linkedid = (self._linkedid_of(uniqueid) if self._linkedid_of else None) or uniqueid
        out.set_result(OriginateResult(bool(getattr(final, "success", False)), int(getattr(final, "reason", 0)),
                                       uniqueid, linkedid, getattr(final, "channel", None) or None))

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1, *,
                       extra_channel: str | None = None, extra_context: str | None = None,
                       extra_exten: str | None = None, extra_priority: int = 1) -> None:
        headers: dict[str, str | list[str]] = {"Channel": channel, "Context": context, "Exten": exten,
                                               "Priority": str(int(priority))}
        if extra_channel is not None:
            headers.update(ExtraChannel=extra_channel, ExtraContext=extra_context or context,
                           ExtraExten=extra_exten or exten, ExtraPriority=str(int(extra_priority)))
        await self._send_to_moving("Redirect", headers)

    async def _send_to_moving(self, action: str, headers: Mapping[str, str | Sequence[str]],
                              also: tuple[str, ...] = ()) -> None:
        """An action on channels that may be moving: Bridge() in the dialplan pulls a channel in by
        swapping it for a clone of the same name (a masquerade), and for that instant Asterisk
        answers "does not exist" (Redirect, Bridge) or "No such channel" (Hangup, transfers, DTMF).
        Tried again over ~170 ms before the error is believed. Every action on a call's channel goes
        through here: the agent may act the very moment the call connects."""
        for delay in (*_MOVING_RETRY_S, None):
            try:
                await self._send(action, headers)
                return
            except AmiActionFailed as err:
                if delay is None or not any(m in err.message for m in (*_CHANNEL_MISSING, *also)):
                    raise
                log.info("%s: %s; trying again in %.0f ms (a channel being moved?)", action, err.message, delay * 1000)
            await asyncio.sleep(delay)

    async def hangup(self, channel: str, cause: int = 16, *, may_be_gone: bool = False) -> None:
        headers = {"Channel": channel, "Cause": str(int(cause))}
        await (self._send("Hangup", headers) if may_be_gone else self._send_to_moving("Hangup", headers))

    async def bridge(self, channel1: str, channel2: str) -> None:
        await self._send_to_moving("Bridge", {"Channel1": channel1, "Channel2": channel2, "Tone": "no"},
                                   also=_BRIDGE_BUSY)

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None:
        await self._send_to_moving("BlindTransfer", {"Channel": channel, "Context": context, "Exten": exten})

    async def attended_transfer(self, channel: str, exten: str, context: str) -> None:
        await self._send_to_moving("Atxfer", {"Channel": channel, "Exten": exten, "Context": context})

    async def hold(self, channel: str, peer: str | None = None) -> None:
        if peer is None:
            await self.redirect(channel, self.hold_context, self.hold_exten)
        else:
            # Both names go into several actions: refused before the first one, not half-way.
            check_value("Channel", channel)
            check_value("ExtraChannel", peer)
            # If the agent's leg leaves the bridge an instant before the caller's own redirect lands,
            # the caller takes the bridge's after-hangup path (cti-agent-gone), which reads this
            # variable and puts it on hold instead of hanging it up.
            await self.set_var(channel, "CTI_HOLDING", "1")
            # The held party's way back to its partner when no engine is left to take it off hold:
            # cti-hold bridges the two itself once the heartbeat is gone (docs/resilience.md).
            await self.set_var(channel, "CTI_HOLD_PEER", peer)
            # The parked partner ends itself once the held party is gone (cti-park-agent).
            await self.set_var(peer, "CTI_HELD_CALLER", channel)
            await self.set_var(peer, "CTI_PARKING", "1")
            await self.redirect(channel, self.hold_context, self.hold_exten, extra_channel=peer,
                                extra_context=self.park_context, extra_exten=self.park_exten)
            self._held[channel] = peer
            # AMI answers the Redirect before the legs have left their bridge. A Resume's Bridge
            # reaching a leg still on its way out fails, and Asterisk has already pointed that leg
            # back to where it stood before the bridge (the agent's leg to cti-agent-connect's
            # Hangup) instead of the park: so the hold is done once both have landed.
            await asyncio.gather(self._landed(channel, "CTI_HOLDING"), self._landed(peer, "CTI_PARKING"))

    async def _landed(self, channel: str, mark: str) -> None:
        """Until the dialplan ``channel`` was redirected to has cleared its ``mark``; a channel that
        stays missing (hung up), never gets there (after ``LANDING_WAIT_S``) or cannot be asked ends
        the wait (logged): the Redirect was taken, so the hold stands either way."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LANDING_WAIT_S
        polls = iter(_LANDING_POLL_S)
        missing_since: float | None = None
        while True:
            try:
                if not await self.get_var(channel, mark):
                    return
                missing_since = None
            except CtiError as err:  # refused, no answer, or the AMI connection gone
                if not any(m in err.message for m in _CHANNEL_MISSING):
                    log.warning("hold: cannot tell whether %s reached its dialplan: %s", channel, err.message)
                    return  # the Redirect was taken: the hold stands
                # Missing for an instant while Asterisk swaps it for a clone; for longer, hung up.
                missing_since = loop.time() if missing_since is None else missing_since
                if loop.time() - missing_since >= sum(_MOVING_RETRY_S):
                    return
            if loop.time() >= deadline:
                log.warning("hold: %s has not reached its dialplan after %.0f s (%s still set)",
                            channel, LANDING_WAIT_S, mark)
                return
            await asyncio.sleep(next(polls, _LANDING_POLL_S[-1]))

    async def unhold(self, channel: str, peer: str | None = None) -> None:
        peer = peer or self._held.get(channel)
        if peer is None:
            raise AmiActionFailed(f"unhold: no partner known for {channel}; pass peer=")
        await self.bridge(peer, channel)
        self._held.pop(channel, None)

    async def play_dtmf(self, channel: str, digit: str, duration_ms: int = 120) -> None:
        if len(digit) != 1 or digit not in _DTMF:
            raise UnsafeValue("Digit", "must be one of 0-9, *, #, A-D")
        await self._send_to_moving("PlayDTMF", {"Channel": channel, "Digit": digit, "Duration": str(int(duration_ms))})

    async def start_recording(self, channel: str, file: str) -> None:
        await self._send("MixMonitor", {"Channel": channel, "File": file})

    async def stop_recording(self, channel: str) -> None:
        await self._send("StopMixMonitor", {"Channel": channel})

    async def mute_recording(self, channel: str, muted: bool) -> None:
        """Pause (a silent gap in the file) or resume a MixMonitor; the call class allows it."""
        await self._send_to_moving("MixMonitorMute", {"Channel": channel, "Direction": "both",
                                                      "State": "1" if muted else "0"})

    async def spy(self, supervisor_channel: str, target_channel: str, mode: SpyMode = "listen", *,
                  caller_id: str | None = None, channel_id: str | None = None) -> OriginateResult:
        return await self.originate(supervisor_channel, application="ChanSpy", data=_spy_data(target_channel, mode),
                                    caller_id=caller_id, channel_id=channel_id)

    async def set_var(self, channel: str, name: str, value: str) -> None:
        await self._send("Setvar", {"Channel": channel, "Variable": check_header_name(name), "Value": value})

    async def get_var(self, channel: str, name: str) -> str | None:
        """A channel variable, or one of the dialplan functions of cti.safety.VARIABLE_FUNCTIONS."""
        reply = await self._send("Getvar", {"Channel": channel, "Variable": check_variable_name(name)})
        value = reply.response.get("Value")
        return None if value in (None, "(null)") else value

    async def wait_bridged(self, channel: str, peer: str, *, together: bool = True,
                           timeout_s: float = BRIDGE_WAIT_S) -> bool:
        """AMI answers Redirect before the channels have left their bridge, and an Originate once
        the far end answered, before the dialplan's Bridge() has joined it to anyone: the call
        model (its BridgeEnter and BridgeLeave events) says when that happened: the model reports
        each bridge change and the waiter is woken by it; nothing is sent to Asterisk."""
        if self._bridges is None:
            return True
        return await self._bridges.wait(channel, peer, together=together, timeout_s=timeout_s)


@dataclass
class FakeCallControl:
    """In-memory CallControl for other packages' tests: checks values like the real one, records
    every call as (method, arguments) and answers originate with ``originate_result``."""

    originate_result: OriginateResult = field(default_factory=lambda: OriginateResult(True, 4, "fake.1", "fake.1",
                                                                                      "Local/fake-00000001;1"))
    variables: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)  # method names that raise AmiActionFailed
    never_bridged: set[str] = field(default_factory=set)  # channels wait_bridged never sees joined

    def _record(self, method: str, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            if isinstance(value, str):
                check_value(_HEADER_OF.get(key, key), value)
        if method in self.fail:
            raise AmiActionFailed(f"{method}: failed (fake)")
        self.calls.append((method, kwargs))

    def called(self, method: str) -> list[dict[str, Any]]:
        return [kw for m, kw in self.calls if m == method]

    async def originate(self, channel: str, *, context: str | None = None, exten: str | None = None,
                        priority: int = 1, application: str | None = None, data: str | None = None,
                        caller_id: str | None = None, variables: Mapping[str, str] | None = None,
                        timeout_ms: int = 30000, channel_id: str | None = None) -> OriginateResult:
        _originate_headers(channel, context=context, exten=exten, priority=priority, application=application,
                           data=data, caller_id=caller_id, variables=variables, timeout_ms=timeout_ms,
                           channel_id=channel_id or "fake")
        self._record("originate", channel=channel, context=context, exten=exten, priority=priority,
                     application=application, data=data, caller_id=caller_id, variables=dict(variables or {}),
                     timeout_ms=timeout_ms, **({"channel_id": channel_id} if channel_id else {}))
        return self.originate_result

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1, *,
                       extra_channel: str | None = None, extra_context: str | None = None,
                       extra_exten: str | None = None, extra_priority: int = 1) -> None:
        self._record("redirect", channel=channel, context=context, exten=exten, priority=priority,
                     extra_channel=extra_channel, extra_context=extra_context, extra_exten=extra_exten)

    async def hangup(self, channel: str, cause: int = 16, *, may_be_gone: bool = False) -> None:
        self._record("hangup", channel=channel, cause=cause)

    async def bridge(self, channel1: str, channel2: str) -> None:
        self._record("bridge", channel1=channel1, channel2=channel2)

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None:
        self._record("blind_transfer", channel=channel, context=context, exten=exten)

    async def attended_transfer(self, channel: str, exten: str, context: str) -> None:
        self._record("attended_transfer", channel=channel, exten=exten, context=context)

    async def hold(self, channel: str, peer: str | None = None) -> None:
        self._record("hold", channel=channel, peer=peer)

    async def unhold(self, channel: str, peer: str | None = None) -> None:
        self._record("unhold", channel=channel, peer=peer)

    async def play_dtmf(self, channel: str, digit: str, duration_ms: int = 120) -> None:
        if len(digit) != 1 or digit not in _DTMF:
            raise UnsafeValue("Digit", "must be one of 0-9, *, #, A-D")
        self._record("play_dtmf", channel=channel, digit=digit, duration_ms=duration_ms)

    async def start_recording(self, channel: str, file: str) -> None:
        self._record("start_recording", channel=channel, file=file)

    async def stop_recording(self, channel: str) -> None:
        self._record("stop_recording", channel=channel)

    async def mute_recording(self, channel: str, muted: bool) -> None:
        self._record("mute_recording", channel=channel, muted=muted)

    async def spy(self, supervisor_channel: str, target_channel: str, mode: SpyMode = "listen", *,
                  caller_id: str | None = None, channel_id: str | None = None) -> OriginateResult:
        _spy_data(target_channel, mode)
        self._record("spy", supervisor_channel=supervisor_channel, target_channel=target_channel, mode=mode)
        return self.originate_result

    async def set_var(self, channel: str, name: str, value: str) -> None:
        check_header_name(name)
        self._record("set_var", channel=channel, name=name, value=value)
        self.variables[(channel, name)] = value

    async def get_var(self, channel: str, name: str) -> str | None:
        check_variable_name(name)
        self._record("get_var", channel=channel, name=name)
        return self.variables.get((channel, name))

    async def wait_bridged(self, channel: str, peer: str, *, together: bool = True,
                           timeout_s: float = BRIDGE_WAIT_S) -> bool:
        self._record("wait_bridged", channel=channel, peer=peer, together=together)
        return not together or not {channel, peer} & self.never_bridged


_HEADER_OF = {"channel": "Channel", "context": "Context", "exten": "Exten", "application": "Application",
              "data": "Data", "caller_id": "CallerID", "extra_channel": "ExtraChannel", "channel1": "Channel1",
              "channel2": "Channel2", "file": "File", "supervisor_channel": "Channel", "value": "Value",
              "target_channel": "Data", "peer": "ExtraChannel", "name": "Variable"}

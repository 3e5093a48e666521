"""Runs a flow over an ``AgiSession``: carries out the stepper's actions, asks the customer
directory, tells the dialplan where the call goes next (CTI_NEXT, CTI_QUEUE, CTI_MAILBOX,
CTI_TRANSFER_TO) and publishes ``CallArrived`` / ``IvrFinished`` on the bus, and ``CallbackRequested``
when the caller chose to be called back (the CRM puts it on the agents' callback list).

The composition root may add variables to the hand-off to a queue (``handoff_vars``: the ACD's queue
entry, ``CTI_ACD``), so they ride in the IVR's last set instead of costing an AMI action each; the
IVR does not know what they mean. It may also keep the session of a caller handed to a queue
(``hold``): the hand-off's set is then not the last command, ``hold`` is asked before
``IvrFinished`` is out, and the session ends when what it returns is done (the ACD rang the agent
through it, or will not).

A caller who hangs up mid-IVR (``AgiHangup``) ends the session as outcome ``abandoned`` with the
path so far (a callback already chosen stands); nothing more is sent to the dead channel.

Channel variables the flow sets (``SetVar``: the caller's language, ``CHANNEL(language)``) wait for
the next command that plays or says something, and go just before it, as before; with nothing heard
after them they ride in the IVR's last set (one command fewer: the hand-off's MSet sets the language
for the prompts after the IVR). A language the channel already has (``agi_language``: the trunk's or
endpoint's, or one set earlier in the call) is not set again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cti.agi.session import AgiSession
from cti.bus import EventBus
from cti.errors import AgiHangup, CtiError
from cti.journey import CallArrived, CallbackRequested, IvrFinished
from cti.logs import bind
from ivr import flow as f
from ivr import stepper as s
from ivr.directory import CustomerDirectory
from ivr.errors import DirectoryUnavailable

log = logging.getLogger(__name__)
Clock = Callable[[], float]

# An Asterisk uniqueid/linkedid: epoch.sequence, behind "<systemname>-" when asterisk.conf sets one.
_LINKEDID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# CTI_NEXT for the dialplan (extensions.conf, cti-inbound) by the final action; anything else hangs up.
_NEXT_BY_FINAL = {s.Handoff: "queue", s.Voicemail: "voicemail", s.Transfer: "transfer"}


@dataclass(frozen=True)
class IvrOutcome:
    """What the IVR decided, for the composition root to hand to the ACD."""

    linkedid: str
    flow: str
    outcome: str  # queue | voicemail | callback | transfer | hangup | abandoned
    channel: str
    caller_number: str
    path: tuple[dict[str, Any], ...]
    queue: str | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    priority: int = 0
    customer_id: int | None = None
    language: str = "en"
    attributes: Mapping[str, str] = field(default_factory=dict)
    mailbox: str | None = None
    transfer_to: str | None = None
    callback_number: str | None = None
    started_at: float = 0.0


# Asked at a hand-off to a queue for more variables to set with the dialplan's (IvrOutcome -> name: value).
HandoffVars = Callable[[IvrOutcome], Mapping[str, str]]
# Asked right after a hand-off's set, before IvrFinished is published: None, or what the session
# waits for before it ends (the session may be given its last command meanwhile).
HoldSession = Callable[[AgiSession, IvrOutcome], Awaitable[object] | None]


async def run_ivr(session: AgiSession, flow: f.Flow, directory: CustomerDirectory, bus: EventBus,
                  clock: Clock = time.time, *, entry: f.Entry | None = None,
                  fallback_queue: str = "general", handoff_vars: HandoffVars | None = None,
                  hold: HoldSession | None = None) -> IvrOutcome:
    """Run one call through ``flow``; return the outcome (also published as IvrFinished).
    ``handoff_vars``: more variables for the last set of a hand-off to a queue, asked then;
    ``hold``: the session after that set (the module docstring)."""
    env = session.env
    started_at = clock()
    linkedid = await _linkedid(session)
    bind(linkedid)  # log records of this session name the call (cti.logs)
    caller = env.get("callerid", "")
    if caller in ("unknown", "<unknown>"):
        caller = ""
    dnis = env.get("extension", "") or env.get("dnid", "")
    channel = env.get("channel", "")
    await bus.publish(CallArrived(ts=started_at, linkedid=linkedid, channel=channel, caller_number=caller,
                                  caller_name=env.get("calleridname", "") if env.get("calleridname") != "unknown"
                                  else "", dnis=dnis))

    def extra(state: s.IvrState) -> Mapping[str, str]:
        if handoff_vars is None or not isinstance(state.final, s.Handoff):
            return {}
        try:
            return handoff_vars(_outcome(flow, state, linkedid, channel, caller, started_at))
        except Exception:  # the caller still reaches the queue; the ACD writes its entry itself
            log.exception("ivr %s: hand-off variables failed (linkedid %s)", flow.flow, linkedid)
            return {}

    start_vars = {"caller_number": caller, "dnis": dnis, **(entry.vars if entry else {})}
    state = s.start_state(flow)
    event: s.Event = s.Started(vars=start_vars, language=entry.language if entry else None)
    held: Awaitable[object] | None = None
    pending: dict[str, str] = {}  # channel variables set by the flow, not yet sent
    # What the channel holds of them: its language as Asterisk gave it, then what was sent.
    channel_vars = {_LANGUAGE: env["language"]} if env.get("language") else {}
    try:
        while True:
            result = s.step(flow, state, event, clock())
            state = result.state
            reply = await _carry_out(session, directory, result.actions, state, pending, channel_vars)
            if state.phase is s.Phase.FINISHED:
                break
            assert reply is not None
            event = reply
        keep = hold if isinstance(state.final, s.Handoff) else None
        await _tell_dialplan(session, state, extra(state), pending, last=keep is None)
        if keep is not None:
            held = _held(keep, session, _outcome(flow, state, linkedid, channel, caller, started_at))
    except AgiHangup:
        if state.phase is not s.Phase.FINISHED:
            state = s.step(flow, state, s.HungUp(), clock()).state
        elif not isinstance(state.final, s.Callback):
            # Hung up during the final prompt: the decision was made but nobody is left to route. A
            # callback needs nobody on the line: hanging up on "we will call you back" keeps it.
            state = _abandon_after_finish(flow, state, clock())
        log.info("ivr %s: caller hung up at node %s (linkedid %s)", flow.flow, state.node, linkedid)
    except Exception:
        # A fault in the IVR must not drop the caller: hand them to a human with what is known.
        log.exception("ivr %s: failed at node %s (linkedid %s); sending the caller to the operator",
                      flow.flow, state.node, linkedid)
        state = _rescue(flow, state, clock(), fallback_queue)
        try:
            await _tell_dialplan(session, state, extra(state), pending)
        except AgiHangup:
            state = _abandon_after_finish(flow, state, clock())
    outcome = _outcome(flow, state, linkedid, channel, caller, started_at)
    await bus.publish(IvrFinished(
        ts=clock(), linkedid=linkedid, flow=flow.flow, outcome=outcome.outcome, channel=channel,
        caller_number=caller, path=outcome.path, queue=outcome.queue,
        skills=dict(outcome.skills) if outcome.queue else None, priority=outcome.priority,
        customer_id=outcome.customer_id, language=outcome.language,
        attributes=dict(outcome.attributes) or None, transfer_to=outcome.transfer_to, started_at=started_at))
    if outcome.outcome == "callback" and outcome.callback_number is not None:
        # The CRM's callback intake puts it on the agents' list (an anonymous caller's is dropped there).
        await bus.publish(CallbackRequested(ts=clock(), linkedid=linkedid, number=outcome.callback_number,
                                            queue=outcome.queue, customer_id=outcome.customer_id))
    if held is not None:
        try:
            await held
        except Exception:  # the caller goes on to the queue all the same: the session ends
            log.exception("ivr %s: holding the session after the hand-off failed (linkedid %s)", flow.flow, linkedid)
    return outcome


def _held(hold: HoldSession, session: AgiSession, outcome: IvrOutcome) -> Awaitable[object] | None:
    try:
        return hold(session, outcome)
    except Exception:  # the session just ends, as without a hold
        log.exception("ivr: holding the session after the hand-off failed (linkedid %s)", outcome.linkedid)
        return None


def make_ivr_route(flows_by_dnis: Mapping[str, f.Flow], directory: CustomerDirectory, bus: EventBus,
                   clock: Clock = time.time, *, fallback_queue: str = "general",
                   on_outcome: Callable[[IvrOutcome], Awaitable[None]] | None = None,
                   handoff_vars: HandoffVars | None = None,
                   hold: HoldSession | None = None) -> Callable[[AgiSession], Awaitable[None]]:
    """The FastAGI route ``ivr``: picks the flow by the dialled number (``agi_extension``), else by
    ``@context``; a call matching no flow goes straight to ``fallback_queue`` (a human)."""

    async def route(session: AgiSession) -> None:
        env = session.env
        dnis = env.get("extension", "")
        flow = flows_by_dnis.get(dnis) or flows_by_dnis.get(f"@{env.get('context', '')}")
        if flow is None:
            log.error("ivr: no flow for DNIS %r / context %r; sending the call to queue %s", dnis,
                      env.get("context"), fallback_queue)
            await session.set_variables({"CTI_QUEUE": fallback_queue, "CTI_NEXT": "queue"}, last=True)
            return
        entry = next((e for e in flow.entries if e.dnis == dnis), None) or next(
            (e for e in flow.entries if e.context == env.get("context")), None)
        outcome = await run_ivr(session, flow, directory, bus, clock, entry=entry, fallback_queue=fallback_queue,
                                handoff_vars=handoff_vars, hold=hold)
        if on_outcome is not None:
            await on_outcome(outcome)

    return route


# -- carrying out actions ---------------------------------------------------------------------
async def _carry_out(session: AgiSession, directory: CustomerDirectory, actions: tuple[s.Action, ...],
                     state: s.IvrState, pending: dict[str, str], channel_vars: dict[str, str]) -> s.Event | None:
    """Run the actions in order; return the event that answers the one the stepper waits on.
    ``SetVar`` goes into ``pending`` (unless ``channel_vars`` says the channel holds that value),
    sent before the next action that plays or says something."""
    reply: s.Event | None = s.PromptDone() if state.phase is s.Phase.PLAYING else None
    interrupted = False
    for action in actions:
        if isinstance(action, s.SetVar):
            if channel_vars.get(action.name) == action.value:
                pending.pop(action.name, None)  # back to what the channel has: nothing to send
            else:
                pending[action.name] = action.value
            continue
        if isinstance(action, s.Lookup):
            reply = await _lookup(directory, action)
            continue
        if isinstance(action, s.Play) and interrupted:
            continue
        if pending and isinstance(action, _HEARD):  # Asterisk picks the sounds by the channel's language
            channel_vars.update(pending)
            await _send(session, pending)
        if isinstance(action, s.Play):
            for sound in action.sounds:
                key = await _guarded(session.stream_file(sound, "0123456789*#" if action.interruptible else ""),
                                     f"sound {sound}")
                if key:
                    interrupted = True
                    break
        elif isinstance(action, s.SayDigits):
            await _guarded(session.say_digits(action.digits), "say digits")
        elif isinstance(action, s.SayNumber):
            await _guarded(session.say_number(action.number), "say number")
        elif isinstance(action, s.SayDate):
            await _guarded(session.exec("SayUnixTime", str(action.epoch), action.timezone, "ABdY"), "say date")
        elif isinstance(action, s.Collect):
            reply = await _collect(session, action)
    return reply


async def _send(session: AgiSession, pending: dict[str, str]) -> None:
    """The flow's channel variables set so far, in one command; ``pending`` emptied."""
    values = dict(pending)
    pending.clear()
    if len(values) == 1:
        ((name, value),) = values.items()
        await _set(session, name, value)
    else:
        await session.set_variables(values)


_LANGUAGE = "CHANNEL(language)"
# The actions that play or say something to the caller (the final ones only tell the dialplan).
_HEARD = (s.Play, s.SayDigits, s.SayNumber, s.SayDate, s.Collect)
_ALL_KEYS = "0123456789*#"
# Played while reading the rest of the digits after a key cut a multi-sound prompt short.
_QUIET = "silence/1"


async def _collect(session: AgiSession, action: s.Collect) -> s.Digits:
    """Play the prompt, any key cutting it short, then read up to ``max`` digits.

    AGI GET DATA takes one sound file (unlike Read(), it does not split "a&b"), so all but the
    last sound are streamed with every key as an escape digit; a key pressed there is the first
    digit and GET DATA on a short silence reads the rest."""
    *head, last = action.prompt
    for sound in head:
        key = await _guarded(session.stream_file(sound, _ALL_KEYS), f"sound {sound}")
        if key == action.terminator:
            return s.Digits("", False)
        if key:
            if action.max == 1:
                return s.Digits(key, False)
            rest = await session.get_data(_QUIET, action.timeout_ms, action.max - 1)
            return s.Digits(key + rest.digits, rest.timed_out)
    try:
        got = await session.get_data(last, action.timeout_ms, action.max)
    except AgiHangup:
        raise
    except CtiError as err:
        # GET DATA answers -1 for a sound it cannot open: still listen for the keys.
        log.warning("ivr: GET DATA %s failed (%s); listening without the prompt", last, err.message)
        got = await session.get_data(_QUIET, action.timeout_ms, action.max)
    return s.Digits(got.digits, got.timed_out)


# The caller hears silence while the CRM answers: past this, carry on as "not identified".
LOOKUP_TIMEOUT_S = 3.0


async def _lookup(directory: CustomerDirectory, action: s.Lookup) -> s.LookupResult:
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT_S):
            if action.kind == "caller_id":
                found = await directory.lookup_by_number(action.value)
            else:
                found = await directory.verify_account(action.value, action.pin)
        return s.LookupResult(found, crm="cached" if found is not None and found.cached else "")
    except TimeoutError:
        log.warning("ivr: customer %s lookup took over %.0f s; caller not identified", action.kind,
                    LOOKUP_TIMEOUT_S)
    except DirectoryUnavailable as err:
        log.warning("ivr: customer %s lookup: %s; caller not identified", action.kind, err.message)
    except Exception as err:  # the CRM adapter's own errors: the call goes on unidentified
        log.warning("ivr: customer %s lookup failed: %s: %s", action.kind, type(err).__name__, err)
    return s.LookupResult(None, crm="unavailable")


async def _guarded(call: Awaitable[Any], what: str) -> Any:
    """A prompt that fails on a live channel (missing file) must not end the call."""
    try:
        return await call
    except AgiHangup:
        raise
    except CtiError as err:
        log.warning("ivr: %s failed: %s", what, err.message)
        return ""


async def _set(session: AgiSession, name: str, value: str) -> None:
    if "(" in name:
        # Dialplan functions such as CHANNEL(language): AgiSession.set_variable only takes plain
        # variable names, SET VARIABLE itself accepts a function.
        await session.command("SET VARIABLE", name, value)
    else:
        await session.set_variable(name, value)


async def _linkedid(session: AgiSession) -> str:
    """The call's Linkedid (shared by every channel of the call); the channel's uniqueid if unknown.

    The dialplan passes it as the AGI's first argument (``AGI(.../ivr,${CHANNEL(linkedid)})``,
    extensions.conf cti-inbound), which saves a round trip per call; without it (an older dialplan)
    it is asked for."""
    given = session.env.get("arg_1", "")
    if _LINKEDID.fullmatch(given):
        return given
    try:
        reply = await session.command("GET VARIABLE", "CHANNEL(linkedid)")
        if reply.result == "1" and reply.data:
            return reply.data
    except AgiHangup:
        raise
    except CtiError as err:
        log.warning("ivr: cannot read CHANNEL(linkedid): %s", err.message)
    return session.env.get("uniqueid", "")


async def _tell_dialplan(session: AgiSession, state: s.IvrState, extra: Mapping[str, str],
                         pending: Mapping[str, str], *, last: bool = True) -> None:
    """The IVR's last set: the flow's channel variables not sent yet (``pending``: the caller's
    language, for the prompts after the IVR), then where the call goes, ``CTI_NEXT`` last."""
    final = state.final
    values: dict[str, str] = dict(pending)
    if isinstance(final, s.Handoff):
        values |= {"CTI_QUEUE": final.queue, "CTI_PRIORITY": str(final.priority), **extra}
    elif isinstance(final, s.Voicemail):
        values["CTI_MAILBOX"] = final.mailbox
    elif isinstance(final, s.Transfer):
        values["CTI_TRANSFER_TO"] = final.number
    values["CTI_NEXT"] = _NEXT_BY_FINAL.get(type(final), "hangup")
    # The IVR's last word: FastAGI sends it and closes, without waiting for the reply (the
    # dialplan goes on as soon as Asterisk reads the end of the connection), unless the session
    # is held for a last command after it (``hold``).
    await session.set_variables(values, last=last)


def _rescue(flow: f.Flow, state: s.IvrState, now: float, fallback_queue: str) -> s.IvrState:
    op = flow.nodes.get(flow.operator or "")
    queue = op.queue if isinstance(op, f.Queue) else fallback_queue
    final = s.Handoff(queue, {}, flow.priorities.get(state.vars.get("tier", ""), 0), dict(state.attributes),
                      state.language)
    path = (*state.path, {"node": state.node, "label": flow.label_of(state.node), "at": now, "input": None,
                          "choice": "error"})
    return replace(state, phase=s.Phase.FINISHED, final=final, outcome="queue", path=path)


def _abandon_after_finish(flow: f.Flow, state: s.IvrState, now: float) -> s.IvrState:
    path = (*state.path, {"node": state.node, "label": flow.label_of(state.node), "at": now, "input": None,
                          "choice": "hangup"})
    return replace(state, path=path, outcome="abandoned")


def _outcome(flow: f.Flow, state: s.IvrState, linkedid: str, channel: str, caller: str,
             started_at: float) -> IvrOutcome:
    final = state.final
    ident = state.identity
    common: dict[str, Any] = {
        "linkedid": linkedid, "flow": flow.flow, "outcome": state.outcome or "hangup", "channel": channel,
        "caller_number": caller, "path": state.path, "customer_id": ident.customer_id if ident else None,
        "language": state.language, "attributes": dict(state.attributes), "started_at": started_at,
    }
    if state.outcome == "abandoned":
        return IvrOutcome(**common)
    if isinstance(final, s.Handoff):
        return IvrOutcome(**{**common, "attributes": dict(final.attributes)}, queue=final.queue,
                          skills=dict(final.skills), priority=final.priority)
    if isinstance(final, s.Voicemail):
        return IvrOutcome(**common, mailbox=final.mailbox)
    if isinstance(final, s.Transfer):
        return IvrOutcome(**common, transfer_to=final.number)
    if isinstance(final, s.Callback):
        attrs = {**common.pop("attributes"), "callback_number": final.number}
        return IvrOutcome(**common, attributes=attrs, queue=final.queue, callback_number=final.number)
    return IvrOutcome(**common)

"""An engine killed with SIGKILL and started again on the same Asterisk and database strands no
caller: the waiting callers are routed in their original order, the connected call stays with its
agent (on call, offered nothing else) and wraps up into exactly one interaction, the caller whose
IVR the crash cut off waits in the lost-IVR queue (config/queues.yaml ``ivr_lost_queue``) and is
queued again with the others, no agent leg becomes an interaction of its own, and no channel is
left at the end. And with no
engine at all, a waiting caller reaches voicemail once the heartbeat is older than the timeout, and
the message it leaves is in the CRM when the next engine starts."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from acd.events import AgentOffer
from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid
from crm_core.models import Interaction
from cti.journey import CallEnded, QueueEntered
from cti.logs import ContextFilter
from cti.pbx import ManagedPbx
from tests.asterisk.recovery import crashing_engine
from tests.asterisk.recovery.restarts import Restarts
from tests.helpers import channels, english_customer_number, place_call, until


class _ContextOf(logging.Handler):
    """Each record's message with the call the record carries, as the engine's log handlers see it:
    their ContextFilter (cti.logs) copies the logging context's call onto a record that does not
    name its own (``extra``). The context variable alone would miss a record that names another
    call, or none, and one the filter left without a call."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(ContextFilter())  # as cti.logs.configure_logging puts on each of the engine's handlers
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), getattr(record, "call_id", None)))


def _live_names(eng: Engine) -> list[str]:
    return [ch.name for c in eng.ami.model.calls() for ch in c.live]


async def test_killed_engine_is_replaced_and_takes_every_call_back(pbx: ManagedPbx, restarts: Restarts,
                                                                    tmp_path: Path) -> None:
    began = time.time()
    proc, before = await crashing_engine.start(restarts.settings, tmp_path)
    try:
        assert before["offers"] == [before["connected"]]  # the waiting callers were never offered
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: nothing hung up, nothing flushed
        await proc.wait()
    # Callers wait on music; the IVR caller's AGI died with the engine, and the dialplan queues it
    # (cti-ivr-lost, then cti-queue) while no engine runs: nobody is left in the IVR (the connected
    # caller's leg stays in cti-inbound, in the Dial() of its agent's phone).
    await until(lambda: not [c for c in channels(pbx) if c.context == "cti-ivr-lost"
                             or (c.context == "cti-inbound" and c.application != "Dial")],
                what="the IVR caller queued by the dialplan")
    restarting = time.time()

    seen = restarts.seen
    eng = restarts.engine()
    transitions, acd_log = _ContextOf(), logging.getLogger("acd.transitions")
    level = acd_log.level
    acd_log.addHandler(transitions)
    acd_log.setLevel(logging.INFO)
    try:
        await eng.start()
    finally:
        acd_log.removeHandler(transitions)
        acd_log.setLevel(level)
    # The re-attached call's agent transitions name the call, as every record about a call does
    # (docs/observability.md); they named none.
    attached = [(msg, call) for msg, call in transitions.seen if "-> on_call" in msg]
    assert attached and all(call == before["connected"] for _, call in attached), transitions.seen
    # start() returns once the recovery ran: its report is there, and the picture it rebuilt is
    # Asterisk's, every live call in it once (how fast is the chaos bench's, not a test's).
    report = eng.recovery_report
    assert report is not None
    live = {c.linkedid for c in eng.ami.model.calls() if c.live}
    assert live == {*report.waiting, *report.attached}, (live, report)
    assert len(report.waiting) == len(set(report.waiting)) and not set(report.waiting) & set(report.attached)
    assert (report.unattached, report.pulled_back, report.closed) == ({}, [], []), report
    # 1001 ready again, as before the crash (its re-attached call makes it on call: below); no agent
    # leg was hung up, none was left without its agent.
    assert (report.agents, report.hung_up) == ({"1001": "available"}, []), report
    # The engine's picture matches Asterisk's.
    # The IVR caller was not hung up when its AGI died with the engine: it waits last, in general,
    # entered when it lost the IVR.
    assert report.waiting == [*before["waiting"], before["ivr"]]
    assert report.attached == {before["connected"]: "1001"}
    assert before["ivr"] not in report.closed and report.lost_ivr == [before["ivr"]]
    # Its entry is the one the dialplan made when the IVR was lost, after the callers queued
    # before the crash and before this engine started; not one this engine made.
    lost = eng.acd.calls[before["ivr"]]
    queued_before = max(eng.acd.calls[lid].queued_at for lid in before["waiting"])
    assert lost.queue == "general" and queued_before < lost.queued_at < restarting, (
        queued_before, lost.queued_at, restarting)
    agent = eng.router.agent("1001")
    assert agent.state.value == "on_call" and agent.calls == (before["connected"],)
    assert [c.call_id for c in eng.router.calls() if c.state.value == "waiting"] == report.waiting
    assert eng.summary()["waiting"] == 4 and eng.summary()["talking"] == 1

    # Agents who log in now take the waiting callers in their original order; 1001 gets nothing
    # until its restored call ends and it has wrapped up, and then the next caller in line.
    def offers(agent_id: str) -> list[str]:
        return [e.linkedid for e in seen if isinstance(e, AgentOffer) and e.agent_id == agent_id]

    for n, agent_id in enumerate(("1002", "1008")):
        await eng.desk.login_queues(agent_id, ["support", "general"])
        await eng.desk.set_ready(agent_id)
        await until(functools.partial(offers, agent_id), what=f"an offer to {agent_id}")
        assert offers(agent_id) == [before["waiting"][n]], (agent_id, offers(agent_id))
    await until(lambda: all(eng.router.agent(a).state.value == "on_call" for a in ("1002", "1008")))
    assert offers("1001") == []
    # Nobody entered a queue twice: the one entry logged now is the lost IVR caller's, which the
    # dialplan made while no engine ran.
    assert [(e.linkedid, e.queue) for e in seen if isinstance(e, QueueEntered)] == [(before["ivr"], "general")]

    # The restored call ends as usual: wrap-up, then the agent is free for the last caller.
    await eng.desk.hangup("1001", before["connected"])
    await until(lambda: eng.router.agent("1001").state.value == "wrap_up")
    assert offers("1001") == []
    await eng.desk.wrap_up("1001", before["connected"], WrapUpInput(disposition="resolved", notes="after restart"))
    await until(lambda: offers("1001"), what="the last caller offered to 1001")
    assert offers("1001") == [before["waiting"][2]]
    await until(lambda: eng.router.agent("1001").state.value == "on_call")
    for agent_id, lid in zip(("1002", "1008", "1001"), before["waiting"], strict=True):
        await eng.desk.hangup(agent_id, lid)
    await eng.ami.control.hangup(lost.caller_channel)  # the last caller gives up waiting
    await until(lambda: not _live_names(eng), what="every channel hung up")
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        row = await interaction_by_linkedid(session=s, linkedid=before["connected"])
        assert row is not None and row.agent_id == "1001" and row.outcome == "answered"
        assert row.disposition == "resolved" and row.ended_at is not None
        ivr = await interaction_by_linkedid(session=s, linkedid=before["ivr"])
        assert ivr is not None and ivr.ended_at is not None
        ours = {before["connected"], before["ivr"], *before["waiting"]}
        rows = (await s.scalars(select(Interaction).where(
            Interaction.started_at >= datetime.fromtimestamp(began - 1, UTC)))).all()
        recent = {r.linkedid: (r.direction, r.agent_id, r.outcome, r.caller_number) for r in rows
                  if not r.linkedid.startswith("demo-")}  # the seeded history
    assert set(recent) == ours, recent  # no phantom interaction from an agent leg
    assert "0 active channels" in pbx.cli("core show channels count")


async def test_waiting_caller_reaches_voicemail_when_no_engine_runs(pbx: ManagedPbx, restarts: Restarts) -> None:
    """No agent logged in, so no app_queue fallback member: once the heartbeat is older than the
    timeout, the waiting caller goes to voicemail, leaves a message and hangs up while no engine
    runs; the next engine records the message and the real end."""
    await restarts.seed(away=True)
    seen = restarts.seen
    first = await restarts.start()
    number = await english_customer_number(first)
    lid = (await place_call(first, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)).linkedid
    [caller_half] = [c for c in _channels_in(pbx, "cti-sim-caller") if c.startswith("Local/5002@cti-inbound-")]
    waiting_half = caller_half[:-1] + "2"  # the half that runs cti-queue's heartbeat checks
    # The dialplan checks the heartbeat every second (CTI_HB_LAST: the beat it last saw). While the
    # engine beats, it keeps the caller on music past the 3 s timeout: it has seen beats more than
    # the timeout apart, and the caller is still waiting.
    beats: list[int] = []

    async def beat_seen() -> None:
        value = await first.ami.control.get_var(waiting_half, "CTI_HB_LAST")
        if value and (not beats or int(value) != beats[-1]):
            beats.append(int(value))

    await until(lambda: waiting_half in _channels_in(pbx, "cti-queue"), what="the caller on cti-queue's music")
    deadline = time.monotonic() + 20
    while not beats or beats[-1] - beats[0] <= 3:
        assert time.monotonic() < deadline, f"no beats more than 3 s apart seen by the dialplan: {beats}"
        await beat_seen()
        assert not [c for c in channels(pbx) if c.context in ("cti-engine-down", "cti-voicemail")], (
            "the caller went to the fallback while the engine ran")
        await asyncio.sleep(0.2)
    await first.stop()
    await until(lambda: _channels_in(pbx, "cti-voicemail"), timeout_s=15, what="the caller in voicemail")
    # It got there through the heartbeat check (cti-engine-down), on a beat no newer than the
    # engine's last: the engine stopping did not send it; the beats stopping did.
    shown = _variables(pbx, waiting_half)
    assert shown.get("CTI_FALLBACK") == "engine_down", shown
    assert int(shown["CTI_HB_LAST"]) >= beats[-1], (shown, beats)
    pbx.cli(f"channel redirect {caller_half} cti-sim-caller-tone,s,1")  # the caller speaks after the beep
    # cti-voicemail says what to do first (cti/leave_message), then VoiceMail beeps and records.
    await until(lambda: any(c.application == "VoiceMail" for c in channels(pbx)), 15, "the caller in VoiceMail")
    await asyncio.sleep(3.0)
    hanging_up = time.time()
    pbx.cli(f"channel request hangup {caller_half}")
    await until(lambda: "0 active channels" in pbx.cli("core show channels count"), what="the caller gone")
    restarting = time.time()

    second = await restarts.start()
    report = second.recovery_report
    assert report is not None and lid in report.closed, report
    # The end is the one the dialplan recorded when the caller hung up, not this engine's start.
    assert hanging_up < report.ended_at[lid] < restarting, (hanging_up, report.ended_at, restarting)
    await second.bus.drain()  # type: ignore[attr-defined]
    await second.logger.flush()
    async with second.db.session() as s:
        row = await interaction_by_linkedid(session=s, linkedid=lid)
    assert row is not None and (row.outcome, row.voicemail_mailbox) == ("voicemail", "8000@cti"), row
    # The recovery's call.ended names whom the call was with, as the live path's does (the IVR
    # recognised the caller's number): it carried no customer. No agent ever took it.
    [ended] = [e for e in seen if isinstance(e, CallEnded) and e.linkedid == lid]
    assert row.customer_id is not None and row.customer_id == await _customer_of(second, number)
    assert (ended.customer_id, ended.agent_id) == (row.customer_id, None), ended


def _channels_in(pbx: ManagedPbx, context: str) -> list[str]:
    return [c.name for c in channels(pbx) if c.context == context]


def _variables(pbx: ManagedPbx, channel: str) -> dict[str, str]:
    """A channel's variables as Asterisk shows them (``core show channel``: NAME=value lines)."""
    out: dict[str, str] = {}
    for line in pbx.cli(f"core show channel {channel}").splitlines():
        name, eq, value = line.strip().partition("=")
        if eq and name.isidentifier():
            out[name] = value
    return out


async def _customer_of(engine: Engine, number: str) -> int:
    from sqlalchemy import select

    from crm_core.models import CustomerPhone

    async with engine.db.session() as s:
        found = await s.scalar(select(CustomerPhone.customer_id).where(CustomerPhone.e164 == number))
    assert found is not None, number
    return found

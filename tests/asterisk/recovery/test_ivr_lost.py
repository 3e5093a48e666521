"""A caller whose IVR was lost is not hung up: it waits on the music of the queue named
``ivr_lost_queue`` (config/queues.yaml: general) and reaches an agent, on a real Asterisk.

- With the engine running but its FastAGI port away (the moments of a start, before the IVR
  server listens): the call lands in ``cti-ivr-lost``, the dialplan's UserEvent reaches the ACD,
  which enqueues the caller, and an agent answers it.
- With no engine at all (between a stop and the next start): the caller waits in ``cti-queue``
  with its queue entry, and the next engine's recovery queues it again and routes it.
- With no engine for longer than the timeout: the caller goes on to the queue's app_queue
  fallback, whose member answers; the next engine attaches the call and logs it whole.
Before, both callers were hung up as soon as ``AGI()`` failed."""

from __future__ import annotations

import asyncio

from acd.recovery import ENTRY_VAR, LOST_VAR, decode_entry
from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid
from crm_core.models import Interaction
from cti.journey import CallConnected, QueueEntered
from cti.pbx import ManagedPbx
from tests.asterisk.recovery.restarts import Restarts
from tests.helpers import channels, until

CALLER = "+8613900000042"  # no customer: nobody is identified without the IVR


def _context_of(pbx: ManagedPbx, prefix: str) -> str | None:
    return next((c.context for c in channels(pbx) if c.name.startswith(prefix) and c.name.endswith(";2")), None)


async def _hung_up_and_logged(eng: Engine, lid: str) -> Interaction | None:
    """Agent 1007 hangs up; the call's interaction as the call log wrote it."""
    await eng.desk.hangup("1007", lid)
    await until(lambda: eng.router.agent("1007").state.value == "wrap_up", what="1007 wrapping up")
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        return await interaction_by_linkedid(session=s, linkedid=lid)


async def test_a_caller_the_ivr_never_answered_waits_in_the_lost_queue_and_is_served(restarts: Restarts) -> None:
    await restarts.seed()
    seen = restarts.seen
    eng = await restarts.start()
    await eng.agi.stop()  # the IVR's port is away: AGI() fails at once, as for a starting engine
    await eng.desk.login_queues("1007", ["general"])
    await eng.desk.set_ready("1007")
    placed = await eng.ami.control.originate("Local/5002@cti-inbound/n", context="cti-sim-caller", exten="s",
                                             caller_id=f"<{CALLER}>", timeout_ms=10000)
    assert placed.success, placed
    lid = placed.linkedid
    assert lid is not None
    entered = await until(lambda: [e for e in seen if isinstance(e, QueueEntered) and e.linkedid == lid],
                          what="the caller queued from the dialplan's UserEvent")
    assert [(e.queue, e.customer_id) for e in entered] == [("general", None)]
    await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == lid for e in seen),
                what="agent 1007 talking to the caller")
    call = eng.acd.calls[lid]
    assert (call.agent_id, call.caller_number) == ("1007", CALLER)
    entry = decode_entry(await eng.ami.control.get_var(call.caller_channel, ENTRY_VAR))
    assert entry is not None and (entry.linkedid, entry.queue) == (lid, "general")
    # Logged by this engine: the mark that would have a later engine log it again is gone.
    for _ in range(50):
        if not await eng.ami.control.get_var(call.caller_channel, LOST_VAR):
            break
        await asyncio.sleep(0.1)
    assert not await eng.ami.control.get_var(call.caller_channel, LOST_VAR)
    row = await _hung_up_and_logged(eng, lid)
    # One interaction, like any call: answered by 1007 in general, from the caller's number.
    assert row is not None and (row.agent_id, row.queue, row.outcome, row.caller_number, row.dialled_number) == (
        "1007", "general", "answered", CALLER, "5002"), row


async def test_a_caller_arriving_while_no_engine_runs_waits_for_the_next_one(
        pbx: ManagedPbx, restarts: Restarts) -> None:
    await restarts.seed()
    first = await restarts.start()  # its heartbeat names the lost queue to the dialplan
    await first.stop()
    seen = restarts.seen
    second = restarts.engine()
    pbx.cli("channel originate Local/5002@cti-inbound/n extension s@cti-sim-caller")
    await until(lambda: _context_of(pbx, "Local/5002@cti-inbound-") == "cti-queue", timeout_s=10,
                what="the caller waiting in cti-queue with no engine")
    await asyncio.sleep(1.0)  # no FastAGI, no ACD: it stays on the music
    assert _context_of(pbx, "Local/5002@cti-inbound-") == "cti-queue"
    await second.start()
    report = second.recovery_report
    assert report is not None and len(report.waiting) == 1, report
    [lid] = report.waiting
    assert report.lost_ivr == [lid]
    assert second.acd.calls[lid].queue == "general"
    assert not await second.ami.control.get_var(second.acd.calls[lid].caller_channel, LOST_VAR)  # logged once
    await second.desk.login_queues("1007", ["general"])
    await second.desk.set_ready("1007")
    await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == lid for e in seen),
                what="the next engine's agent talking to the caller")
    row = await _hung_up_and_logged(second, lid)
    # Logged as if an engine had seen it arrive: the number dialled, its wait from its entry.
    assert row is not None and (row.agent_id, row.queue, row.outcome, row.dialled_number) == (
        "1007", "general", "answered", "5002"), row
    assert row.wait_s is not None and row.wait_s >= 1.0, row.wait_s


async def test_a_lost_caller_app_queue_connected_is_logged_when_an_engine_returns(
        pbx: ManagedPbx, restarts: Restarts) -> None:
    """No engine for longer than the timeout: the caller who found no IVR goes on from the lost
    queue's music to its app_queue fallback, where agent 1007's phone answers it. The next engine
    attaches the call to 1007 and logs what no engine saw: the arrival (the number dialled), the
    queue entry and the answer."""
    await restarts.seed(away=True)
    first = await restarts.start(web=True)  # web: the supervisor service records 1007's state
    await first.desk.login_queues("1007", ["general"])
    await first.desk.set_ready("1007")
    await until(lambda: "1007" in pbx.cli("queue show cti-fallback-general"), what="1007 a fallback member")
    await first.stop()
    second = restarts.engine()
    pbx.cli("channel originate Local/5002@cti-inbound/n extension s@cti-sim-caller")
    await until(lambda: _context_of(pbx, "Local/5002@cti-inbound-") == "cti-engine-down", timeout_s=15,
                what="the caller handed to app_queue")
    await until(lambda: any(c.name.startswith("Local/1007@cti-sim-phone-") and c.state == "Up"
                            for c in channels(pbx)), timeout_s=15, what="1007's phone answering through app_queue")
    await asyncio.sleep(0.5)
    await second.start()
    report = second.recovery_report
    assert report is not None and list(report.attached.values()) == ["1007"], report
    [lid] = report.attached
    assert report.lost_ivr == [lid]
    row = await _hung_up_and_logged(second, lid)
    assert row is not None and (row.agent_id, row.queue, row.outcome, row.dialled_number) == (
        "1007", "general", "answered", "5002"), row
    assert row.answered_at is not None and row.started_at is not None and row.started_at < row.answered_at

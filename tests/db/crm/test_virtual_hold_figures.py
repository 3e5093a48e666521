"""Virtual hold in the reports and in the live queue statistics (docs/kpis.md, virtual hold): the
reports count a caller who pressed the key as offered and not answered (``callback_requested``), not
an abandon, and the callback call that reaches the agent as handled but never offered; a web request
is no call that entered a queue. The router's live figures (``acd.stats``: the Prometheus queue
figures) counted the callback's answer as the queue's answer, with the whole wait since the first
entry, and a web request as an offered call: the two disagreed on offered, answered, the service level
and ASA. The same calls through the call log (SQLite and PostgreSQL) and the router give the same
figures now."""

from __future__ import annotations

from pathlib import Path

from acd.decisions import Offer
from acd.kpis import interval_report
from acd.model import QueueConfig
from acd.routing import Router
from acd.virtual_hold import CALLBACK_DNIS
from agent_console.supervisor.records import load_records
from crm_core.calllog import CallLogger
from crm_core.db import Database
from cti.events import Event
from cti.journey import (
    AgentRinging,
    CallArrived,
    CallConnected,
    CallEnded,
    QueueEntered,
    QueueLeft,
    WrapUpDone,
)

T0 = 1_800_000_000.0  # a fixed instant: the report's period is around it
Q, AGENT = "support", "1003"
WEB = "web-0123456789abcdef"


def _caller(linkedid: str, at: float) -> list[Event]:
    return [CallArrived(ts=T0 + at, linkedid=linkedid, channel=f"PJSIP/trunk-{linkedid}", caller_number="13800138000"),
            QueueEntered(ts=T0 + at, linkedid=linkedid, queue=Q)]


def _answered(linkedid: str, rang: float, answered: float, ended: float) -> list[Event]:
    return [AgentRinging(ts=T0 + rang, linkedid=linkedid, agent_id=AGENT, queue=Q),
            CallConnected(ts=T0 + answered, linkedid=linkedid, agent_id=AGENT, queue=Q),
            CallEnded(ts=T0 + ended, linkedid=linkedid),
            WrapUpDone(ts=T0 + ended + 1, linkedid=linkedid, agent_id=AGENT, disposition="info_given", queue=Q)]


def _callback_call(entry: str, at: float, answered: float, ended: float) -> list[Event]:
    """The callback's own call (acd.virtual_hold_pbx): answered by the customer at ``at``, by the agent later."""
    linkedid = f"{entry}.cb"
    return [CallArrived(ts=T0 + at, linkedid=linkedid, channel=f"Local/{linkedid}", caller_number="+8613800138000",
                        dnis=CALLBACK_DNIS, callback_id=entry),
            *_answered(linkedid, at, answered, ended)]


def _pressed(linkedid: str, at: float, waited: float) -> list[Event]:
    return [QueueLeft(ts=T0 + at, linkedid=linkedid, queue=Q, reason="virtual_hold", waited_s=waited),
            CallEnded(ts=T0 + at, linkedid=linkedid)]


# A answered within T; P answered after 62 s, its agent's softphone lost at 80, put back, presses the
# key after 8 s more; V and F press the key after 28 s; a web site asks for W. The agent then calls
# P, V and W back (each answered), F's callback fails (no attempts left).
EVENTS: list[Event] = [
    *_caller("A", 0), *_answered("A", 10, 12, 60),
    *_caller("P", 1), AgentRinging(ts=T0 + 61, linkedid="P", agent_id=AGENT, queue=Q),
    CallConnected(ts=T0 + 63, linkedid="P", agent_id=AGENT, queue=Q),
    QueueEntered(ts=T0 + 80, linkedid="P", queue=Q),  # put back: the agent's part ends
    WrapUpDone(ts=T0 + 85, linkedid="P", agent_id=AGENT, disposition="info_given", queue=Q),
    *_pressed("P", 88, 8.0),
    *_caller("V", 2), *_pressed("V", 30, 28.0),
    *_caller("F", 3), *_pressed("F", 31, 28.0),
    *_callback_call("P", 105, 107, 160), *_callback_call("V", 165, 167, 220), *_callback_call(WEB, 255, 257, 300),
]


async def _report(db: Database, tmp_path: Path) -> dict[str, object]:
    logger = CallLogger(db, tmp_path)
    await logger.start()
    for ev in EVENTS:
        await logger.handle(ev)
    await logger.flush()
    await logger.stop()
    records = await load_records(db, T0 - 3600, T0 + 3600)
    [row] = interval_report(records, interval="day", tz="UTC", group_by="queue")
    k = row.kpis
    return {"offered": k.offered, "answered": k.answered, "answered_within_sl": k.answered_within_t,
            "abandoned": k.abandoned_queue, "callbacks_requested": k.callback_requested,
            "service_level": k.service_level, "asa_s": k.asa_s, "abandon_rate": k.abandon_rate, "handled": k.handled}


def _offer(decisions: list[object]) -> Offer:
    return next(d for d in decisions if isinstance(d, Offer))


def _live() -> dict[str, object]:
    """The same calls through the router, step by step as the engine drives it."""
    r = Router([QueueConfig(Q)])
    r.agent_login(AGENT, {}, T0, queues=[Q])  # not ready
    for n, linkedid in enumerate(("A", "P", "V", "F")):
        r.enqueue(linkedid, Q, T0 + n)
    r.enqueue(WEB, Q, T0 + 4, virtual=True)  # POST /api/callback-requests
    assert _offer(r.set_ready(AGENT, T0 + 10)).call_id == "A"
    r.offer_answered("A", AGENT, T0 + 12)
    r.hold_virtually("V", T0 + 30)
    r.hold_virtually("F", T0 + 31)
    r.call_ended("A", T0 + 60)
    assert _offer(r.set_ready(AGENT, T0 + 61)).call_id == "P"
    r.offer_answered("P", AGENT, T0 + 63)
    r.call_ended("P", T0 + 80)  # its agent's softphone lost (acd.reconnect): the caller is put back
    r.restore_waiting("P", Q, T0 + 80, entered_at=T0 + 1, fresh_timers=True)
    r.hold_virtually("P", T0 + 88)  # still in its wrap-up: the agent is offered nothing
    served = []
    decisions = r.tick(T0 + 100)  # its wrap-up ended at 90: the agent was reserved for P then
    for at in (100, 160, 220, 250):
        offer = _offer(decisions)
        served.append(offer.call_id)
        if offer.call_id == "F":  # its last attempt missed: the entry fails, the agent takes the next
            decisions = r.callback_missed("F", AGENT, T0 + at + 1, retry_at=None)
            continue
        r.callback_answered(offer.call_id, AGENT, T0 + at + 5, new_id=f"{offer.call_id}.cb")
        r.offer_answered(f"{offer.call_id}.cb", AGENT, T0 + at + 7)
        r.call_ended(f"{offer.call_id}.cb", T0 + at + 60)
        decisions = r.set_ready(AGENT, T0 + at + 61)
    assert served == ["P", "V", "F", WEB]
    s = r.queue_snapshot(Q, T0 + 400)
    return {"offered": s.offered - s.moved, "answered": s.answered, "answered_within_sl": s.answered_within_sl,
            "abandoned": s.abandoned - s.abandoned_short, "callbacks_requested": s.callbacks_requested,
            "service_level": s.service_level, "asa_s": s.asa_s, "abandon_rate": s.abandon_rate,
            "handled": s.handled}


async def test_virtual_hold_counts_the_same_in_the_reports_and_the_live_figures(db: Database, tmp_path: Path) -> None:
    report = await _report(db, tmp_path)
    # Offered: A, P, V, F (W is no call that entered a queue); answered: A (12 s) and P (62 + 8 s);
    # V and F asked to be called back: offered, not answered, no abandon. Handled: A, P and 3 callbacks.
    assert report == {"offered": 4, "answered": 2, "answered_within_sl": 1, "abandoned": 0, "callbacks_requested": 2,
                      "service_level": 0.25, "asa_s": 41.0, "abandon_rate": 0.0, "handled": 5}
    assert _live() == report

"""The pure parts of the wallboard: interaction -> call record mapping, the agent clock, and the
board computed from router views, live calls and records (no server, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from acd.kpis import Outcome, summarize
from acd.model import AgentState, AgentView
from acd.stats import QueueStats
from agent_console.supervisor.agents import AgentClock
from agent_console.supervisor.board import LiveCallView, compute_board
from agent_console.supervisor.records import record_of

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC).timestamp()


def row(**kw: Any) -> SimpleNamespace:
    base = dict(linkedid="x", direction="inbound", started_at=datetime.fromtimestamp(NOW - 100, UTC),
                answered_at=None, ended_at=None, outcome="answered", queue="support", agent_id="1001", ivr_s=12.0,
                wait_s=8.0, talk_s=60.0, hold_s=0.0, acw_s=5.0, hold_count=0, disposition=None,
                resolved_first_contact=False, case_id=None, dialled_number="4000")
    return SimpleNamespace(**{**base, **kw})


def test_interactions_become_call_records() -> None:
    r = record_of(row(case_id=7, resolved_first_contact=True, hold_count=1))
    assert r is not None and r.offered and r.outcome is Outcome.ANSWERED and r.handled
    assert r.entered_queue_at == pytest.approx(NOW - 100 + 12) and r.at == r.entered_queue_at
    assert r.case_id == "7" and r.resolved and r.held
    ivr = record_of(row(outcome="abandoned_ivr", queue=None, agent_id=None))
    assert ivr is not None and not ivr.offered and ivr.outcome is Outcome.ABANDONED_IVR
    assert record_of(row(outcome="abandoned_ivr")) is not None  # a queue name on an IVR abandon: still not offered
    assert not record_of(row(outcome="abandoned_ivr")).offered  # type: ignore[union-attr]
    assert record_of(row(direction="outbound")) is None
    assert record_of(row(outcome=None)) is None  # still open
    assert record_of(row(outcome="abandoned_queue", queue=None)) is None  # broken row: left out, no crash
    odd = record_of(row(wait_s=float("nan"), talk_s=-3.0, hold_s=None))
    assert odd is not None and odd.wait_s == 0 and odd.talk_s == 0 and odd.hold_s == 0


def test_virtual_hold_callback_leg_is_handled_not_offered_again() -> None:
    """docs/callbacks.md: the callback call that reaches the agent (dnis ``virtual_hold``) carries
    the queue of its agent's answer but never entered a queue; the caller's first call was the
    offered one (``callback_requested``), so the contact counts once among the offered calls."""
    leg = record_of(row(linkedid="cb", dialled_number="virtual_hold", ivr_s=0.0, wait_s=0.0))
    assert leg is not None and not leg.offered and leg.handled and leg.queue == "support"
    first = record_of(row(linkedid="v", outcome="callback_requested", agent_id=None, wait_s=70.0))
    assert first is not None and first.offered
    k = summarize([first, leg])
    assert (k.offered, k.answered, k.handled, k.service_level, k.asa_s) == (1, 0, 1, 0.0, None)


def test_agent_clock_keeps_time_in_state_and_per_bucket_time() -> None:
    clock = AgentClock()
    t0 = 900.0 * 1000  # a bucket boundary
    clock.changed("a", "not_ready", t0)
    clock.changed("a", "available", t0 + 100)
    clock.changed("a", "on_call", t0 + 400)
    clock.changed("a", "on_call", t0 + 500)  # same state again (new reason): time in state goes on
    assert clock.since("a") == t0 + 400
    clock.changed("a", "wrap_up", t0 + 1000)  # crosses into the next 15-minute bucket
    times = {t.at: t for t in clock.times(t0 + 1100)}
    first, second = times[t0], times[t0 + 900]
    assert first.logged_in_s == 900 and first.available_idle_s == 300 and first.handle_s == 500
    assert second.logged_in_s == 200 and second.handle_s == 200  # 100 s on call + 100 s wrap-up (open)
    clock.changed("a", "logged_out", t0 + 1200)
    later = {t.at: t for t in clock.times(t0 + 5000)}
    assert later[t0 + 900].logged_in_s == 300  # nothing counts while logged out
    clock.seed("a", "available", t0)  # seeding never overrides a known state
    assert clock.since("a") == t0 + 1200


def _view(agent_id: str, state: AgentState, queues: tuple[str, ...], calls: tuple[str, ...] = ()) -> AgentView:
    return AgentView(agent_id, state, None, {"support": 3}, 1, queues, True, 0.0, None, (), calls)


def test_board_combines_router_calls_and_records() -> None:
    stats = QueueStats()
    queues = [stats.snapshot("support", waiting=2, ringing=0, connected=1, longest_wait_s=42.0, agents_logged_in=2,
                             agents_available=0, virtual=3),
              stats.snapshot("billing", waiting=0, ringing=0, connected=0, longest_wait_s=0.0, agents_logged_in=0,
                             agents_available=0)]
    agents = [_view("1001", AgentState.ON_CALL, ("support",), ("L1",)), _view("1002", AgentState.NOT_READY,
                                                                              ("support", "billing"))]
    clock = AgentClock()
    clock.changed("1001", "on_call", NOW - 30)
    clock.changed("1002", "not_ready", NOW - 600)
    calls = [LiveCallView("L1", "support", "talking", "1001", "+8613800000000", NOW - 60, NOW - 30),
             LiveCallView("L2", "support", "queued", None, "+8613800000001", NOW - 42, None)]
    records = [r for r in (
        record_of(row(linkedid="recent", started_at=datetime.fromtimestamp(NOW - 600, UTC))),
        record_of(row(linkedid="morning", started_at=datetime.fromtimestamp(NOW - 5 * 3600, UTC), wait_s=50)),
        record_of(row(linkedid="yesterday", started_at=datetime.fromtimestamp(NOW - 20 * 3600, UTC))),
    ) if r is not None]
    board = compute_board(now=NOW, tz="UTC", window_min=60, queues=queues, configs={}, sl_targets={"support": 0.9},
                          agents=agents, names={"1001": "Wang Li", "1002": "Li Bo", "1003": "Chen Jing"},
                          clock=clock, calls=calls, records=records)
    support = board["queues"][0]
    assert (support["waiting"], support["talking"], support["longest_wait_s"]) == (2, 1, 42.0)
    assert support["sl_target"] == 0.9 and support["sl_seconds"] == 20
    assert support["agents"]["on_call"] == 1 and support["agents"]["not_ready"] == 1
    assert support["window"]["offered"] == 1 and support["window"]["service_level"] == 1.0
    assert support["today"]["offered"] == 2 and support["today"]["service_level"] == 0.5  # yesterday left out
    assert board["totals"]["waiting"] == 2 and board["totals"]["talking"] == 1
    # Virtual-hold entries (to call back at their turn) are counted apart from callers on the line.
    assert support["virtual_waiting"] == 3 and board["totals"]["virtual_waiting"] == 3
    by_id = {a["agent_id"]: a for a in board["agents"]}
    assert list(by_id) == ["1001", "1002", "1003"]
    assert by_id["1001"]["call"]["linkedid"] == "L1" and by_id["1001"]["time_in_state_s"] == 30
    assert by_id["1001"]["handled_today"] == 2 and by_id["1001"]["name"] == "Wang Li"
    assert by_id["1002"]["call"] is None and by_id["1002"]["time_in_state_s"] == 600
    assert by_id["1003"]["state"] == "logged_out" and by_id["1003"]["since"] is None


def test_an_agent_whose_phone_is_offline_is_counted_apart_not_available() -> None:
    """A closed console (softphone unregistered): the ACD offers the agent nothing, so the board
    does not count them available -- in the queue's and the totals' counts alike -- but apart, as
    phone offline; their state stays the ACD's (available), flagged ``phone_offline``."""
    from acd.model import QueueConfig
    from acd.routing import Router

    r = Router([QueueConfig(name="support")])
    for agent_id in ("1001", "1002"):
        r.agent_login(agent_id, {"support": 3}, NOW - 60, queues=["support"], ready=True)
    r.set_device_registered("1002", False, NOW - 30)
    board = compute_board(now=NOW, tz="UTC", window_min=60, queues=r.queue_snapshots(NOW), configs={},
                          sl_targets={}, agents=r.agents(), names={}, clock=AgentClock(), calls=[], records=[])
    [support] = board["queues"]
    assert (support["logged_in"], support["available"]) == (2, 1)
    for counts in (support["agents"], board["totals"]["agents"]):
        assert (counts["available"], counts["phone_offline"]) == (1, 1)
    by_id = {a["agent_id"]: a for a in board["agents"]}
    assert [(a["state"], a["phone_offline"]) for a in by_id.values()] == [("available", False), ("available", True)]
    r.set_device_registered("1002", True, NOW - 10)  # the console is open again
    board = compute_board(now=NOW, tz="UTC", window_min=60, queues=r.queue_snapshots(NOW), configs={},
                          sl_targets={}, agents=r.agents(), names={}, clock=AgentClock(), calls=[], records=[])
    assert board["queues"][0]["available"] == 2 and board["totals"]["agents"]["phone_offline"] == 0


def test_agent_clock_history_replayed_after_seeding_counts_from_the_history() -> None:
    """The supervisor seeds the clock with the router's agents at start-up, then replays the
    recorded history (older): the history's times win, phone reachability included."""
    t0 = 900.0 * 1000
    clock = AgentClock()
    clock.seed("a", "available", t0 + 800, phone_reachable=True)
    clock.changed("a", "available", t0, True)  # the history: ready since t0 ...
    clock.phone("a", False, t0 + 100)  # ... the phone unreachable from t0 + 100 ...
    clock.phone("a", True, t0 + 400)  # ... and back
    [t] = clock.times(t0 + 900)
    assert (t.logged_in_s, t.available_idle_s) == (900, 600)
    assert clock.since("a") == t0

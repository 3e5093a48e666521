"""An agent's own outbound call is handling time (docs/kpis.md, *Agent time*): the agent is not ready
``outbound`` while it is up (acd.dial_readiness) and in wrap-up after it, and occupancy and
utilization count both as handling. They counted the wrap-up only: the call's talk was not ready time,
so an agent on outbound calls all day showed an occupancy near 0. Other not-ready reasons (a break,
a missed offer) stay out of both. Figures hand-computed below."""

from __future__ import annotations

import pytest

from acd.stats import QueueStats
from agent_console.supervisor.agents import AgentClock
from agent_console.supervisor.board import compute_board

B = 900.0 * 2_000_000  # a 15-minute boundary (on the epoch, as the clock's blocks)


def outbound_day() -> AgentClock:
    """Agent a: ready B..B+600, on their own call B+600..B+1500 (not ready outbound), wrap-up until
    B+1560, ready until B+1800, on a break until B+2100, logged out. Agent b: on a break B..B+300, dials
    (the reason goes to outbound) B+300..B+600, ready until B+900, logged out."""
    clock = AgentClock()
    for agent, state, reason, at in (("a", "available", None, 0), ("a", "not_ready", "outbound", 600),
                                     ("a", "wrap_up", None, 1500), ("a", "available", None, 1560),
                                     ("a", "not_ready", "break", 1800), ("a", "logged_out", None, 2100),
                                     ("b", "not_ready", "break", 0), ("b", "not_ready", "outbound", 300),
                                     ("b", "available", None, 600), ("b", "logged_out", None, 900)):
        clock.changed(agent, state, B + at, reason=reason)
    return clock


def totals(times: list, agent: str) -> tuple[float, float, float]:  # type: ignore[type-arg]
    mine = [t for t in times if t.agent == agent]
    return (sum(t.logged_in_s for t in mine), sum(t.available_idle_s for t in mine), sum(t.handle_s for t in mine))


def test_the_own_outbound_call_counts_as_handling_in_every_15_minutes() -> None:
    clock = outbound_day()
    times = clock.times(B + 3600, since=B)
    # a: handling 900 (outbound) + 60 (wrap-up); idle 600 + 240; the break is only logged-in time.
    assert totals(times, "a") == (2100, 840, 960)
    # b: the break's 300 s are not handling, the outbound reason's 300 s are (a reason change, same state).
    assert totals(times, "b") == (900, 300, 300)
    # Per 15-minute bucket: a's second quarter (B+900..B+1800) is 600 s outbound, 60 s wrap-up, 240 s idle.
    second = next(t for t in times if t.agent == "a" and t.at == B + 900)
    assert (second.handle_s, second.available_idle_s) == (660, 240)


def test_the_open_outbound_call_counts_up_to_now_and_in_the_exact_window() -> None:
    clock = AgentClock()
    clock.changed("a", "available", B)
    clock.changed("a", "not_ready", B + 300, reason="outbound")
    assert totals(clock.times(B + 900, since=B), "a") == (900, 300, 600)  # still on the call at B+900
    assert totals(clock.window(B + 900, since=B + 600), "a") == (300, 0, 300)


def test_the_phone_going_offline_on_an_outbound_call_keeps_it_handling() -> None:
    """A reachability change is a row of the unchanged state: the reason stays outbound."""
    clock = AgentClock()
    clock.changed("a", "not_ready", B, reason="outbound")
    clock.phone("a", False, B + 100)
    clock.phone("a", True, B + 200)
    clock.changed("a", "logged_out", B + 300)
    assert totals(clock.times(B + 900, since=B), "a") == (300, 0, 300)


@pytest.mark.parametrize("reason", ["break", "lunch", "missed", "login", None])
def test_other_not_ready_reasons_are_not_handling(reason: str | None) -> None:
    clock = AgentClock()
    clock.changed("a", "not_ready", B, reason=reason)
    clock.changed("a", "logged_out", B + 600)
    assert totals(clock.times(B + 900, since=B), "a") == (600, 0, 0)


def test_the_wallboard_counts_the_outbound_call_in_occupancy_and_utilization() -> None:
    clock = outbound_day()
    now = B + 3600
    queues = [QueueStats().snapshot("support", waiting=0, ringing=0, connected=0, longest_wait_s=0.0,
                                    agents_logged_in=0, agents_available=0)]
    board = compute_board(now=now, tz="UTC", window_min=60, queues=queues, configs={}, sl_targets={}, agents=[],
                          names={}, clock=clock, calls=[], records=[], agent_times=clock.times(now, since=B),
                          window_times=clock.window(now, since=now - 3600))
    for figures in (board["totals"]["window"], board["totals"]["today"]):
        # handling a 960 + b 300; idle a 840 + b 300; logged in a 2100 + b 900
        assert figures["occupancy"] == pytest.approx(1260 / (1260 + 1140))
        assert figures["utilization"] == pytest.approx(1260 / 3000)


def test_a_dial_from_a_break_is_handling_and_the_break_after_it_is_not() -> None:
    """What acd.dial_readiness records for a dial from a break: break B..B+300, the call (not ready
    outbound) B+300..B+600, its wrap-up B+600..B+660, the same break again until B+900. Handling is
    the call and its wrap-up (360 s); the break's 540 s are only logged-in time."""
    clock = AgentClock()
    for state, reason, at in (("not_ready", "break", 0), ("not_ready", "outbound", 300), ("wrap_up", None, 600),
                              ("not_ready", "break", 660), ("logged_out", None, 900)):
        clock.changed("a", state, B + at, reason=reason)
    assert totals(clock.times(B + 900, since=B), "a") == (900, 0, 360)
    assert totals(clock.window(B + 900, since=B + 450), "a") == (450, 0, 210)  # half the call, the wrap-up

"""The wallboard's rolling-window occupancy and utilization count the agent time of exactly the
window (the last ``window_min`` minutes), not of the whole 15-minute blocks it touches: a window
starting 5 minutes into a block counted the block's first 5 minutes too (found by the supervisor's
trial). Figures hand-computed below."""

from __future__ import annotations

import pytest

from acd.stats import QueueStats
from agent_console.supervisor.agents import AgentClock
from agent_console.supervisor.board import compute_board

B = 900.0 * 2_000_000  # a 15-minute boundary (on the epoch, as the clock's blocks)
NOW = B + 3600 + 300  # the last 60 minutes start 5 minutes into the block at B


def busy_across_the_window_start() -> AgentClock:
    """Agent a: ready at B, on a call from B+120 to B+420 (it straddles the window's start B+300),
    ready again until now. Agent b: on a call from B to B+240, logged out before the window."""
    clock = AgentClock()
    clock.changed("a", "available", B)
    clock.changed("a", "on_call", B + 120)
    clock.changed("a", "available", B + 420)
    clock.changed("b", "on_call", B)
    clock.changed("b", "logged_out", B + 240)
    return clock


def test_the_clock_gives_the_agent_time_of_an_exact_window() -> None:
    clock = busy_across_the_window_start()
    times = {t.agent: t for t in clock.window(NOW, since=NOW - 3600)}
    # a: handling B+300..B+420 = 120 s; idle B+420..NOW = 3480 s; logged in all 3600 s. b: nothing.
    assert set(times) == {"a"}
    a = times["a"]
    assert (a.logged_in_s, a.available_idle_s, a.handle_s, a.at) == (3600, 3480, 120, NOW - 3600)
    # The blocks it used to count: B's whole 900 s (handle 300 + idle 600, and b's 240 s on a call).
    assert sum(t.handle_s for t in clock.times(NOW, since=NOW - 3600)) == 300 + 240


def test_the_wallboard_window_occupancy_is_that_of_the_exact_window() -> None:
    clock = busy_across_the_window_start()
    queues = [QueueStats().snapshot("support", waiting=0, ringing=0, connected=0, longest_wait_s=0.0,
                                    agents_logged_in=1, agents_available=1)]
    board = compute_board(now=NOW, tz="UTC", window_min=60, queues=queues, configs={}, sl_targets={}, agents=[],
                          names={}, clock=clock, calls=[], records=[], agent_times=clock.times(NOW, since=B - 86400),
                          window_times=clock.window(NOW, since=NOW - 3600))
    window = board["totals"]["window"]
    assert window["occupancy"] == pytest.approx(120 / (120 + 3480))  # 1/30, not (300+240)/(540+3600)
    assert window["utilization"] == pytest.approx(120 / 3600)


def test_a_window_reaching_back_past_the_periods_kept_is_refused() -> None:
    """The clock keeps each period whole for ``exact_s`` only; an older window would miss time."""
    clock = AgentClock(exact_s=600)
    clock.changed("a", "available", B)
    clock.changed("a", "on_call", B + 3000)
    assert [t.handle_s for t in clock.window(B + 3100, since=B + 2500)] == [100]
    with pytest.raises(ValueError, match="exact_s"):
        clock.window(B + 3100, since=B + 1000)


def test_a_state_change_dated_in_the_future_clips_the_window_with_a_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    """A state change dated past now (another node's clock ahead, a bad timestamp) moved the periods
    kept past the window's start, and ``window`` raised: the wallboard's snapshot failed (500). The
    window now starts where the periods kept start, and the log says so, once."""
    clock = AgentClock(exact_s=3600 + 900)  # a 60-minute window's, as the supervisor service keeps
    clock.changed("a", "available", B)
    clock.changed("a", "on_call", B + 1000)
    clock.changed("a", "available", NOW + 1200)  # 20 minutes ahead: periods kept from NOW - 3300 on
    with caplog.at_level("WARNING", logger="agent_console.supervisor.agents"):
        times = clock.window(NOW, since=NOW - 3600)
        again = clock.window(NOW + 1, since=NOW + 1 - 3600)
    a = {t.agent: t for t in times}["a"]
    # From NOW - 3300 (B + 600): idle until B + 1000 (400 s), then on the call until now (2900 s).
    assert (a.at, a.logged_in_s, a.available_idle_s, a.handle_s) == (NOW - 3300, 3300, 400, 2900)
    assert [t.handle_s for t in again] == [2901]
    warned = [r for r in caplog.records if "in the future" in r.getMessage()]
    assert len(warned) == 1, caplog.text
    # A window longer than the clock keeps is still the caller's mistake.
    with pytest.raises(ValueError, match="exact_s"):
        clock.window(NOW, since=NOW - 3600 - 1000)

"""Agent time through an engine's downtime (docs/kpis.md, "Agent time"): an engine that is down does
not know what the agents do, so the state each agent was in ends where the engine stopped counting:
after a crash at the last thing the dead engine recorded, or its last heartbeat in Asterisk when
that is later. A report read from the recorded history and the live clock a restarted engine
rebuilds from it give the same figure. Before, the report counted the agent's last state through
the whole downtime and the restarted live clock closed it at its own start."""

from __future__ import annotations

import time

from sqlalchemy import select

from acd.events import AgentStateChanged
from agent_console.supervisor.agents import AgentClock
from crm_core.agent_log import ENGINE_DOWN, AgentStateRow
from tests.web.supervisor.conftest import Site


def _totals(times: list, agent: str) -> tuple[float, float, float]:  # type: ignore[type-arg]
    mine = [t for t in times if t.agent == agent]
    return (round(sum(t.logged_in_s for t in mine)), round(sum(t.available_idle_s for t in mine)),
            round(sum(t.handle_s for t in mine)))


async def _record(site: Site, rows: list[tuple[str, str, float]]) -> None:
    for agent, state, at in rows:
        await site.svc._on_state(AgentStateChanged(ts=at, agent_id=agent, state=state, since=at))


def _new_engine(site: Site) -> None:
    """The supervisor side as a restarted engine has it: a new clock, the downtime not yet closed."""
    site.svc.agent_clock = AgentClock()
    site.svc.history.downtime_closed = False


async def _engine_down_rows(site: Site) -> list[tuple[str, float]]:
    async with site.engine.db.session() as s:
        rows = (await s.scalars(select(AgentStateRow).where(AgentStateRow.reason == ENGINE_DOWN))).all()
        return [(r.agent_id, r.at) for r in rows]


async def test_after_a_crash_agent_time_ends_at_the_last_thing_the_engine_recorded(site: Site) -> None:
    t0 = time.time() - 7200
    # The engine crashed after t0 + 900: 1007 was in wrap-up, 1008's break is the last row it wrote.
    await _record(site, [("1007", "available", t0), ("1007", "on_call", t0 + 300), ("1007", "wrap_up", t0 + 600),
                         ("1008", "available", t0 + 100), ("1008", "not_ready", t0 + 900)])
    _new_engine(site)
    await site.svc.restore()
    assert sorted(await _engine_down_rows(site)) == [("1007", t0 + 900), ("1008", t0 + 900)]
    live = site.svc.agent_clock.times(time.time(), since=t0 - 60)
    report = await site.svc._report_agent_times(t0 - 60, time.time())
    # 1007: available 300, on call 300, wrap-up 300 (to the crash), nothing in the downtime.
    assert _totals(live, "1007") == _totals(report, "1007") == (900, 300, 600)
    assert _totals(live, "1008") == _totals(report, "1008") == (800, 800, 0)


async def test_after_a_crash_the_last_heartbeat_ends_it_when_later(site: Site) -> None:
    t0 = time.time() - 7200
    await _record(site, [("1007", "available", t0), ("1007", "wrap_up", t0 + 600)])
    _new_engine(site)
    await site.svc.close_downtime(last_beat=t0 + 1000)  # what Asterisk's heartbeat global said
    await site.svc.restore()
    assert await _engine_down_rows(site) == [("1007", t0 + 1000)]
    report = await site.svc._report_agent_times(t0 - 60, time.time())
    assert _totals(site.svc.agent_clock.times(time.time(), since=t0 - 60), "1007") == _totals(report, "1007")
    assert _totals(report, "1007") == (1000, 600, 400)


async def test_a_heartbeat_older_than_the_last_row_or_after_the_restart_does_not_count(site: Site) -> None:
    t0 = time.time() - 7200
    await _record(site, [("1007", "available", t0), ("1007", "wrap_up", t0 + 600)])
    _new_engine(site)
    await site.svc.close_downtime(last_beat=t0 + 10)  # a stale global (an older engine's)
    assert await _engine_down_rows(site) == [("1007", t0 + 600)]


async def test_a_clean_stop_writes_where_the_agents_time_ended_and_a_restart_writes_none(site: Site) -> None:
    t0 = time.time() - 7200
    await _record(site, [("1007", "available", t0), ("1007", "logged_out", t0 + 100),
                         ("1008", "available", t0 + 50)])
    stopped = await site.svc.engine_stopping(["1008"], at=t0 + 500)
    assert stopped == 1 and await _engine_down_rows(site) == [("1008", t0 + 500)]
    _new_engine(site)
    await site.svc.restore()
    assert await _engine_down_rows(site) == [("1008", t0 + 500)]  # the stop said it: nothing more
    report = await site.svc._report_agent_times(t0 - 60, time.time())
    assert _totals(report, "1008") == _totals(site.svc.agent_clock.times(time.time(), since=t0 - 60), "1008")
    assert _totals(report, "1008") == (450, 450, 0)


async def test_an_unreadable_history_does_not_stop_the_start(site: Site) -> None:
    """The database away at the start: nothing is marked, and the engine's start goes on (the call
    log and the agents do not wait for the history)."""
    from tests.helpers import DatabaseAway

    _new_engine(site)
    site.svc.history.db = DatabaseAway(site.engine.db)  # type: ignore[assignment]
    assert await site.svc.close_downtime(last_beat=time.time()) == 0
    assert site.svc.history.downtime_closed  # not tried again once this engine records its own rows

"""Agent time through a crash on the real Asterisk (docs/kpis.md, "Agent time"): the engine that
connected a call to agent 1001 is killed (SIGKILL); the next engine reads the dead one's last
heartbeat from Asterisk's globals before its own first beat and ends the agents' recorded time
there, so the supervisor's report and its live clock count nothing of the downtime and agree, and
1001 is still restored on its call. Before, the report counted 1001's state through the downtime
and the live clock of the restarted engine closed it at the state's start."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from sqlalchemy import select

from crm_core.agent_log import ENGINE_DOWN, AgentStateRow
from cti.heartbeat import HEARTBEAT_VAR
from tests.asterisk.recovery import crashing_engine
from tests.asterisk.recovery.restarts import Restarts


async def test_a_crash_ends_the_agents_time_at_the_dead_engines_last_heartbeat(restarts: Restarts,
                                                                               tmp_path: Path) -> None:
    began = time.time()
    proc, before = await crashing_engine.start(restarts.settings, tmp_path)
    await asyncio.sleep(2.5)  # heartbeats after the last recorded state
    proc.send_signal(signal.SIGKILL)
    killed = time.time()
    await proc.wait()
    await asyncio.sleep(4.0)  # the downtime
    eng = await restarts.start(web=True)
    restarted = time.time()
    assert eng.router.agent("1001").state.value == "on_call"  # the recovery still restores it
    assert eng.app is not None
    svc = eng.app.state.supervisor
    async with eng.db.session() as s:
        rows = list((await s.scalars(select(AgentStateRow).where(AgentStateRow.agent_id == "1001")
                                     .order_by(AgentStateRow.at, AgentStateRow.id))).all())
    down = [r for r in rows if r.reason == ENGINE_DOWN]
    assert len(down) == 1, [(r.state, r.reason, r.at) for r in rows]
    last_recorded = max(r.at for r in rows if r.at < down[0].at)
    # The heartbeat (whole seconds, every second) is later than the last state the engine wrote.
    assert last_recorded < down[0].at and killed - 2.0 <= down[0].at <= killed, (last_recorded, down[0].at, killed)
    # This engine beats now: the global is its own.
    assert float(await eng.ami.control.get_var("", HEARTBEAT_VAR) or 0) >= restarted - 2.0
    now = time.time()
    report = [t for t in await svc._report_agent_times(began - 60, now) if t.agent == "1001"]
    live = [t for t in svc.agent_clock.times(now, since=began - 60) if t.agent == "1001"]
    logged_in = sum(t.logged_in_s for t in report)
    assert abs(logged_in - sum(t.logged_in_s for t in live)) < 1.0
    downtime = restarted - killed
    assert logged_in <= (now - began) - downtime + 1.0, (logged_in, now - began, downtime)
    assert before["connected"] in eng.acd.calls

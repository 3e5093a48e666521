"""The agent-time report (by agent) and its CSV, read from the recorded agent state history on
SQLite and PostgreSQL, count an agent's own outbound call as handling time (docs/kpis.md, *Agent
time*): the time the agent was not ready ``outbound`` (the call up) and in wrap-up after it. They
counted the wrap-up only. A break stays out. The report's handled calls and AHT stay inbound calls
only: the outbound call's interaction is in neither. Figures hand-computed below."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from acd.delivery import AcdService
from acd.events import AgentStateChanged
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.supervisor.service import SupervisorService
from crm_core.db import Database
from crm_core.models import Interaction
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

B = 1_790_000_000 // 86400 * 86400 + 3 * 3600  # 03:00 UTC, a report of one day's row


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(B + offset, UTC)


async def test_the_agent_report_and_csv_count_the_own_outbound_call_as_handling(db: Database) -> None:
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig("support")]), FakeCallControl(), bus, clock=lambda: B)
    svc = SupervisorService(acd=acd, db=db, bus=bus, configs=[QueueConfig("support")], rules=[],
                            control=FakeCallControl, tz="UTC", clock=lambda: B + 7200)
    try:
        # 1001: ready 300 s, an inbound call 300 s (on call 240 + wrap-up 60), ready 300 s, their own
        # call 600 s (not ready outbound) and its wrap-up 120 s, ready 180 s, a break 300 s.
        for state, reason, offset in (("available", None, 0), ("on_call", None, 300), ("wrap_up", None, 540),
                                      ("available", None, 600), ("not_ready", "outbound", 900),
                                      ("wrap_up", None, 1500), ("available", None, 1620),
                                      ("not_ready", "break", 1800), ("logged_out", None, 2100)):
            await svc._on_state(AgentStateChanged(ts=B + offset, agent_id="1001", state=state, reason=reason,
                                                  since=B + offset))
        async with db.session() as s:
            s.add(Interaction(linkedid="in-1", direction="inbound", status="complete", agent_id="1001",
                              queue="support", started_at=at(290), answered_at=at(300), ended_at=at(540),
                              outcome="answered", wait_s=10.0, talk_s=240.0, acw_s=60.0))
            s.add(Interaction(linkedid="out-1", direction="outbound", status="complete", agent_id="1001",
                              started_at=at(900), answered_at=at(910), ended_at=at(1500), outcome="answered",
                              talk_s=590.0, acw_s=120.0))
            await s.commit()
        rows, _, _ = await svc.report(interval="day", group_by="agent", start=str(B), end=str(B + 3600))
        mine = [r.kpis for r in rows if r.key == "1001"]
        assert len(mine) == 1, rows
        k = mine[0]
        # handling 240 + 60 + 600 + 120 = 1020; idle 300 + 300 + 180 = 780; logged in 2100
        assert (k.occupancy, k.utilization) == (pytest.approx(1020 / 1800), pytest.approx(1020 / 2100))
        assert (k.handled, k.aht_s) == (1, pytest.approx(300.0))  # the inbound call only
        assert "handled and AHT: inbound calls only" in k.basis and "own outbound calls included" in k.basis
        lines = [line for line in csv.DictReader(io.StringIO(svc.report_csv(rows))) if line["key"] == "1001"]
        assert [(float(line["occupancy"]), float(line["utilization"]), line["handled"]) for line in lines] == [
            (pytest.approx(1020 / 1800, abs=1e-4), pytest.approx(1020 / 2100, abs=1e-4), "1")]
    finally:
        await svc.rows.stop()

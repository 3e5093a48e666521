"""An agent's own outbound call is handling time (docs/kpis.md, *Agent time*): the wallboard's
occupancy and utilization (GET /api/supervisor/wallboard), a report (JSON and CSV) and the clock a
restarted engine rebuilds from the history count the time the agent is not ready ``outbound`` as
handling, with its wrap-up. They counted the wrap-up only (the call's talk was not ready time).
The states come from the real ACD (``AcdService``: the dial's readiness, the own call's end, the
console's wrap-up), on a clock of its own; figures hand-computed below."""

from __future__ import annotations

import csv
import io
import time

import pytest

from acd.delivery import AcdService
from acd.dial_readiness import OUTBOUND
from acd.kpis import bucket_start
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.supervisor.agents import AgentClock
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from tests.web.supervisor.conftest import Site, login


async def outbound_hour(site: Site, t0: float) -> None:
    """Agent 1010: ready at t0 (300 s), dials: not ready outbound t0+300..t0+900 (600 s), wraps up
    until t0+960 (60 s), ready until t0+1200 (240 s), on a break until t0+1500 (300 s), logged out.
    Handling 660 s, available idle 540 s, logged in 1500 s."""
    now = [t0]
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig(name="support")]), FakeCallControl(), bus, clock=lambda: now[0],
                     device_state=lambda device: "NOT_INUSE")
    site.svc.acd, site.svc.bus = acd, bus
    site.svc.subscribe()
    await bus.start()
    try:
        await acd.agent_login("1010", {"support": 3}, ["support"], ready=True)
        now[0] = t0 + 300
        await acd.dial_readiness.hold("1010")  # the console's Dial, before its Originate
        assert acd.agent("1010").reason == OUTBOUND
        now[0] = t0 + 900
        await acd.decide(lambda t: acd.router.own_call_ended("1010", "out-1", OUTBOUND, t))
        now[0] = t0 + 960
        await acd.set_ready("1010")  # the wrap-up form sent
        now[0] = t0 + 1200
        await acd.set_not_ready("1010", "break")
        now[0] = t0 + 1500
        await acd.agent_logout("1010")
        await bus.drain()
    finally:
        await bus.stop()
        site.svc.acd = site.engine.acd


def figures(kpis: dict) -> tuple[float, float]:  # type: ignore[type-arg]
    return kpis["occupancy"], kpis["utilization"]


EXPECTED = (pytest.approx(660 / (660 + 540)), pytest.approx(660 / 1500))


async def test_the_wallboard_counts_an_agents_own_outbound_call_as_handling(site: Site) -> None:
    await outbound_hour(site, time.time() - 1800)
    await site.svc.wallboard.refresh()  # the REST read gives the latest snapshot: one after the states
    async with site.client() as c:
        await login(c, "mgr1", "mgr1-demo-1")
        r = await c.get("/api/supervisor/wallboard")
        assert r.status_code == 200, r.text
        assert figures(r.json()["totals"]["window"]) == EXPECTED
        # A restarted engine rebuilds its clock from the recorded history: the same figures.
        site.svc.agent_clock = AgentClock()
        await site.svc.restore()
        await site.svc.wallboard.refresh()
        r = await c.get("/api/supervisor/wallboard")
        assert figures(r.json()["totals"]["window"]) == EXPECTED


async def test_a_report_and_its_csv_count_an_agents_own_outbound_call_as_handling(site: Site) -> None:
    b = (time.time() - 4 * 3600) // 900 * 900
    if bucket_start(b + 1800, "day", site.svc.tz) > b:  # one day's row: not across the local midnight
        b -= 3600
    await outbound_hour(site, b)
    params = {"interval": "day", "start": str(b), "end": str(b + 1800), "agent": "1010", "group_by": "agent"}
    async with site.client() as c:
        await login(c, "mgr1", "mgr1-demo-1")
        r = await c.get("/api/supervisor/reports", params=params)
        assert r.status_code == 200, r.text
        rows = [row["kpis"] for row in r.json()["rows"] if row["kpis"]["utilization"] is not None]
        assert [figures(k) for k in rows] == [EXPECTED]
        r = await c.get("/api/supervisor/reports", params={**params, "format": "csv"})
        assert r.status_code == 200, r.text
        lines = [row for row in csv.DictReader(io.StringIO(r.text)) if row["utilization"]]
        assert [(float(row["occupancy"]), float(row["utilization"])) for row in lines] == [
            (pytest.approx(660 / 1200, abs=1e-4), pytest.approx(660 / 1500, abs=1e-4))]  # 4 decimals

"""A report of one queue counts the agent time of the agents serving that queue, for a manager as for
the queue's own supervisor: a manager's report of billing counted every agent of the centre (a
support agent's calls made billing's occupancy), while billing's supervisor, with the same filter,
got billing's agents only. Found by the supervisor's trial; the figures are hand-computed."""

from __future__ import annotations

import time

import httpx
import pytest

from acd.events import AgentStateChanged
from acd.kpis import bucket_start
from crm_core import users
from tests.web.supervisor.conftest import Site, login


async def test_a_report_of_billing_counts_billings_agents_for_everyone(site: Site) -> None:
    svc = site.svc
    b = (time.time() - 3 * 3600) // 900 * 900
    if bucket_start(b + 1800, "day", svc.tz) > b:  # one day's row: not across the local midnight
        b -= 3600
    # 1003 (billing) ready 30 min with nothing to do; 1001 (support, general) on a call for 15 of them.
    for agent, state, offset in (("1003", "available", 0), ("1001", "available", 0), ("1001", "on_call", 600),
                                 ("1001", "available", 1500), ("1003", "logged_out", 1800),
                                 ("1001", "logged_out", 1800)):
        await svc._on_state(AgentStateChanged(ts=b + offset, agent_id=agent, state=state, since=b + offset))
    await svc._load(svc._records_since(time.time()))  # the agents' queues, from their CRM skills
    async with site.engine.db.session() as s:
        sup1 = await users.user_by_username(session=s, username="sup1")
        assert sup1 is not None
        await users.set_supervised_queues(session=s, user=sup1, queues=["billing"])
    params = {"interval": "day", "start": str(b), "end": str(b + 1800), "queue": "billing"}
    for user in ("mgr1", "sup1"):
        async with httpx.AsyncClient(base_url=site.base, timeout=10) as c:
            await login(c, user, f"{user}-demo-1")
            r = await c.get("/api/supervisor/reports", params=params)
            assert r.status_code == 200, r.text
            rows = [row["kpis"] for row in r.json()["rows"] if row["kpis"]["utilization"] is not None]
            assert len(rows) == 1, (user, r.json()["rows"])
            assert (rows[0]["occupancy"], rows[0]["utilization"]) == (pytest.approx(0.0), pytest.approx(0.0)), user
    async with httpx.AsyncClient(base_url=site.base, timeout=10) as c:  # the whole centre: both agents
        await login(c, "mgr1", "mgr1-demo-1")
        r = await c.get("/api/supervisor/reports", params={k: v for k, v in params.items() if k != "queue"})
        rows = [row["kpis"] for row in r.json()["rows"] if row["kpis"]["utilization"] is not None]
        assert rows[0]["occupancy"] == pytest.approx(900 / 3600)

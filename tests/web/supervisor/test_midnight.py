"""Around the centre's midnight (docs/kpis.md: a call counts when it entered the queue): a caller
who dialled in at 23:59:30 and reached the queue at 00:00:30 after the IVR is one of the new day's
offered calls, on the wallboard's "today" as in the day's report, all day long. The wallboard read
only the calls that started since midnight once its rolling window no longer reached back before
it: from 01:00 that call left "today" while the day's report still counted it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import delete

from acd.kpis import bucket_start
from crm_core.models import Interaction, Segment
from tests.web.supervisor.conftest import Site, login


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def test_a_call_queued_just_after_midnight_stays_in_todays_figures(site: Site) -> None:
    svc = site.svc
    midnight = bucket_start(time.time() - 86400, "day", svc.tz)  # yesterday's: its whole day is past
    async with site.engine.db.session() as s:
        await s.execute(delete(Segment))
        await s.execute(delete(Interaction))
        s.add(Interaction(linkedid="straddle", direction="inbound", status="complete", queue="support",
                          outcome="answered", agent_id="1001", started_at=_at(midnight - 30), ivr_s=60,
                          wait_s=5, talk_s=60, answered_at=_at(midnight + 35), ended_at=_at(midnight + 95)))
    svc.invalidate_records()

    for hours in (0.5, 2, 23):  # within the first hour (the window reaches before midnight), and later
        now = midnight + hours * 3600
        svc.record_cache.clock = svc.case_contacts.clock = lambda now=now: now  # type: ignore[misc]
        svc.invalidate_records()
        board = svc._board(now, await svc._load(svc._records_since(now)))
        support = next(q for q in board["queues"] if q["queue"] == "support")
        assert (board["totals"]["today"]["offered"], support["today"]["answered"]) == (1, 1), hours

    async with httpx.AsyncClient(base_url=site.base, timeout=10) as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.get("/api/supervisor/reports", params={"interval": "day", "start": str(midnight),
                                                           "end": str(midnight + 86400)})
        assert r.status_code == 200, r.text
        assert [row["kpis"]["offered"] for row in r.json()["rows"]] == [1]

"""Preview callbacks on the supervisor side, on a real (unstarted) Engine over a seeded SQLite CRM:
the wallboard's per-queue and total counts (REST and websocket), re-read at their own pace; the
pure board part."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import websockets
from sqlalchemy import delete

from acd.stats import QueueStats
from agent_console.supervisor.agents import AgentClock
from agent_console.supervisor.board import compute_board
from crm_core import callbacks
from crm_core.models import Callback
from tests.web.supervisor.conftest import Site, login


async def add(site: Site, **kw: object) -> int:
    async with site.engine.db.session() as s:
        args: dict[str, object] = {"number": "13800138001", "due_at": datetime.now(UTC), "queue": "support"} | kw
        cb = await callbacks.create_callback(session=s, **args)  # type: ignore[arg-type]
        return cb.id


async def clear(site: Site) -> None:
    async with site.engine.db.session() as s:
        await s.execute(delete(Callback))


async def some_callbacks(site: Site) -> dict[str, int]:
    now = datetime.now(UTC)
    await clear(site)
    ids = {"due": await add(site, due_at=now - timedelta(minutes=1)),
           "late": await add(site, due_at=now - timedelta(minutes=40)),
           "later": await add(site, due_at=now + timedelta(hours=1)),
           "claimed": await add(site, due_at=now - timedelta(minutes=2)),
           "billing": await add(site, queue="billing", due_at=now - timedelta(minutes=20)),
           "personal": await add(site, queue=None, agent_id="1001", due_at=now - timedelta(minutes=1))}
    async with site.engine.db.session() as s:
        await callbacks.claim(session=s, callback_id=ids["claimed"], agent_id="1001", now=now)
    site.svc.callbacks.invalidate()
    site.svc.wallboard.invalidate_records()
    return ids


async def test_wallboard_counts_callbacks_per_queue_and_in_total(site: Site) -> None:
    await some_callbacks(site)
    board = await site.svc.wallboard.refresh()
    queues = {q["queue"]: q for q in board["queues"]}
    assert queues["support"]["callbacks"] == {"pending": 3, "due": 2, "overdue": 1, "claimed": 1}
    assert queues["billing"]["callbacks"] == {"pending": 1, "due": 1, "overdue": 1, "claimed": 0}
    # totals count every open callback, the personal one (no queue) too
    assert board["totals"]["callbacks"] == {"pending": 5, "due": 4, "overdue": 2, "claimed": 1}
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.get("/api/supervisor/wallboard")
    assert r.json()["totals"]["callbacks"]["overdue"] == 2


async def test_callback_counts_are_read_at_their_own_pace(site: Site) -> None:
    await some_callbacks(site)
    board = await site.svc.wallboard.refresh()
    assert board["totals"]["callbacks"]["due"] == 4
    await add(site)
    site.svc.wallboard.invalidate_records()  # the records are read again, the counts not yet
    board = await site.svc.wallboard.refresh()
    assert board["totals"]["callbacks"]["due"] == 4
    site.svc.callbacks._counts_at -= site.svc.callbacks.every_s  # the counts' turn has come
    site.svc.wallboard.invalidate_records()
    board = await site.svc.wallboard.refresh()
    assert board["totals"]["callbacks"]["due"] == 5


async def test_wallboard_frames_carry_the_callback_counts(site: Site) -> None:
    await some_callbacks(site)
    await site.svc.wallboard.refresh()
    async with site.client() as c:
        token = await login(c, "sup1", "sup1-demo-1")
    ws_url = site.base.replace("http", "ws") + f"/ws/supervisor?token={token}"
    deadline = time.monotonic() + 5
    async with websockets.connect(ws_url) as ws:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if frame["type"] == "wallboard":
                break
            assert time.monotonic() < deadline
    support = next(q for q in frame["queues"] if q["queue"] == "support")
    assert support["callbacks"] == {"pending": 3, "due": 2, "overdue": 1, "claimed": 1}
    assert frame["totals"]["callbacks"]["claimed"] == 1


def test_board_shows_the_counts_it_is_given() -> None:
    stats = QueueStats()
    queues = [stats.snapshot("support", waiting=0, ringing=0, connected=0, longest_wait_s=0.0, agents_logged_in=0,
                             agents_available=0)]
    counts = {"support": {"pending": 2, "due": 1, "claimed": 1},  # no overdue count: 0
              "gone": {"pending": 1, "due": 1, "overdue": 1, "claimed": 0}, "": {"claimed": 2}}
    board = compute_board(now=1e9, tz="UTC", window_min=60, queues=queues, configs={}, sl_targets={}, agents=[],
                          names={}, clock=AgentClock(), calls=[], records=[], callbacks=counts)
    assert board["queues"][0]["callbacks"] == {"pending": 2, "due": 1, "overdue": 0, "claimed": 1}
    assert board["totals"]["callbacks"] == {"pending": 3, "due": 2, "overdue": 1, "claimed": 3}
    empty = compute_board(now=1e9, tz="UTC", window_min=60, queues=queues, configs={}, sl_targets={}, agents=[],
                          names={}, clock=AgentClock(), calls=[], records=[])
    assert empty["totals"]["callbacks"] == {"pending": 0, "due": 0, "overdue": 0, "claimed": 0}

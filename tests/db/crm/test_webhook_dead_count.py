"""A webhook's listed ``dead_letters`` counts the dead letters waiting to be re-delivered, as
``GET /api/webhooks/{id}/dead-letters`` shows them. It counted those of the running engine only:
after a restart a subscriber with nine stored dead letters was listed with 0 (or 2), and an
integrator checking the list concluded nothing had failed."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from crm_core.db import Database
from crm_core.feed import EventFeed
from crm_core.sealed import SecretBox
from crm_core.webhooks import WebhookDeadLetter, WebhookDispatcher


async def test_dead_letters_stored_before_a_start_are_counted_until_redelivered(db: Database, tmp_path: Path) -> None:
    box = SecretBox(secrets.token_urlsafe(32))
    feed = EventFeed(db, tmp_path / "state")
    first = WebhookDispatcher(db, feed, box=box)
    view, _ = await first.create(name="dw", url="http://127.0.0.1:9/hook", types=None, created_by="test")
    sid = view["id"]
    async with db.session() as s:  # what an earlier run dead-lettered
        s.add_all([WebhookDeadLetter(subscriber_id=sid, cursor=n, type="call.ended", body="{}", attempts=8,
                                     last_error="ConnectError", failed_at=1.0e9) for n in (5, 6, 7)])
        s.add(WebhookDeadLetter(subscriber_id=sid, cursor=4, type="call.ended", body="{}", attempts=9,
                                last_error="", failed_at=1.0e9, redelivered_at=1.1e9))  # delivered since
    receiver = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(204)))
    restarted = WebhookDispatcher(db, feed, box=box, client=receiver)
    await restarted.start()
    try:
        assert restarted.views()[0]["dead_letters"] == 3
        waiting = [d for d in await restarted.dead_letters(sid) if d["redelivered_at"] is None]
        assert (await restarted.redeliver(sid, waiting[0]["id"]))["delivered"] is True
        assert restarted.views()[0]["dead_letters"] == 2
        await restarted.redeliver(sid, waiting[0]["id"])  # again: it was re-delivered already
        assert restarted.views()[0]["dead_letters"] == 2
    finally:
        await restarted.stop()
        await receiver.aclose()

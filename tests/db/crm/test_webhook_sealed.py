"""A sealed webhook secret fits its column on both databases (migration 0013 widened it: on
PostgreSQL the old VARCHAR(128) refused it) and opens after a restart of the dispatcher."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select

from crm_core.db import Database
from crm_core.feed import EventFeed
from crm_core.sealed import PREFIX, SecretBox
from crm_core.webhooks import WebhookDispatcher, WebhookSubscriber


async def test_a_sealed_secret_is_stored_and_read_back(db: Database, tmp_path: Path) -> None:
    feed = EventFeed(db, tmp_path / "state")
    box = SecretBox(secrets.token_urlsafe(32))
    hooks = WebhookDispatcher(db, feed, box=box)
    view, secret = await hooks.create(name="dw", url="https://dw.example/hook", types=None, created_by="test")
    async with db.session() as s:
        stored = (await s.execute(select(WebhookSubscriber.secret)
                                  .where(WebhookSubscriber.id == view["id"]))).scalar_one()
    assert stored.startswith(PREFIX) and len(stored) > 128 and secret not in stored
    again = WebhookDispatcher(db, feed, box=box)
    await again.start()
    try:
        assert again.views()[0]["locked"] is False and again._subs[view["id"]].secret == secret
    finally:
        await again.stop()
        await hooks.stop()

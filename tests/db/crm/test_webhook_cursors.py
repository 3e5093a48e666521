"""A webhook's saved cursor only moves forward. Two nodes may hold the same subscriber for a
moment: a node fenced by another (it stalled past the routing lease while the other took over and
delivered on) saves its cursors as it stops, and those are behind the other node's. Saved over
them, they would send every event in between to the receiver a second time."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select, update

from crm_core.db import Database
from crm_core.feed import EventFeed
from crm_core.sealed import SecretBox
from crm_core.webhooks import WebhookDispatcher, WebhookSubscriber


async def _saved(db: Database, sid: int) -> int:
    async with db.session() as s:
        return int((await s.execute(select(WebhookSubscriber.cursor).where(WebhookSubscriber.id == sid))).scalar_one())


async def test_a_node_behind_does_not_move_a_saved_cursor_back(db: Database, tmp_path: Path) -> None:
    feed = EventFeed(db, tmp_path / "state")
    fenced = WebhookDispatcher(db, feed, box=SecretBox(secrets.token_urlsafe(32)))
    view, _ = await fenced.create(name="dw", url="https://dw.example/hook", types=None, created_by="test")
    sid = view["id"]
    async with db.session() as s:  # the node that routes now delivered up to event 50
        await s.execute(update(WebhookSubscriber).where(WebhookSubscriber.id == sid).values(cursor=50))
    fenced._subs[sid].cursor = 20  # where the fenced node had got to when it stalled
    await fenced.stop()
    assert await _saved(db, sid) == 50
    fenced._subs[sid].cursor = 70  # a cursor ahead is saved
    await fenced.save_cursors()
    assert await _saved(db, sid) == 70

"""Webhook signing secrets are sealed in the database (crm_core.sealed): a copy of the database alone
does not let anyone sign as the engine. Secrets stored in clear (before sealing) or under an old
key are sealed under the current key on start; one sealed under an unknown key is kept, shown
locked and never delivered to unsigned."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from sqlalchemy import insert, select

from crm_core.errors import Conflict
from crm_core.sealed import PREFIX, SecretBox
from crm_core.webhooks import SIGNATURE_HEADER, WebhookDispatcher, WebhookSubscriber, verify_signature
from cti.journey import CallArrived
from tests.helpers import until
from tests.web.feed.conftest import FeedApp, receiving

_SUB = WebhookSubscriber.__table__


async def _stored(app: FeedApp, sid: int) -> str:
    async with app.hooks.db.session() as s:
        return str((await s.execute(select(_SUB.c.secret).where(_SUB.c.id == sid))).scalar_one())


async def test_a_new_webhooks_secret_is_sealed_in_the_database_and_still_signs(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    async with receiving(lambda n: False) as rec:
        created = (await feed_app.http.post("/api/webhooks", json={"name": "dw", "url": rec.url},
                                            headers=admin)).json()
        stored = await _stored(feed_app, created["id"])
        assert stored.startswith(PREFIX) and created["secret"] not in stored
        await feed_app.demo.bus.publish(CallArrived(linkedid="sealed-1", channel="PJSIP/x-1", ts=1.0,
                                                            caller_number="+33100000001"))
        await until(lambda: len(rec.accepted) >= 1, 10, "one delivery")
    body, headers = rec.accepted[0]
    assert verify_signature(created["secret"], body, headers[SIGNATURE_HEADER.lower()])


async def test_clear_and_old_key_secrets_are_resealed_and_an_unknown_keys_webhook_is_locked(
        feed_app: FeedApp) -> None:
    key, old, foreign = (secrets.token_urlsafe(32) for _ in range(3))
    clear = {name: secrets.token_urlsafe(32) for name in ("legacy", "rotated", "foreign")}
    async with receiving(lambda n: False) as r1, receiving(lambda n: False) as r2, \
            receiving(lambda n: False) as r3:
        stored = {"legacy": clear["legacy"], "rotated": SecretBox(old).seal(clear["rotated"]),
                  "foreign": SecretBox(foreign).seal(clear["foreign"])}
        urls = {"legacy": r1.url, "rotated": r2.url, "foreign": r3.url}
        ids: dict[str, int] = {}
        async with feed_app.hooks.db.session() as s:
            for name in ("legacy", "rotated", "foreign"):
                ids[name] = (await s.execute(insert(_SUB).returning(_SUB.c.id).values(
                    name=name, url=urls[name], secret=stored[name], types=None, active=True,
                    cursor=feed_app.feed.head, created_by="test", created_at=time.time()))).scalar_one()
        hooks = WebhookDispatcher(feed_app.hooks.db, feed_app.feed, box=SecretBox(key, old_keys=[old]),
                                  max_attempts=2, backoff_s=0.02, save_every_s=0.1)
        await hooks.start()
        try:
            now = {name: await _stored(feed_app, ids[name]) for name in ids}
            for name in ("legacy", "rotated"):  # sealed under the current key now, same secret
                assert now[name] != stored[name] and SecretBox(key).open(now[name]) == clear[name]
            assert now["foreign"] == stored["foreign"]  # kept as it was: its key may come back
            views = {v["name"]: v for v in hooks.views()}
            assert [views[n]["locked"] for n in ("legacy", "rotated", "foreign")] == [False, False, True]
            await feed_app.demo.bus.publish(CallArrived(linkedid="sealed-2", channel="PJSIP/x-2", ts=2.0,
                                                                caller_number="+33100000002"))
            await until(lambda: len(r1.accepted) >= 1 and len(r2.accepted) >= 1, 10, "deliveries")
            await asyncio.sleep(0.3)
            assert r3.requests == 0  # never delivered unsigned, nor signed with a wrong secret
            for rec, name in ((r1, "legacy"), (r2, "rotated")):
                body, headers = rec.accepted[0]
                assert verify_signature(clear[name], body, headers[SIGNATURE_HEADER.lower()])
            with pytest.raises(Conflict, match="sealed under a key"):
                await hooks.redeliver(ids["foreign"], 1)
        finally:
            await hooks.stop()


async def test_a_running_dispatcher_saves_its_cursors_without_being_stopped(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    async with receiving(lambda n: False) as rec:
        created = (await feed_app.http.post("/api/webhooks", json={"name": "cur", "url": rec.url},
                                            headers=admin)).json()
        await feed_app.demo.bus.publish(CallArrived(linkedid="saved-1", channel="PJSIP/x-3", ts=3.0,
                                                    caller_number="+33100000003"))
        await until(lambda: len(rec.accepted) >= 1, 10, "one delivery")
        delivered = int(rec.events()[0]["cursor"])

        async def saved() -> int:
            async with feed_app.hooks.db.session() as s:
                return int((await s.execute(select(_SUB.c.cursor).where(_SUB.c.id == created["id"]))).scalar_one())

        for _ in range(50):  # the fixture saves every 0.1 s; a crash now repeats nothing
            if await saved() >= delivered:
                break
            await asyncio.sleep(0.1)
        assert await saved() >= delivered

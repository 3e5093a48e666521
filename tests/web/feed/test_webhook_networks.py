"""feed.webhook_networks: the only networks webhooks may reach, checked when a webhook is configured
(host names resolved) and again at every delivery."""

from __future__ import annotations

import ipaddress
import secrets
import time

import pytest
from sqlalchemy import insert

from crm_core.errors import InvalidField
from crm_core.sealed import SecretBox
from crm_core.webhooks import WebhookDispatcher, WebhookSubscriber, refused_address
from cti.journey import CallArrived
from tests.helpers import until
from tests.web.feed.conftest import FeedApp, receiving

TEN = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def test_an_address_outside_the_networks_is_refused() -> None:
    assert refused_address("10.20.30.40", TEN) is None
    assert refused_address("fd12::1", TEN) is None
    assert "outside feed.webhook_networks" in (refused_address("127.0.0.1", TEN) or "")
    assert "outside" in (refused_address("::ffff:192.168.1.1", TEN) or "")
    assert "link-local" in (refused_address("169.254.169.254", [ipaddress.ip_network("0.0.0.0/0")]) or "")
    assert refused_address("127.0.0.1") is None and refused_address("::1") is None  # unset: loopback
    assert refused_address("192.168.1.1") is None  # and private networks stay allowed


async def test_configuring_outside_the_networks_is_a_422_naming_the_url(feed_app: FeedApp) -> None:
    hooks = WebhookDispatcher(feed_app.hooks.db, feed_app.feed, box=SecretBox(secrets.token_urlsafe(32)),
                              networks=TEN)
    try:
        for url in ("http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x"):
            with pytest.raises(InvalidField, match=r"outside feed\.webhook_networks") as err:
                await hooks.create(name="x", url=url, types=None, created_by="test")
            assert err.value.field == "url" and err.value.http_status == 422
        view, _ = await hooks.create(name="dw", url="http://10.1.2.3:9/x", types=None, created_by="test")
        assert view["url"] == "http://10.1.2.3:9/x"
    finally:
        await hooks.stop()


async def test_a_webhook_outside_the_networks_gets_nothing(feed_app: FeedApp) -> None:
    async with receiving(lambda n: False) as rec:
        async with feed_app.hooks.db.session() as s:  # configured before the networks were set
            sid = (await s.execute(insert(WebhookSubscriber.__table__).returning(WebhookSubscriber.id).values(
                name="old", url=rec.url, secret="legacy-secret", types=None, active=True,
                cursor=feed_app.feed.head, created_by="test", created_at=time.time()))).scalar_one()
        hooks = WebhookDispatcher(feed_app.hooks.db, feed_app.feed, box=SecretBox(secrets.token_urlsafe(32)),
                                  networks=TEN, max_attempts=2, backoff_s=0.01)
        await hooks.start()
        try:
            await feed_app.demo.bus.publish(CallArrived(linkedid="net-1", channel="PJSIP/x-1", ts=1.0,
                                                        caller_number="+33100000001"))
            await until(lambda: hooks.views()[0]["dead_letters"] == 1, 10, "a dead letter")
            dead = await hooks.dead_letters(sid)
            assert dead[0]["last_error"].startswith("refused: 127.0.0.1 is outside feed.webhook_networks")
            assert rec.requests == 0
        finally:
            await hooks.stop()

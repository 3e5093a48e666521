"""The feed over HTTP: a client that drops off resumes from its cursor and sees every event once,
in order, then live; webhooks survive a failing receiver in order, dead-letter and re-deliver;
signatures; access for administrators and integration tokens only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from acd.events import AgentStateChanged
from crm_core.errors import InvalidField
from crm_core.webhooks import SIGNATURE_HEADER, resolves_to_refused, verify_signature
from cti.journey import CallArrived, CallEnded
from tests.helpers import until
from tests.web.feed.conftest import INTEGRATION_TOKEN, FeedApp, receiving


def _event(n: int) -> Any:
    """Event n of a stream mixing journey and agent events; its ``ts`` is n, to check order."""
    cid = f"c{n // 3}"
    match n % 3:
        case 0:
            return CallArrived(ts=n, linkedid=cid, channel="PJSIP/t-1", caller_number="+33100000000")
        case 1:
            return AgentStateChanged(ts=n, agent_id="a1", state="on_call")
        case _:
            return CallEnded(ts=n, linkedid=cid)


async def _publish(app: FeedApp, numbers: range) -> None:
    for n in numbers:
        await app.demo.bus.publish(_event(n))


async def _sse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(id, event) of each data frame of a Server-Sent-Events stream."""
    ident = ""
    async for line in lines:
        if line.startswith("id: "):
            ident = line[4:]
        elif line.startswith("data: "):
            yield ident, json.loads(line[6:])


async def _read(app: FeedApp, headers: dict[str, str], since: str | None, count: int) -> list[dict[str, Any]]:
    params = {"since": since} if since is not None else {}
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(10), app.http.stream("GET", "/api/events/stream", params=params,
                                                    headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        async for ident, ev in _sse(r.aiter_lines()):
            assert ident == ev["cursor"]
            got.append(ev)
            if len(got) == count:
                break
    return got  # leaving the block drops the connection


async def test_client_resumes_from_its_cursor_and_sees_every_event_once_in_order(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    await _publish(feed_app, range(0, 30))
    first = await _read(feed_app, admin, "0", 10)  # then the client goes away
    await _publish(feed_app, range(30, 60))  # published while it is away
    second_task = asyncio.create_task(_read(feed_app, admin, first[-1]["cursor"], 60))
    await asyncio.sleep(0.3)  # it has caught up and follows live now
    await _publish(feed_app, range(60, 70))
    second = await second_task
    seen = first + second
    assert [e["ts"] for e in seen] == list(range(70))
    assert len({e["cursor"] for e in seen}) == 70
    assert [int(e["cursor"]) for e in seen] == sorted(int(e["cursor"]) for e in seen)
    assert seen[1] == {"cursor": seen[1]["cursor"], "v": 1, "type": "agent.state_changed", "ts": 1,
                       "call_id": None, "agent_id": "a1", "queue": None,
                       "data": {"state": "on_call", "reason": None, "since": 0.0, "queues": [],
                                "phone_reachable": True}}
    # The page endpoint tells the same story; an integration token may read it too.
    page = (await feed_app.http.get("/api/events", params={"since": seen[9]["cursor"], "limit": 100},
                                    headers={"Authorization": f"Bearer {INTEGRATION_TOKEN}"})).json()
    assert [e["ts"] for e in page["events"]] == list(range(10, 70))
    assert page["cursor"] == seen[-1]["cursor"] and page["more"] is False and page["gap"] is None


async def test_last_event_id_resumes_and_types_filter(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    await _publish(feed_app, range(0, 12))
    first = await _read(feed_app, admin, "0", 3)
    rest = await _read(feed_app, {**admin, "Last-Event-ID": first[-1]["cursor"]}, None, 9)
    assert [e["ts"] for e in first + rest] == list(range(12))
    r = await feed_app.http.get("/api/events", params={"since": "0", "types": "call.ended"}, headers=admin)
    assert [e["ts"] for e in r.json()["events"]] == [2, 5, 8, 11]
    bad = await feed_app.http.get("/api/events", params={"since": "x1"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "since"


async def test_agents_and_strangers_are_refused(feed_app: FeedApp) -> None:
    agent = await feed_app.headers("alice")
    supervisor = await feed_app.headers("sue")
    integration = {"Authorization": f"Bearer {INTEGRATION_TOKEN}"}
    feed_app.http.cookies.clear()  # the logins left a session cookie: strangers have none
    for path in ("/api/events", "/api/events/stream", "/api/webhooks"):
        assert (await feed_app.http.get(path, headers=agent)).status_code == 403, path
        assert (await feed_app.http.get(path, headers=supervisor)).status_code == 403, path
        assert (await feed_app.http.get(path)).status_code == 401, path
        assert (await feed_app.http.get(path, headers={"Authorization": "Bearer wrong"})).status_code == 401
    # An integration token is a good credential that may only read the feed: 403 naming that, not
    # the 401 "malformed token" it got, which sent integrators looking for a broken token.
    for method, path in (("GET", "/api/webhooks"), ("POST", "/api/webhooks"), ("GET", "/api/me"),
                         ("GET", "/api/agent/snapshot")):
        r = await feed_app.http.request(method, path, headers=integration, json={})
        assert r.status_code == 403, (path, r.text)
        assert r.json()["detail"]["code"] == "forbidden" and "event feed" in r.json()["detail"]["message"], r.text
    r = await feed_app.http.post("/api/webhooks", json={"name": "x", "url": "http://127.0.0.1:9/x"}, headers=agent)
    assert r.status_code == 403


async def test_webhook_urls_must_be_http(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    for url in ("ftp://127.0.0.1/x", "file:///etc/passwd", "javascript:alert(1)", "http://user:pw@127.0.0.1/x",
                "127.0.0.1:8080/x",
                # not the cloud metadata service, nor other addresses no receiver lives at (SSRF)
                "http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/x",
                "http://[fe80::1]/x", "http://0.0.0.0:9/x", "http://224.0.0.1/x"):
        r = await feed_app.http.post("/api/webhooks", json={"name": "x", "url": url}, headers=admin)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "url", url
    # The message reads as a sentence ("must not point at 169.254.169.254 is a link-local ..." did not).
    r = await feed_app.http.post("/api/webhooks", json={"name": "x", "url": "http://169.254.169.254/x"},
                                 headers=admin)
    assert r.json()["detail"]["message"].startswith("url: refused: 169.254.169.254 is a link-local"), r.text
    for host, refused in (("169.254.169.254", True), ("localhost", False), ("10.1.2.3", False)):
        assert bool(await resolves_to_refused(host)) is refused, host  # checked again at each delivery
    r = await feed_app.http.post("/api/webhooks", json={"name": "x", "url": "http://127.0.0.1:9/x",
                                                        "types": ["call.dtmf"]}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "types"


async def test_a_webhook_url_with_control_characters_or_spaces_is_a_422(feed_app: FeedApp) -> None:
    """``http://host/h\r\nX: y`` was accepted (201, listed as such): no request can carry it, so the
    subscriber could never get an event, and it read as a header injection (found by the integrator's
    trial). Control characters and spaces inside it are a 422 naming url, nothing saved."""
    admin = await feed_app.headers("ada")
    before = (await feed_app.http.get("/api/webhooks", headers=admin)).json()
    for url in ("http://127.0.0.1:9/h\r\nX-Injected: 1", "http://127.0.0.1:9/h\nx", "http://127.0.0.1:9/a b",
                "http://127.0.0.1:9/h\x00", "http://127.0.0.1:9/h\tx", "http://127.0.0.1:9/h\x7f",
                "http://127.0.0.1:9/h\u2028x"):
        r = await feed_app.http.post("/api/webhooks", json={"name": "x", "url": url}, headers=admin)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "url", (url, r.text)
    assert (await feed_app.http.get("/api/webhooks", headers=admin)).json() == before
    ok = await feed_app.http.post("/api/webhooks", json={"name": "x", "url": " http://127.0.0.1:9/h?a=1&b=%20 "},
                                  headers=admin)
    assert ok.status_code == 201 and ok.json()["url"] == "http://127.0.0.1:9/h?a=1&b=%20", ok.text


async def test_a_webhook_name_with_control_characters_is_a_422_naming_it(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    for name in ("dw\r\nX-Evil: 1", "dw\x00", "dw\t1", "dw\x9b"):
        r = await feed_app.http.post("/api/webhooks", json={"name": name, "url": "http://127.0.0.1:9/x"},
                                     headers=admin)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["detail"]["field"] == "name" and "control characters" in r.json()["detail"]["message"]
    with pytest.raises(InvalidField) as err:  # any other way in (a script on the dispatcher) is refused too
        await feed_app.hooks.create(name="dw\r\n", url="http://127.0.0.1:9/x", types=None, created_by="t")
    assert err.value.field == "name"
    assert (await feed_app.http.get("/api/webhooks", headers=admin)).json() == []


async def test_malformed_webhook_urls_and_ids_are_4xx_not_500(feed_app: FeedApp) -> None:
    """A URL Python cannot split, or whose port no socket takes (the delivery task died on it), and
    ids past 64 bits get a 4xx naming the field."""
    admin = await feed_app.headers("ada")
    for url in ("http://[::1/x", "http://127.0.0.1:99999/x", "http://127.0.0.1:port/x"):
        r = await feed_app.http.post("/api/webhooks", json={"name": "x", "url": url}, headers=admin)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "url", (url, r.text)
    big = 2 ** 64
    for method, path in (("POST", f"/api/webhooks/1/dead-letters/{big}/redeliver"), ("DELETE", f"/api/webhooks/{big}"),
                         ("GET", f"/api/webhooks/{big}/dead-letters"),
                         ("POST", f"/api/webhooks/{big}/dead-letters/1/redeliver")):
        r = await feed_app.http.request(method, path, headers=admin)
        assert r.status_code == 422, (path, r.text)


async def test_webhook_receiver_failing_for_a_while_gets_everything_in_order(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    async with receiving(lambda n: n <= 2 or 6 <= n <= 7) as rec:  # two failures, then two more later
        r = await feed_app.http.post("/api/webhooks", json={"name": "warehouse", "url": rec.url}, headers=admin)
        assert r.status_code == 201
        created = r.json()
        secret = created["secret"]
        listed = (await feed_app.http.get("/api/webhooks", headers=admin)).json()
        assert "secret" not in json.dumps(listed) and secret not in json.dumps(listed)  # shown once
        await _publish(feed_app, range(0, 20))
        await until(lambda: len(rec.accepted) >= 20, 10, "20 deliveries")
        await asyncio.sleep(0.2)
    assert [e["ts"] for e in rec.events()] == list(range(20))  # each once, in order, despite the 500s
    assert rec.requests == 24
    for body, headers in rec.accepted:
        assert verify_signature(secret, body, headers[SIGNATURE_HEADER.lower()])
        assert headers["x-cti-cursor"] == json.loads(body)["cursor"]
    dead = await feed_app.http.get(f"/api/webhooks/{created['id']}/dead-letters", headers=admin)
    assert dead.json() == []


async def test_dead_letter_after_max_attempts_and_redeliver(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    async with receiving(lambda n: n <= 3) as rec:  # max_attempts is 3: the first event dies
        created = (await feed_app.http.post("/api/webhooks", json={"name": "crm", "url": rec.url,
                                                                  "types": ["call.arrived", "call.ended"]},
                                            headers=admin)).json()
        await _publish(feed_app, range(0, 9))
        await until(lambda: len(rec.accepted) >= 5, 10, "5 deliveries")
        dead = (await feed_app.http.get(f"/api/webhooks/{created['id']}/dead-letters", headers=admin)).json()
        assert [(d["type"], d["attempts"], d["last_error"]) for d in dead] == [("call.arrived", 3, "HTTP 500")]
        again = await feed_app.http.post(f"/api/webhooks/{created['id']}/dead-letters/{dead[0]['id']}/redeliver",
                                         headers=admin)
        assert again.json() == {"id": dead[0]["id"], "delivered": True, "error": None}
    assert [e["ts"] for e in rec.events()] == [2, 3, 5, 6, 8, 0]  # the filter held; the re-delivery last
    after = (await feed_app.http.get(f"/api/webhooks/{created['id']}/dead-letters", headers=admin)).json()
    assert after[0]["redelivered_at"] is not None
    gone = await feed_app.http.delete(f"/api/webhooks/{created['id']}", headers=admin)
    assert gone.status_code == 204
    assert (await feed_app.http.get("/api/webhooks", headers=admin)).json() == []


def test_forged_signature_is_detected() -> None:
    body = b'{"cursor":"1","v":1,"type":"call.ended"}'
    from crm_core.webhooks import sign

    good = sign("s3cret", body)
    assert verify_signature("s3cret", body, good)
    assert not verify_signature("s3cret", body.replace(b"ended", b"answered"), good)  # body altered
    assert not verify_signature("other", body, good)  # signed with another secret
    assert not verify_signature("s3cret", body, sign("guess", body))
    assert not verify_signature("s3cret", body, None)
    assert not verify_signature("s3cret", body, "")



async def test_a_cursor_older_than_the_retention_is_told_of_its_gap(feed_app: FeedApp) -> None:
    admin = await feed_app.headers("ada")
    await _publish(feed_app, range(0, 5))
    await feed_app.demo.bus.drain()
    await feed_app.feed.flush()
    feed_app.feed.retention_s = -1.0  # everything is past the retention now
    assert await feed_app.feed.prune() == 4  # the newest row stays
    page = (await feed_app.http.get("/api/events", params={"since": "1"}, headers=admin)).json()
    assert page["gap"] == {"since": "1", "oldest": "5"} and [e["ts"] for e in page["events"]] == [4]
    async with asyncio.timeout(5), feed_app.http.stream("GET", "/api/events/stream", params={"since": "1"},
                                                        headers=admin) as r:
        lines = []
        async for line in r.aiter_lines():
            lines.append(line)
            if line.startswith("data: "):
                break
    assert "event: gap" in lines and lines[-1] == 'data: {"since": "1", "oldest": "5"}'


async def test_a_cursor_ahead_of_the_newest_event_is_refused_naming_it(feed_app: FeedApp) -> None:
    """A cursor the store never handed out (another store's, or one kept from before the database
    was restored from a backup) got an empty page echoing it back, and a stream that stayed silent
    until the ids passed it: the client missed every event in between without a word. It is a 422
    naming the cursor, so the client starts again without it."""
    admin = await feed_app.headers("ada")
    await _publish(feed_app, range(0, 3))
    await feed_app.demo.bus.drain()
    await feed_app.feed.flush()
    r = await feed_app.http.get("/api/events", params={"since": "4"}, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "since" and "newest" in r.json()["detail"]["message"], r.json()
    assert (await feed_app.http.get("/api/events", params={"since": "3"}, headers=admin)).status_code == 200
    r = await feed_app.http.get("/api/events/stream", headers={**admin, "Last-Event-ID": "17"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "Last-Event-ID", r.text


async def test_webhook_delivery_outlives_a_database_outage(feed_app: FeedApp) -> None:
    """The receiver fails an event to the end while the database is away, so its dead letter cannot be
    written: delivery to that subscriber goes on once the database is back (it stopped for good)."""
    from contextlib import asynccontextmanager

    from crm_core.errors import DatabaseUnavailable

    admin = await feed_app.headers("ada")
    db = feed_app.hooks.db
    away = False

    class Flaky:
        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        @asynccontextmanager
        async def session(self) -> AsyncIterator[Any]:
            if away:
                raise DatabaseUnavailable("database away")
            async with db.session() as s:
                yield s

    async with receiving(lambda n: n <= 3) as rec:  # max_attempts is 3: the first event fails to the end
        r = await feed_app.http.post("/api/webhooks", json={"name": "crm", "url": rec.url}, headers=admin)
        assert r.status_code == 201
        feed_app.hooks.db = Flaky()  # type: ignore[assignment]
        away = True
        await _publish(feed_app, range(0, 3))
        await until(lambda: rec.requests >= 3, 10, "three failed attempts")
        await asyncio.sleep(0.3)  # the dead letter cannot be written
        away = False
        await _publish(feed_app, range(3, 6))
        await until(lambda: len(rec.accepted) >= 6, 10, "the events after the outage")
    assert [e["ts"] for e in rec.events()] == list(range(6))  # the failed one again first (at least once)


async def test_a_webhook_url_no_request_can_go_to_is_refused_and_never_stops_delivery(feed_app: FeedApp) -> None:
    """A port out of range was accepted (201), and every delivery to it raised an error that is not
    httpx's HTTPError: the subscriber's task died on its first event, silently, and got nothing more.
    A broken IPv6 literal was a 500."""
    admin = await feed_app.headers("ada")
    for url in ("http://127.0.0.1:99999/x", "http://[::1/x"):
        r = await feed_app.http.post("/api/webhooks", json={"name": "x", "url": url}, headers=admin)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "url", (url, r.text)
    # One stored before the check: each attempt fails like any other, and the event is dead-lettered.
    ok, error = await feed_app.hooks.post("http://127.0.0.1:99999/x", "secret", (1, "call.ended", "{}"), 1)
    assert not ok and error


async def test_a_webhook_delete_the_database_refused_can_be_tried_again(feed_app: FeedApp) -> None:
    """The delete failed on the database (503), but the subscriber was already gone from memory: asking
    again was a 404, and after a restart the webhook was back, delivering."""
    from contextlib import asynccontextmanager

    from crm_core.errors import DatabaseUnavailable

    admin = await feed_app.headers("ada")
    created = (await feed_app.http.post("/api/webhooks", json={"name": "crm", "url": "http://127.0.0.1:9/x"},
                                        headers=admin)).json()
    db = feed_app.hooks.db

    class Away:
        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        @asynccontextmanager
        async def session(self) -> AsyncIterator[Any]:
            raise DatabaseUnavailable("database away")
            yield

    feed_app.hooks.db = Away()  # type: ignore[assignment]
    r = await feed_app.http.delete(f"/api/webhooks/{created['id']}", headers=admin)
    assert r.status_code == 503
    feed_app.hooks.db = db
    assert [w["id"] for w in (await feed_app.http.get("/api/webhooks", headers=admin)).json()] == [created["id"]]
    assert (await feed_app.http.delete(f"/api/webhooks/{created['id']}", headers=admin)).status_code == 204
    assert (await feed_app.http.get("/api/webhooks", headers=admin)).json() == []


async def test_a_named_integration_token_reads_the_stream(feed_app: FeedApp) -> None:
    from agent_console.integrations import IntegrationTokens
    from agent_console.principal import Principal

    tokens = feed_app.demo.app.state.integrations
    assert isinstance(tokens, IntegrationTokens)
    _, token = await tokens.issue(name="dw", audio=False,
                                  by=Principal(user_id=1, username="ada", role="admin", agent_id=None))
    await _publish(feed_app, range(0, 6))
    got = await _read(feed_app, {"Authorization": f"Bearer {token}"}, "0", 6)
    assert [e["ts"] for e in got] == list(range(6))

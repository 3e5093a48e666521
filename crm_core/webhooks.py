"""Webhooks: each subscriber gets the public feed POSTed to its URL, one event per request, in order.

Every subscriber has one delivery task that reads the feed from its own cursor (``Feed.follow``)
and POSTs each event of its types. A failure (connection error, timeout, any non-2xx answer,
redirects included) is retried after 1 s, 2 s, 4 s ... (capped), and the next event waits, so a
receiver sees its events in feed order. After ``max_attempts`` failures the event goes to the
subscriber's dead-letter list (administrators see it and may re-deliver it) and delivery moves
on. The cursor is saved every ``save_every_s``: after a crash a receiver may see the last few
events again (at least once); they carry their ``cursor`` to dedupe on.

The body is signed: ``X-CTI-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``, with a
per-subscriber secret shown once at creation (``verify_signature`` checks it). The database holds
the secret sealed (``crm_core.sealed``): a subscriber stored in clear, or under an old key, is
sealed under the current key on start; one sealed under a key the engine does not have is kept but
not delivered to (``locked`` in its view) until the key is given. This is the one module that makes
outgoing HTTP requests (httpx; the transport is swappable for tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Database
from crm_core.errors import Conflict, InvalidField, NotFound
from crm_core.feed_events import EVENT_TYPES
from crm_core.feed_ring import Feed, Row
from crm_core.models import Base
from crm_core.schemas import no_control_characters
from crm_core.sealed import SecretBox, UnknownKey
from cti.tasks import TaskSet, cancel_and_wait

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-CTI-Signature"


class WebhookSubscriber(Base):
    __tablename__ = "webhook_subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(255))  # sealed (crm_core.sealed); never shown after creation
    types: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # None: every type
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # last feed cursor handled
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class WebhookDeadLetter(Base):
    __tablename__ = "webhook_dead_letters"
    __table_args__ = (Index("ix_webhook_dead_letters_subscriber", "subscriber_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscribers.id", ondelete="CASCADE"))
    cursor: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(300))
    failed_at: Mapped[float] = mapped_column(Float)
    redelivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)


_SUB = cast(Table, WebhookSubscriber.__table__)
_DL = cast(Table, WebhookDeadLetter.__table__)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of exactly ``body`` under ``secret`` (constant time)."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header or "")


Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def refused_address(address: str, allowed: Networks | None = None) -> str | None:
    """Why the engine will not POST to ``address`` (an IP literal), or None. Link-local addresses
    (169.254.169.254 is the cloud metadata service that hands out credentials), multicast,
    unspecified and reserved ones are refused; loopback and private networks are allowed (an
    on-premises CRM lives there) unless ``allowed`` (``feed.webhook_networks``) names the only
    networks webhooks may reach."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    # ::1 is in a reserved block (::/8) for Python, but it is loopback as much as 127.0.0.1 is.
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or (ip.is_reserved and not ip.is_loopback):
        return f"{address} is a link-local, multicast, unspecified or reserved address"
    if allowed is not None and not any(ip.version == net.version and ip in net for net in allowed):
        return f"{address} is outside feed.webhook_networks"
    return None


def check_url(url: str) -> str:
    url = url.strip()
    # CR/LF would read as a header injection, and no request can carry a space or a control
    # character in its URL (RFC 3986: percent-encoded), so nothing would ever arrive.
    if bad := next((c for c in url if c.isspace() or not c.isprintable()), None):
        raise InvalidField("url", f"holds {bad!r} at {url.index(bad)}: a URL has no spaces or control "
                                  "characters (percent-encode them, %20)")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is no number or past 65535 (no socket takes it)
    except ValueError as err:
        raise InvalidField("url", f"is not a valid URL ({err})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("url", "must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidField("url", "must not carry credentials (the signature authenticates the engine)")
    why = refused_address(parts.hostname)
    if why:
        raise InvalidField("url", f"refused: {why}")
    return url


async def resolves_to_refused(host: str, allowed: Networks | None = None) -> str | None:
    """A host name checked when it is configured and at every delivery (its address may change)."""
    if why := refused_address(host, allowed):
        return why
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return None  # the POST itself will fail and say why
    for info in infos:
        why = refused_address(str(info[4][0]), allowed)
        if why:
            return f"{host} resolves to {why}"
    return None


def check_types(types: list[str] | None) -> list[str] | None:
    if types is None:
        return None
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown or not types:
        raise InvalidField("types", f"unknown event types {unknown}" if unknown else "empty: omit it for every type")
    return sorted(set(types))


@dataclass(eq=False)
class _Sub:
    id: int
    name: str
    url: str
    secret: str | None  # None: sealed under a key this engine does not have (not delivered to)
    types: frozenset[str] | None
    cursor: int
    saved: int
    task: asyncio.Task[None] | None = None
    delivered: int = 0
    failed_attempts: int = 0
    dead: int = 0
    latencies: list[float] = field(default_factory=list)  # bench only: ts of delivery - feed accept


class WebhookDispatcher:
    """Delivers the feed to every active subscriber; see the module docstring."""

    def __init__(self, db: Database, feed: Feed, *, box: SecretBox, networks: Networks | None = None,
                 max_attempts: int = 8, backoff_s: float = 1.0, backoff_max_s: float = 300.0, timeout_s: float = 5.0,
                 save_every_s: float = 1.0, client: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.feed = feed
        self.box = box
        self.networks = networks  # None: any address refused_address allows
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.save_every_s = save_every_s
        self.clock = clock
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(
            timeout=timeout_s, follow_redirects=False,
            limits=httpx.Limits(max_connections=500, max_keepalive_connections=500))
        self._subs: dict[int, _Sub] = {}
        self._saver: asyncio.Task[None] | None = None
        self._deliveries = TaskSet(log, "webhook delivery task %s died")  # one per subscriber (its ``task``)
        self._started = False

    # -- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self.db.session() as s:
            rows = (await s.execute(select(_SUB).where(_SUB.c.active.is_(True)))).mappings().all()
            for r in rows:
                secret = self._open(r["id"], r["secret"])
                if secret is not None and (resealed := self.box.reseal(r["secret"])) is not None:
                    # Stored in clear (before sealing) or under an old key: under the current key now.
                    await s.execute(update(_SUB).where(_SUB.c.id == r["id"]).values(secret=resealed))
                self._subs[r["id"]] = _Sub(r["id"], r["name"], r["url"], secret,
                                           frozenset(r["types"]) if r["types"] else None, r["cursor"], r["cursor"])
            # The dead letters kept from earlier runs and not re-delivered: the list counts them too.
            waiting = await s.execute(select(_DL.c.subscriber_id, func.count()).where(_DL.c.redelivered_at.is_(None))
                                      .group_by(_DL.c.subscriber_id))
            for sid, count in waiting.all():
                if sid in self._subs:
                    self._subs[sid].dead = int(count)
        self._started = True
        for sub in self._subs.values():
            self._launch(sub)
        self._saver = asyncio.create_task(self._save_every(), name="webhooks.saver")

    def _open(self, sid: int, stored: str) -> str | None:
        try:
            return self.box.open(stored)
        except UnknownKey:
            log.error("webhook %s: its secret was sealed under another key; nothing is delivered to it until "
                      "that key is in feed.webhook_old_keys (or the webhook is created again)", sid)
            return None

    async def stop(self) -> None:
        self._started = False
        await cancel_and_wait(self._saver)
        await self._deliveries.stop()
        self._saver = None
        for sub in self._subs.values():
            sub.task = None
        await self.save_cursors()
        if self._own_client:
            await self.client.aclose()

    def _launch(self, sub: _Sub) -> None:
        if sub.secret is None:
            return  # locked: it cannot be signed
        sub.task = self._deliveries.spawn(self._run(sub), f"webhook:{sub.id}")

    async def _save_every(self) -> None:
        while True:
            await asyncio.sleep(self.save_every_s)
            try:
                await self.save_cursors()
            except Exception:
                log.exception("webhooks: saving cursors failed (retried)")

    async def save_cursors(self) -> None:
        """Save the cursors that moved. A saved cursor only moves forward: a node fenced by another
        saves its cursors as it stops, behind those the node that routes now saved."""
        moved = [(s.id, s.cursor) for s in self._subs.values() if s.cursor != s.saved]
        if not moved:
            return
        async with self.db.session() as s:
            for sid, cursor in moved:
                await s.execute(update(_SUB).where(_SUB.c.id == sid, _SUB.c.cursor < cursor).values(cursor=cursor))
        for sid, cursor in moved:
            if sid in self._subs:
                self._subs[sid].saved = cursor

    # -- delivery -----------------------------------------------------------------------------

    async def _run(self, sub: _Sub) -> None:
        """Deliver from the subscriber's cursor for as long as the engine runs: a database failure
        (reading events the ring no longer holds, writing a dead letter) is retried from that cursor,
        it does not end delivery to this subscriber."""
        failures = 0
        while True:
            try:
                async for row in self.feed.follow(sub.cursor, types=sub.types, idle_s=3600.0):
                    if row is not None:
                        await self._deliver(sub, row)
                        sub.cursor = row[0]
                        failures = 0
            except Exception:
                failures += 1
                log.exception("webhook %s: delivery failed at cursor %s; it resumes from there", sub.id, sub.cursor)
                await asyncio.sleep(min(self.backoff_s * 2 ** min(failures, 20), self.backoff_max_s))

    async def _deliver(self, sub: _Sub, row: Row) -> None:
        cursor, type_, line = row
        error = ""
        assert sub.secret is not None  # a locked subscriber has no delivery task
        for attempt in range(1, self.max_attempts + 1):
            ok, error = await self.post(sub.url, sub.secret, row, attempt)
            if ok:
                sub.delivered += 1
                return
            sub.failed_attempts += 1
            if attempt < self.max_attempts:
                await asyncio.sleep(min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s))
        log.warning("webhook %s: event %s (%s) dead-lettered after %d attempts: %s", sub.id, cursor, type_,
                    self.max_attempts, error)
        async with self.db.session() as s:
            await s.execute(insert(_DL).values(subscriber_id=sub.id, cursor=cursor, type=type_, body=line,
                                               attempts=self.max_attempts, last_error=error[:300],
                                               failed_at=self.clock()))
        sub.dead += 1  # counted once stored: a client that sees the count finds the dead letter

    async def post(self, url: str, secret: str, row: Row, attempt: int) -> tuple[bool, str]:
        """One delivery attempt: (delivered, error text)."""
        cursor, type_, line = row
        body = line.encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
                   "X-CTI-Event-Type": type_, "X-CTI-Cursor": str(cursor), "X-CTI-Attempt": str(attempt),
                   "User-Agent": "cti-engine-webhooks/1"}
        why = await resolves_to_refused(urlsplit(url).hostname or "", self.networks)
        if why:
            return False, f"refused: {why}"[:300]
        try:
            r = await self.client.post(url, content=body, headers=headers, timeout=self.timeout_s)
        except Exception as err:  # httpx's errors, and what a URL it cannot use raises: a failed attempt
            return False, f"{type(err).__name__}: {err}"[:300]
        if 200 <= r.status_code < 300:
            return True, ""
        return False, f"HTTP {r.status_code}"

    # -- administration -----------------------------------------------------------------------

    async def create(self, *, name: str, url: str, types: list[str] | None,
                     created_by: str) -> tuple[dict[str, Any], str]:
        """A new subscriber starting at the feed's head; returns its view and its secret (shown once)."""
        url, types = check_url(url), check_types(types)
        # With feed.webhook_networks, the host name is resolved now too (an IP literal is checked as is).
        if self.networks is not None and (why := await resolves_to_refused(urlsplit(url).hostname or "",
                                                                           self.networks)):
            raise InvalidField("url", f"refused: {why}")
        if not name.strip() or len(name) > 80:
            raise InvalidField("name", "1 to 80 characters")
        try:  # a CR/LF would forge lines where the name is shown (the list, logs, dead letters)
            no_control_characters(name)
        except ValueError as err:
            raise InvalidField("name", str(err)) from None
        secret = secrets.token_urlsafe(32)
        cursor = self.feed.head
        async with self.db.session() as s:
            sid = (await s.execute(insert(_SUB).returning(_SUB.c.id).values(
                name=name.strip(), url=url, secret=self.box.seal(secret), types=types, active=True, cursor=cursor,
                created_by=created_by, created_at=self.clock()))).scalar_one()
        sub = _Sub(sid, name.strip(), url, secret, frozenset(types) if types else None, cursor, cursor)
        self._subs[sid] = sub
        if self._started:
            self._launch(sub)
        return self.view(sub), secret

    def view(self, sub: _Sub) -> dict[str, Any]:
        return {"id": sub.id, "name": sub.name, "url": sub.url, "types": sorted(sub.types) if sub.types else None,
                "cursor": str(sub.cursor), "delivered": sub.delivered, "failed_attempts": sub.failed_attempts,
                "dead_letters": sub.dead, "locked": sub.secret is None}

    def views(self) -> list[dict[str, Any]]:
        return [self.view(s) for s in sorted(self._subs.values(), key=lambda s: s.id)]

    def _sub(self, sid: int) -> _Sub:
        sub = self._subs.get(sid)
        if sub is None:
            raise NotFound("webhook", sid)
        return sub

    async def delete(self, sid: int) -> None:
        sub = self._sub(sid)
        async with self.db.session() as s:  # first: a delete the database refuses leaves it as it was
            await s.execute(delete(_DL).where(_DL.c.subscriber_id == sid))
            await s.execute(delete(_SUB).where(_SUB.c.id == sid))
        await cancel_and_wait(sub.task)
        self._subs.pop(sid, None)

    async def dead_letters(self, sid: int) -> list[dict[str, Any]]:
        self._sub(sid)
        async with self.db.session() as s:
            rows = (await s.execute(select(_DL).where(_DL.c.subscriber_id == sid).order_by(_DL.c.id))).mappings().all()
        return [{"id": r["id"], "cursor": str(r["cursor"]), "type": r["type"], "attempts": r["attempts"],
                 "last_error": r["last_error"], "failed_at": r["failed_at"], "redelivered_at": r["redelivered_at"]}
                for r in rows]

    async def redeliver(self, sid: int, dead_id: int) -> dict[str, Any]:
        """One more attempt now (out of order by nature); a success marks the dead letter redelivered."""
        sub = self._sub(sid)
        if sub.secret is None:
            raise Conflict("webhook", "its secret was sealed under a key this engine does not have "
                                      "(feed.webhook_old_keys)")
        async with self.db.session() as s:
            r = (await s.execute(select(_DL).where(_DL.c.id == dead_id, _DL.c.subscriber_id == sid))).mappings().first()
        if r is None:
            raise NotFound("dead letter", dead_id)
        ok, error = await self.post(sub.url, sub.secret, (r["cursor"], r["type"], r["body"]), r["attempts"] + 1)
        async with self.db.session() as s:
            values: dict[str, Any] = {"attempts": r["attempts"] + 1}
            if ok:
                values["redelivered_at"] = self.clock()
                if r["redelivered_at"] is None:  # no longer waiting
                    sub.dead = max(0, sub.dead - 1)
            else:
                values["last_error"] = error[:300]
            await s.execute(update(_DL).where(_DL.c.id == dead_id).values(**values))
        return {"id": dead_id, "delivered": ok, "error": error or None}

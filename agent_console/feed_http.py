"""The event feed's HTTP API (docs/event-feed.md): a page of events, the Server-Sent-Events stream,
and the administrators' webhook subscriptions.

Who may read the feed: administrators (session token) and integrations (a named integration token,
or one of ``settings.feed.integration_tokens``: ``agent_console.integrations``); webhooks:
administrators only. ``agent_console.policy`` decides, as for every route.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from agent_console import policy
from agent_console.security import Principal, current_principal
from crm_core.errors import InvalidField
from crm_core.feed_events import EVENT_TYPES, SCHEMA_VERSION
from crm_core.feed_ring import CursorAhead, Feed, parse_cursor
from crm_core.schemas import MAX_ID, no_control_characters
from crm_core.webhooks import WebhookDispatcher

HEARTBEAT_S = 4.0  # well below proxies' idle timeouts (nginx: 60 s) and clients' read timeouts (httpx: 5 s)
_admin = current_principal  # administrators (webhooks) and readers (the feed): agent_console.policy
Id = Annotated[int, Path(ge=1, le=MAX_ID)]  # database ids are signed 64-bit


def _cursor(value: str | None, name: str) -> int | None:
    try:
        cursor = parse_cursor(value)
    except ValueError as err:
        raise InvalidField(name, str(err)) from None
    if cursor is not None and cursor > MAX_ID:  # 19 digits past 2^63-1: no event id, and no database integer
        raise InvalidField(name, f"cursor {cursor} is past the largest event id ({MAX_ID})")
    return cursor


async def _gap(feed: Feed, after: int | None, name: str) -> dict[str, str] | None:
    try:
        return await feed.gap(after)
    except CursorAhead as err:
        raise InvalidField(name, str(err)) from None


def _types(value: str | None) -> frozenset[str] | None:
    if not value:
        return None
    wanted = frozenset(t.strip() for t in value.split(",") if t.strip())
    unknown = sorted(wanted - set(EVENT_TYPES))
    if unknown:
        raise InvalidField("types", f"unknown event types {unknown}")
    return wanted


class WebhookIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)

    @field_validator("name")
    @classmethod
    def _plain(cls, value: str) -> str:
        return no_control_characters(value)
    url: str = Field(min_length=8, max_length=2000)
    types: list[str] | None = None


def build_feed_router(feed: Feed, hooks: WebhookDispatcher, closing: asyncio.Event | None = None) -> APIRouter:
    """``closing`` set (the engine's stop) ends the open streams at their next frame, within
    ``HEARTBEAT_S``: the web server's graceful stop waits for every response, and a stream never ends
    on its own. Their readers reconnect with their cursor to the next engine."""
    closing = closing or asyncio.Event()
    router = APIRouter(tags=["event feed"], dependencies=[Depends(policy.enforce)])
    reader = current_principal  # who reads: agent_console.policy ("feed.read")

    @router.get("/api/events")
    async def events_page(since: str | None = Query(None), limit: int = Query(500, ge=1, le=5000),
                          types: str | None = Query(None), _who: Principal = Depends(reader)) -> Response:
        after = _cursor(since, "since") or 0
        wanted = _types(types)
        gap = await _gap(feed, after, "since")
        rows = await feed.page(after, limit, wanted)
        last = str(rows[-1][0]) if rows else str(after)
        head = (f'{{"v":{SCHEMA_VERSION},"cursor":"{last}","gap":{json.dumps(gap)},'
                f'"more":{"true" if len(rows) == limit else "false"},"events":[')
        return Response(head + ",".join(r[2] for r in rows) + "]}", media_type="application/json")

    @router.get("/api/events/stream")
    async def events_stream(request: Request, since: str | None = Query(None), types: str | None = Query(None),
                            _who: Principal = Depends(reader)) -> StreamingResponse:
        # EventSource sends Last-Event-ID itself when it reconnects; an explicit since= wins.
        after, name = _cursor(since, "since"), "since"
        if after is None:
            after, name = _cursor(request.headers.get("last-event-id"), "Last-Event-ID"), "Last-Event-ID"
        wanted = _types(types)
        gap = await _gap(feed, after, name)

        async def frames() -> AsyncIterator[str]:
            yield "retry: 2000\n\n"
            if gap is not None:
                yield f"event: gap\ndata: {json.dumps(gap)}\n\n"
            # The rows read at once go out as one piece: one write per wake, not one per event.
            async for rows in feed.follow_batches(after, types=wanted, idle_s=HEARTBEAT_S):
                if closing.is_set():
                    return
                yield ": keepalive\n\n" if rows is None else "".join([f"id: {r[0]}\ndata: {r[2]}\n\n" for r in rows])

        return StreamingResponse(frames(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @router.get("/api/events/types")
    async def event_types(_who: Principal = Depends(reader)) -> dict[str, Any]:
        return {"v": SCHEMA_VERSION, "types": list(EVENT_TYPES)}

    @router.post("/api/webhooks", status_code=201)
    async def create_webhook(body: WebhookIn, p: Principal = Depends(_admin)) -> dict[str, Any]:
        view, secret = await hooks.create(name=body.name, url=body.url, types=body.types, created_by=p.username)
        return {**view, "secret": secret}  # the only time the secret is shown

    @router.get("/api/webhooks")
    async def list_webhooks(_p: Principal = Depends(_admin)) -> list[dict[str, Any]]:
        return hooks.views()

    @router.delete("/api/webhooks/{sid}", status_code=204)
    async def delete_webhook(sid: Id, _p: Principal = Depends(_admin)) -> Response:
        await hooks.delete(sid)
        return Response(status_code=204)

    @router.get("/api/webhooks/{sid}/dead-letters")
    async def dead_letters(sid: Id, _p: Principal = Depends(_admin)) -> list[dict[str, Any]]:
        return await hooks.dead_letters(sid)

    @router.post("/api/webhooks/{sid}/dead-letters/{dead_id}/redeliver")
    async def redeliver(sid: Id, dead_id: Id, _p: Principal = Depends(_admin)) -> dict[str, Any]:
        return await hooks.redeliver(sid, dead_id)

    return router

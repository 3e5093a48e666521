"""Web callback requests (docs/callbacks.md): ``POST /api/callback-requests`` with a number and a
queue puts a virtual-hold entry at the end of that queue; the customer is called back at its turn,
as a caller who pressed the key while waiting would be.

The route is public (a company's web site posts to it), so it is throttled twice: per client
address (one host asking for many numbers; an IPv6 address by its /64) and per normalised number
(many hosts asking for one number: nobody is called again and again). Every attempt counts, refused
ones included. The limits are settings (``callbacks.requests_per_address``, ``requests_per_number``,
``requests_window_min``).

A request has no call to take a language from: the CRM customer with that number (the IVR's caller
lookup) puts themselves on the entry, for the agent's pop, and their language, which the callback
speaks (``ivr.language.sound_language``: ``zh-CN`` is said in ``zh``); an unknown number, or the CRM
away, leaves the PBX's default.

The answer carries a ``cancel_token`` (an HMAC of the request's id under the console's session
secret: nothing to store, nothing to guess): ``POST /api/callback-requests/{id}/cancel`` with it
takes the request out of its queue. Supervisors cancel any waiting entry without a token
(``POST /api/supervisor/callback-requests/{id}/cancel``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from acd.errors import InvalidRequest
from acd.virtual_hold import VirtualEntry
from agent_console import policy, queue_scope
from agent_console.errors import Forbidden, InvalidInput, RequestThrottled
from agent_console.queue_scope import scope_of
from agent_console.security import Principal, address_key, client_address, current_principal
from ivr.directory import CallerIdentity
from ivr.errors import DirectoryUnavailable
from ivr.language import sound_language

log = logging.getLogger(__name__)


class CallbackRequests(Protocol):
    """The ACD side (``acd.virtual_hold_pbx.VirtualHold``)."""

    def normalise(self, number: str, queue: str) -> str: ...

    async def request(self, number: str, queue: str, *, customer_id: int | None = None,
                      language: str | None = None) -> VirtualEntry: ...

    async def cancel(self, entry_id: str, *, actor: str) -> VirtualEntry: ...

    def queue_of(self, entry_id: str) -> str | None: ...


@dataclass
class SlidingLimit:
    """At most ``limit`` hits per key in any ``window_s``; the table of keys is bounded."""

    limit: int
    window_s: float
    max_keys: int = 100_000
    clock: Callable[[], float] = time.time
    _hits: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def hit(self, key: str) -> float:
        """Count a hit; seconds to wait when it is over the limit (then it is not counted), else 0."""
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1.0, hits[0] + self.window_s - now)
        hits.append(now)
        return 0.0


class CallbackRequestIn(BaseModel):
    number: str = Field(min_length=3, max_length=32, description="the customer's phone number, any common format")
    queue: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")


class CancelIn(BaseModel):
    token: str = Field(min_length=1, max_length=128, pattern=r"^[0-9a-f]+$",
                       description="the ``cancel_token`` of the request's answer")


RequestId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


@contextlib.contextmanager
def _one_code() -> Iterator[None]:
    """The ACD's refusal of a field (a number it cannot route or that waits already, a queue without
    virtual hold) as every other bad field of this route: ``invalid_input`` naming it. A web site's
    form handled two codes for one mistake (the schema's and the toll-fraud check's were this one)."""
    try:
        yield
    except InvalidRequest as err:
        raise InvalidInput(err.field, str(err).removeprefix(f"{err.field}: ")) from None


def _cancelled(entry: VirtualEntry) -> dict[str, Any]:
    return {"id": entry.entry_id, "queue": entry.queue, "state": entry.state.value}


def build_callback_request_router(requests: CallbackRequests, *, secret: bytes,
                                  lookup: Callable[[str], Awaitable[CallerIdentity | None]] | None = None,
                                  per_address: SlidingLimit | None = None,
                                  per_number: SlidingLimit | None = None,
                                  refusal: Callable[[str], str | None] | None = None) -> APIRouter:
    """``secret`` signs the cancel tokens; ``lookup(e164)``: the CRM customer with that number (the
    IVR's ``CustomerDirectory.lookup_by_number``), put on the entry for the agent's pop, whose language
    the callback speaks; ``refusal(e164)``: why a number may not be called back at a
    stranger's request (another country, a premium-rate number: toll fraud), else None."""
    by_address = per_address or SlidingLimit(10, 3600.0)
    by_number = per_number or SlidingLimit(3, 3600.0)
    r = APIRouter(tags=["callbacks"], dependencies=[Depends(policy.enforce)])
    key = secret or secrets.token_bytes(32)  # no configured secret: tokens hold until a restart

    def token_of(entry_id: str) -> str:
        return hmac.new(key, f"callback-request:{entry_id}".encode(), hashlib.sha256).hexdigest()[:40]

    @r.post("/api/callback-requests", status_code=202)
    async def request_callback(body: CallbackRequestIn, request: Request) -> dict[str, Any]:
        wait = by_address.hit(address_key(client_address(request)))
        if wait:
            raise RequestThrottled("too many callback requests from this address", wait)
        with _one_code():
            e164 = requests.normalise(body.number, body.queue)  # 422 naming the field when it is no number
        refused = refusal(e164) if refusal is not None else None
        if refused is not None:
            raise InvalidInput("number", f"{e164} {refused}")
        wait = by_number.hit(e164)
        if wait:
            raise RequestThrottled("too many callback requests for this number", wait)
        found = None
        if lookup is not None:
            try:
                found = await lookup(e164)
            except DirectoryUnavailable:  # taken unidentified, as the IVR takes a caller: the entry is journaled
                log.info("callback request: the CRM cannot say whose number it is now; no customer, default language")
        language = sound_language(found.language) if found is not None and found.language else None
        with _one_code():
            entry = await requests.request(e164, body.queue, customer_id=found.customer_id if found else None,
                                           language=language)
        return {"id": entry.entry_id, "number": entry.number, "queue": entry.queue, "state": entry.state.value,
                "cancel_token": token_of(entry.entry_id)}

    @r.post("/api/callback-requests/{request_id}/cancel")
    async def cancel_request(request_id: RequestId, body: CancelIn) -> dict[str, Any]:
        """The requester changed their mind: the request leaves its queue (404 when it is not
        waiting, 409 once its callback is under way)."""
        if not hmac.compare_digest(body.token.encode(), token_of(request_id).encode()):
            refused = Forbidden("this token does not cancel this callback request")  # its body names the field:
            refused.field = "token"  # type: ignore[attr-defined]
            raise refused
        return _cancelled(await requests.cancel(request_id, actor="requester"))

    @r.post("/api/supervisor/callback-requests/{request_id}/cancel")
    async def cancel_any(request_id: RequestId, request: Request,
                         who: Principal = Depends(current_principal)) -> dict[str, Any]:
        """A supervisor takes a waiting virtual-hold entry (web or queue) out of its queue; one of
        their queues (another team's: 403 naming it)."""
        db = getattr(request.app.state, "crm_db", None)
        scope = await scope_of(db, who) if db is not None else queue_scope.scope_for(who.role, ())
        queue = requests.queue_of(request_id)
        if queue is not None and not scope.sees(queue):
            raise Forbidden(f"callback request {request_id} waits in queue {queue!r}, not one of your queues "
                            f"(you oversee {scope.describe()})")
        return _cancelled(await requests.cancel(request_id, actor=who.username))

    return r

"""The agent websocket hub: one live connection per agent, a per-agent snapshot, bounded sends.

* One connection per agent: a new connection for the same agent **replaces** the old one (the old
  gets ``bye{reason: replaced}`` and is closed with 4000). A browser refresh opens the new socket
  before the old one's close is noticed, and two live consoles for one agent would double actions.
* The hub keeps each agent's state, current offer, calls and their pops from the bus events, so
  a (re)connecting client's first frame ``hello`` holds everything its screen needs. An agent the
  hub has not seen yet is seeded from ``AgentDesk.snapshot``.
* Frames are serialized once and handed to the connection's ``Outbox``: sent at once while the
  socket keeps up, else queued (bounded). A client whose queue is full is dropped (close 4008, it
  reconnects and gets a fresh ``hello``) instead of stalling the bus or other agents.
* Sessions: each connection re-checks its session (user active, not logged out; shared through the
  database) on every client frame and every ``ConsoleAuth.recheck_s``; a logout or deactivation
  in this process closes the user's socket at once (4001 ``bye{reason: logged_out}``). A socket
  closes when its token expires (``session_expired``) unless a ``reauth`` frame handed it the
  session's renewed token (``POST /api/auth/renew``), whose expiry it then follows.
* Offers: when the event carries no pop the hub asks its PopSource, waiting at most
  ``pop_timeout_s``; after that the offer goes out with a placeholder pop and a ``pop`` frame
  follows when the CRM answers.
* A customer changed in the CRM or a call linked to another customer: the kept pops are refreshed
  and their agents get a ``pop`` frame (``agent_console.pop_refresh``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from acd.events import (
    AgentCallUpdate,
    AgentNotReadyPending,
    AgentOffer,
    AgentOfferWithdrawn,
    AgentStateChanged,
    ConsoleEvent,
)
from agent_console import policy
from agent_console import protocol as p
from agent_console.deadlines import Deadlines
from agent_console.errors import NotAuthenticated, shown_message
from agent_console.outbox import Outbox
from agent_console.plain import dumps, plain_validator
from agent_console.pop_refresh import PopRefresh
from agent_console.ports import AgentDesk, CustomerSearch, PopSource
from agent_console.security import ConsoleAuth, Principal
from agent_console.service import ConsoleService
from crm_core.events import CustomerChanged, CustomerLinked
from cti.bus import EventBus
from cti.errors import CtiError
from cti.tasks import TaskSet

log = logging.getLogger(__name__)

CLOSE_REPLACED = 4000
CLOSE_LOGGED_OUT = 4001
CLOSE_SLOW = 4008

# Agent sockets are served without permessage-deflate (uvicorn's ``ws_per_message_deflate``; every
# server of the console passes this). Measured in bench/screen_pop.py: deflate about doubles the
# server's CPU per frame (one zlib state per socket, ~45 KB each) to shrink frames of a few KB that
# are sent a few times per call. See docs/websocket-protocol.md, "Compression".
PER_MESSAGE_DEFLATE = False


# The offer frame's hot path (agent_console/plain.py): the pop validated into plain data, the frame
# written by orjson; the models are built from that data only when something reads the snapshot.
_POP = plain_validator(p.Pop)
_OFFER = plain_validator(p.OfferView, passthrough=("pop",))


def _plain_pop(linkedid: str, raw: dict[str, Any], agent_id: str) -> dict[str, Any]:
    """``Pop.model_validate(...).model_dump()`` of a complete pop, without the models; the customer's
    last contacts without other agents' notes (agent_console.policy)."""
    interactions = policy.others_notes_blanked(agent_id, raw.get("interactions") or ())
    return _POP.validate_python(  # type: ignore[no-any-return]
        {**raw, "call_id": linkedid, "complete": True, "interactions": interactions})


def _plain_offer_frame(ev: AgentOffer, pop: dict[str, Any]) -> bytes:
    """``_offer_frame(_offer_view(ev, Pop(**pop)))`` in UTF-8, the same bytes, from plain data."""
    offer = _OFFER.validate_python({"call_id": ev.linkedid, "queue": ev.queue, "caller_number": ev.caller_number,
                                    "offered_at": ev.ts, "ring_timeout_s": ev.ring_timeout_s,
                                    "direction": ev.direction, "campaign": ev.campaign, "callback": ev.callback,
                                    "pop": pop})
    return dumps({"type": "offer", "offer": offer})


def _placeholder(ev: AgentOffer) -> p.Pop:
    # The plain constructor, not model_construct: with pydantic 2.14 model_construct (a Python
    # loop over the fields) costs 5x the validating constructor for these few typed fields.
    return p.Pop(call_id=ev.linkedid, caller_number=ev.caller_number, waited_s=ev.waited_s, queue=ev.queue,
                 skills=dict(ev.skills or {}), complete=False)


def _offer_view(ev: AgentOffer, pop: p.Pop | None = None) -> p.OfferView:
    return p.OfferView(call_id=ev.linkedid, queue=ev.queue, caller_number=ev.caller_number, offered_at=ev.ts,
                       ring_timeout_s=ev.ring_timeout_s, direction=ev.direction, campaign=ev.campaign,
                       callback=ev.callback, pop=pop or _placeholder(ev))


def _answered_late(raw: str | bytes) -> bool:
    """An attended transfer: the consult to a number is answered once the number answers (the dial
    gives up after 30 s). Its frame is carried out aside, so that the agent's next ones, Back to
    caller above all, are not held up behind it; every other frame is carried out in turn."""
    if b"attended" not in (raw.encode() if isinstance(raw, str) else raw):
        return False
    try:
        msg = p.parse_client_frame(raw)
    except p.FrameError:
        return False
    return isinstance(msg, p.Transfer) and msg.kind == "attended"


class _Snap:
    """An agent's state, current offer and calls.

    The current offer may be held as its bus event only (``pending``): while the CRM looks the caller
    up, the view with a placeholder pop is built only if something reads it (a hello, the pop timeout);
    in the usual case the CRM answers in time and the view is built once, with the real pop.
    """

    __slots__ = ("_offer", "_pending", "_pending_pop", "calls", "offer_ev", "state")

    def __init__(self, state: p.AgentStateView, offer: p.OfferView | None = None,
                 calls: dict[str, p.CallView] | None = None) -> None:
        self.state = state
        self.calls: dict[str, p.CallView] = calls if calls is not None else {}
        self.offer_ev: AgentOffer | None = None  # the bus event of the current offer (None: seeded or none)
        self._offer, self._pending = offer, None  # type: tuple[p.OfferView | None, AgentOffer | None]
        self._pending_pop: dict[str, Any] | None = None  # the pending offer's pop as plain data, once known

    @property
    def offer(self) -> p.OfferView | None:
        if self._pending is not None:
            pop = p.Pop.model_validate(self._pending_pop) if self._pending_pop is not None else None
            self._offer, self._pending, self._pending_pop = _offer_view(self._pending, pop), None, None
        return self._offer

    @offer.setter
    def offer(self, view: p.OfferView | None) -> None:
        self._offer, self._pending, self._pending_pop, self.offer_ev = view, None, None, None

    def offer_pending(self, ev: AgentOffer, pop: dict[str, Any] | None = None) -> None:
        """``ev`` is the current offer; its view is built when read (with ``pop``: plain, validated)."""
        self._offer, self._pending, self._pending_pop, self.offer_ev = None, ev, pop, ev

    def offer_built(self, ev: AgentOffer, view: p.OfferView) -> None:
        self._offer, self._pending, self._pending_pop, self.offer_ev = view, None, None, ev

    def pending_is(self, ev: AgentOffer) -> bool:
        """``ev`` is the current offer and its view has not been built (nobody has read it)."""
        return self._pending is ev

    def offer_call_id(self) -> str | None:
        """The current offer's call id, without building a pending view."""
        if self._pending is not None:
            return self._pending.linkedid
        return self._offer.call_id if self._offer is not None else None


@dataclass(eq=False)
class _Conn:
    ws: WebSocket
    who: Principal
    out: Outbox
    closing: int | None = None
    tokens: float = 0.0
    refill_at: float = 0.0
    token: str = ""
    expiry: asyncio.TimerHandle | None = None  # closes the socket when its token expires
    ended: Callable[[str], None] | None = None  # what the auth's socket registry calls


def _offer_frame(offer: p.OfferView) -> str:
    """``OfferFrame(offer=offer).model_dump_json()`` without building and re-checking the wrapper."""
    return '{"type":"offer","offer":' + offer.model_dump_json() + "}"


class AgentHub:
    def __init__(self, *, desk: AgentDesk, pops: PopSource, service: ConsoleService,
                 clock: Callable[[], float] = time.time, queue_size: int = 256, pop_timeout_s: float = 0.3,
                 rate_per_s: float = 20.0, burst: float = 40.0, auth: ConsoleAuth | None = None,
                 customers: CustomerSearch | None = None) -> None:
        self.desk, self.pops, self.service, self.clock, self.auth = desk, pops, service, clock, auth
        self.queue_size, self.pop_timeout_s = queue_size, pop_timeout_s
        self.rate_per_s, self.burst = rate_per_s, burst
        self.conns: dict[str, _Conn] = {}
        self.snaps: dict[str, _Snap] = {}
        self.dropped_slow = 0
        self._tasks = TaskSet(log, "console hub: %s failed")  # CRM look-ups for pops, hard closes
        self._deadlines = Deadlines()
        self._spawned = 0
        self.refresh = PopRefresh(self.snaps, self._build, self._send, customers)

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(ConsoleEvent, self.on_event, name="agent_console.hub")
        bus.subscribe(CustomerChanged, self.refresh.customer_changed, name="agent_console.hub.customers")
        bus.subscribe(CustomerLinked, self.refresh.customer_linked, name="agent_console.hub.links")

    # -- bus side --------------------------------------------------------------------------------

    def _snap(self, agent_id: str) -> _Snap:
        snap = self.snaps.get(agent_id)
        if snap is None:
            snap = self.snaps[agent_id] = _Snap(p.AgentStateView(agent_id=agent_id))
        return snap

    async def on_event(self, ev: ConsoleEvent) -> None:
        match ev:
            case AgentStateChanged():
                view = p.AgentStateView(agent_id=ev.agent_id, state=ev.state, reason=ev.reason,
                                        since=ev.since or ev.ts, queues=list(ev.queues),
                                        not_ready_after_call=ev.not_ready_after_call, wrap_until=ev.wrap_until)
                self._snap(ev.agent_id).state = view
                self._send(ev.agent_id, p.StateFrame(state=view).model_dump_json())
            case AgentNotReadyPending():
                snap = self._snap(ev.agent_id)
                snap.state = snap.state.model_copy(update={"not_ready_after_call": ev.reason})
                self._send(ev.agent_id, p.StateFrame(state=snap.state).model_dump_json())
            case AgentOffer():
                await self._offer(ev)
            case AgentOfferWithdrawn():
                snap = self._snap(ev.agent_id)
                if snap.offer_call_id() == ev.linkedid:
                    snap.offer = None
                snap.calls.pop(ev.linkedid, None)
                self.refresh.forget(ev.linkedid)
                self._send(ev.agent_id, p.OfferWithdrawnFrame(call_id=ev.linkedid, reason=ev.reason).model_dump_json())
            case AgentCallUpdate():
                self._call_update(ev)

    def _call_update(self, ev: AgentCallUpdate) -> None:
        snap = self._snap(ev.agent_id)
        old = snap.calls.get(ev.linkedid)
        pop = old.pop if old is not None else None
        if snap.offer_call_id() == ev.linkedid:
            pop = pop or snap.offer.pop  # type: ignore[union-attr]  # the call id says there is one
            if ev.status != "ringing":
                snap.offer = None
        linked = self.refresh.linked_customer(ev.linkedid)  # a link wins over an update published before it
        customer_id = linked if linked is not None else ev.customer_id
        view = p.CallView(call_id=ev.linkedid, status=ev.status, direction=ev.direction, peer_number=ev.peer_number,
                          customer_id=customer_id, queue=ev.queue, started_at=ev.started_at or ev.ts,
                          detail=ev.detail, pop=pop)
        if ev.status == "closed":
            snap.calls.pop(ev.linkedid, None)
            self.refresh.forget(ev.linkedid)
        else:
            snap.calls[ev.linkedid] = view
        self._send(ev.agent_id, p.CallFrame(call=view).model_dump_json())
        if old is None and ev.direction == "outbound" and pop is None:
            info = {"caller_number": ev.peer_number, "customer_id": customer_id, "queue": ev.queue,
                    "direction": "outbound"}
            self._tasks.spawn(self._late_pop(ev.agent_id, ev.linkedid, self._build(ev.linkedid, ev.agent_id, info)),
                              f"hub.late_pop:{ev.linkedid}")

    async def _build(self, linkedid: str, agent_id: str, info: dict[str, Any]) -> dict[str, Any]:
        """The pop as plain, validated data (a ``Pop``'s ``model_dump()``)."""
        return _plain_pop(linkedid, await self.pops.build_pop(linkedid, agent_id, info), agent_id)

    async def _offer(self, ev: AgentOffer) -> None:
        snap = self._snap(ev.agent_id)
        if ev.pop is not None:
            try:
                pop = _plain_pop(ev.linkedid, ev.pop, ev.agent_id)
            except ValidationError:
                log.exception("offer %s: malformed pop from publisher", ev.linkedid)
                offer = _offer_view(ev)
                snap.offer_built(ev, offer)
                self._send(ev.agent_id, _offer_frame(offer))
                return
            snap.offer_pending(ev, pop)
            self._send(ev.agent_id, _plain_offer_frame(ev, pop))
            return
        snap.offer_pending(ev)  # a reconnect during the CRM look-up still sees the offer (built then)
        # The CRM look-up runs beside the bus worker, so a slow CRM never delays other agents' events.
        self._tasks.spawn(self._deliver_offer(ev), f"hub.offer:{ev.linkedid}")
        # Let them (and the socket writers) run every few offers: in a burst the first pops go out at
        # once instead of after the whole burst has been taken off the bus. Not after every offer:
        # each yield is a turn of the loop (an epoll call) per offer.
        self._spawned += 1
        if self._spawned % 8 == 0:
            await asyncio.sleep(0)

    async def _deliver_offer(self, ev: AgentOffer) -> None:
        linked = self.refresh.linked_customer(ev.linkedid)
        info = {"caller_number": ev.caller_number, "customer_id": linked if linked is not None else ev.customer_id,
                "queue": ev.queue, "waited_s": ev.waited_s, "skills": ev.skills or {}, "direction": ev.direction}
        snap = self._snap(ev.agent_id)
        placeholder_sent = False

        def _slow() -> None:
            nonlocal placeholder_sent
            if snap.offer_ev is ev:
                placeholder_sent = True
                log.warning("offer %s: pop not ready in %.0f ms, sent placeholder", ev.linkedid,
                            self.pop_timeout_s * 1e3)
                self._send(ev.agent_id, _offer_frame(snap.offer))  # type: ignore[arg-type]  # current: built here

        # A deadline rather than a second task + asyncio.wait (or a loop timer each): see deadlines.py.
        timer = self._deadlines.add(self.pop_timeout_s, _slow)
        try:
            pop: dict[str, Any] | None = await self._build(ev.linkedid, ev.agent_id, info)
        except Exception:
            log.exception("offer %s: pop failed", ev.linkedid)
            pop = None
        finally:
            timer.cancel()
        if pop is not None and not self.refresh.current(ev.linkedid, pop):
            # Linked to another customer during the look-up: that link's refresh shows them, whichever ends last.
            log.info("offer %s: linked during the pop's look-up, the link's pop stands", ev.linkedid)
            pop = None
        if snap.offer_ev is ev:
            if pop is not None and snap.pending_is(ev):
                # Nobody read the pending offer: the frame from plain data, the view only if read later.
                snap.offer_pending(ev, pop)
                self._send(ev.agent_id, _plain_offer_frame(ev, pop))
                return
            offer: p.OfferView = snap.offer  # type: ignore[assignment]  # current, so present
            model = p.Pop.model_validate(pop) if pop is not None else None
            if model is not None:
                offer.pop = model
            if not placeholder_sent:
                self._send(ev.agent_id, _offer_frame(offer))
            elif model is not None:
                self._send(ev.agent_id, p.PopFrame(call_id=ev.linkedid, pop=model).model_dump_json())
            return
        # Answered (or withdrawn) while the CRM looked up the caller: give the call its pop.
        call = snap.calls.get(ev.linkedid)
        if call is not None and pop is not None:
            call.pop = p.Pop.model_validate(pop)
            self._send(ev.agent_id, p.PopFrame(call_id=ev.linkedid, pop=call.pop).model_dump_json())

    async def _late_pop(self, agent_id: str, call_id: str, pending: Any) -> None:
        try:
            raw = await pending
            pop = p.Pop.model_validate(raw)
        except Exception:
            log.exception("pop for %s failed", call_id)
            return
        if not self.refresh.current(call_id, raw):
            return  # linked to another customer during the look-up: that link's refresh shows them
        snap = self._snap(agent_id)
        if snap.offer_call_id() == call_id:
            snap.offer.pop = pop  # type: ignore[union-attr]  # the call id says there is one
        elif call_id in snap.calls:
            snap.calls[call_id].pop = pop
        else:
            return
        self._send(agent_id, p.PopFrame(call_id=call_id, pop=pop).model_dump_json())

    # -- connection side -------------------------------------------------------------------------

    def _send(self, agent_id: str, frame: str | bytes) -> None:
        conn = self.conns.get(agent_id)
        if conn is None or conn.closing is not None:
            return
        if not conn.out.put(frame):
            self.dropped_slow += 1
            log.warning("agent %s: console too slow (%d frames queued), dropping it", agent_id, self.queue_size)
            self._close(conn, CLOSE_SLOW, None)

    def _close(self, conn: _Conn, code: int, bye: str | None) -> None:
        """Close after the queued frames (and ``bye``) are sent; a slow client is cut at once."""
        if conn.closing is not None:
            return
        conn.closing = code
        if self.conns.get(conn.who.agent_id or "") is conn:
            del self.conns[conn.who.agent_id or ""]
        if bye is None:
            conn.out.cancel()
            self._tasks.spawn(self._hard_close(conn, code), f"hub.close:{conn.who.agent_id}")
            return
        conn.out.close_after(p.Bye(reason=bye).model_dump_json(), code)

    async def _hard_close(self, conn: _Conn, code: int) -> None:
        with contextlib.suppress(Exception):
            if conn.ws.application_state == WebSocketState.CONNECTED:
                await conn.ws.close(code)

    def disconnect_agent(self, agent_id: str, reason: str = "logged_out") -> None:
        conn = self.conns.get(agent_id)
        if conn is not None:
            self._close(conn, CLOSE_LOGGED_OUT, reason)

    async def hello(self, who: Principal) -> p.Hello:
        """The snapshot frame (seeds the hub from the desk for an agent it has not seen)."""
        agent_id = who.agent_id or ""
        catalog = await self.desk.catalog(agent_id)
        if agent_id not in self.snaps:
            ds = await self.desk.snapshot(agent_id)
            if agent_id not in self.snaps:  # an event may have arrived meanwhile: it is newer
                self.snaps[agent_id] = _Snap(ds.state, ds.offer, {c.call_id: c for c in ds.calls})
        snap = self.snaps[agent_id]
        return p.Hello(server_time=self.clock(), state=snap.state, offer=snap.offer, calls=list(snap.calls.values()),
                       catalog=catalog, agent=p.AgentView(user_id=who.user_id, username=who.username, role=who.role,
                                                          agent_id=who.agent_id, display_name=who.display_name))

    async def serve(self, ws: WebSocket, who: Principal, *, expires_at: float | None = None, token: str = "") -> None:
        """Run one accepted agent connection until it closes (at the latest when the session expires)."""
        agent_id = who.agent_id or ""
        hello = await self.hello(who)
        # No await between building hello and registering: no event can fall in between.
        hello_frame = hello.model_copy(update={"server_time": self.clock()}).model_dump_json()
        old = self.conns.get(agent_id)
        if old is not None:
            self._close(old, CLOSE_REPLACED, "replaced")
        conn = _Conn(ws, who, Outbox(ws, self.queue_size), tokens=self.burst, refill_at=self.clock(), token=token)
        self.conns[agent_id] = conn
        conn.out.put(hello_frame)
        if expires_at is not None:
            self._expire_at(conn, expires_at)
        unregister = None
        if self.auth is not None:
            def _ended(reason: str) -> None:
                self._close(conn, CLOSE_LOGGED_OUT, "logged_out")

            conn.ended = _ended
            unregister = self.auth.register_socket(who.user_id, _ended, token)
        try:
            await self._reader(conn)
        finally:
            if unregister is not None:
                unregister()
            if conn.expiry is not None:
                conn.expiry.cancel()
            if self.conns.get(agent_id) is conn:
                del self.conns[agent_id]
            if conn.closing is None:
                conn.closing = 1000
                conn.out.cancel()
            await conn.out.wait()

    def _expire_at(self, conn: _Conn, expires_at: float) -> None:
        if conn.expiry is not None:
            conn.expiry.cancel()
        conn.expiry = asyncio.get_running_loop().call_later(max(0.0, expires_at - self.clock()), self._close, conn,
                                                            CLOSE_LOGGED_OUT, "session_expired")

    async def _reauth(self, conn: _Conn, msg: p.Reauth) -> str:
        """The socket goes on under the session's renewed token (its expiry and re-checks follow it)."""
        if self.auth is None:
            return p.AckFrame(ref=msg.ref, action=msg.type).model_dump_json()
        try:
            expires_at = await self.auth.adopt(conn.who.user_id, msg.token)
        except NotAuthenticated as err:  # the socket keeps the token it has (and closes at its expiry)
            return p.ErrorFrame(code=NotAuthenticated.code, message=err.message, field="token",
                                ref=msg.ref).model_dump_json()
        conn.token = msg.token
        self._expire_at(conn, expires_at)
        if conn.ended is not None:
            self.auth.retoken_socket(conn.ended, msg.token)
        return p.AckFrame(ref=msg.ref, action=msg.type, result={"expires_at": expires_at}).model_dump_json()

    def _allow(self, conn: _Conn) -> bool:
        now = self.clock()
        conn.tokens = min(self.burst, conn.tokens + (now - conn.refill_at) * self.rate_per_s)
        conn.refill_at = now
        if conn.tokens < 1:
            return False
        conn.tokens -= 1
        return True

    async def _reader(self, conn: _Conn) -> None:
        while conn.closing is None:
            try:
                msg = await conn.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if msg["type"] == "websocket.disconnect":
                return
            text: str | None = msg.get("text")
            raw: str | bytes = text if text is not None else msg.get("bytes") or b""
            if self.auth is not None:
                try:
                    await self.auth.check(conn.token)
                except NotAuthenticated:
                    self._close(conn, CLOSE_LOGGED_OUT, "logged_out")
                    return
            answer = self._answer(conn, self.handle_frame(conn.who, raw, allowed=self._allow(conn), conn=conn))
            if _answered_late(raw):  # the agent's next frames are read meanwhile
                self._tasks.spawn(answer, f"hub.act:{conn.who.agent_id}")
            else:
                await answer

    async def _answer(self, conn: _Conn, reply: Awaitable[str | None]) -> None:
        text = await reply
        if text is not None:
            self._send(conn.who.agent_id or "", text)

    async def handle_frame(self, who: Principal, raw: str | bytes, *, allowed: bool = True,
                           conn: _Conn | None = None) -> str | None:
        """One client frame (from ``conn``, when a socket's) -> the frame to answer with (ack, error, pong,
        hello)."""
        try:
            msg = p.parse_client_frame(raw)
        except p.FrameError as err:
            return p.ErrorFrame(code=err.code, message=err.message, field=err.field, ref=err.ref).model_dump_json()
        if not allowed:
            return p.ErrorFrame(code="rate_limited", message=f"more than {self.rate_per_s:.0f} messages per second",
                                ref=msg.ref).model_dump_json()
        if isinstance(msg, p.Ping):
            return p.Pong(ref=msg.ref, server_time=self.clock()).model_dump_json()
        if isinstance(msg, p.SnapshotRequest):
            return (await self.hello(who)).model_dump_json()
        if isinstance(msg, p.Reauth):
            if conn is None:
                return p.ErrorFrame(code="invalid_input", message="reauth: only on the websocket", field="type",
                                    ref=msg.ref).model_dump_json()
            return await self._reauth(conn, msg)
        try:
            result = await self.service.act(who, msg)
        except CtiError as err:
            return p.ErrorFrame(code=err.code, message=shown_message(err, f"agent {who.agent_id}: {msg.type}"),
                                field=getattr(err, "field", None), ref=msg.ref).model_dump_json()
        except Exception:
            log.exception("agent %s: %s failed", who.agent_id, msg.type)
            return p.ErrorFrame(code="internal", message="the server failed to do this; it was logged",
                                ref=msg.ref).model_dump_json()
        return p.AckFrame(ref=msg.ref, action=msg.type, result=result).model_dump_json()

    async def shutdown(self) -> None:
        for conn in list(self.conns.values()):
            self._close(conn, 1001, "shutdown")
        self._deadlines.clear()
        await self._tasks.stop()

"""The agent websocket hub: one live connection per agent, a per-agent snapshot, bounded sends.

* One connection per agent: a new connection for the same agent **replaces** the old one (the old
  gets ``bye{reason: replaced}`` and is closed with 4000). A browser refresh opens the new socket
  before the old one's close is noticed, and two live consoles for one agent would double actions.
* The hub keeps each agent's state, current offer, calls and their pops from the bus events, so
  a (re)connecting client's first frame ``hello`` holds everything its screen needs. An agent the
  hub has not seen yet is seeded from ``AgentDesk.snapshot``. What is kept and how the bus events
  change it (offers and their pops, the pops refreshed after a CRM change or a link) live in
  ``agent_console.snapshots``, whose ``Snapshots`` the hub extends with the sockets.
* Frames are serialized once and handed to the connection's ``Outbox``: sent at once while the
  socket keeps up, else queued (bounded). A client whose queue is full is dropped (close 4008, it
  reconnects and gets a fresh ``hello``) instead of stalling the bus or other agents.
* Sessions: each connection re-checks its session (user active, not logged out; shared through the
  database) on every client frame and every ``ConsoleAuth.recheck_s``; a logout or deactivation
  in this process closes the user's socket at once (4001 ``bye{reason: logged_out}``). A socket
  closes when its token expires (``session_expired``) unless a ``reauth`` frame handed it the
  session's renewed token (``POST /api/auth/renew``), whose expiry it then follows.
* Client frames are rate limited per connection (``rate_per_s``, ``burst``); each is answered
  with an ack, an error, a pong or a fresh ``hello``.
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
from starlette.websockets import WebSocketDisconnect, WebSocketState

from agent_console import protocol as p
from agent_console.errors import NotAuthenticated, shown_message
from agent_console.outbox import Outbox
from agent_console.ports import AgentDesk, CustomerSearch, PopSource
from agent_console.security import ConsoleAuth, Principal
from agent_console.service import ConsoleService
from agent_console.snapshots import AgentSnapshot as _Snap
from agent_console.snapshots import Snapshots
from cti.errors import CtiError

log = logging.getLogger(__name__)

CLOSE_REPLACED = 4000
CLOSE_LOGGED_OUT = 4001
CLOSE_SLOW = 4008

# Agent sockets are served without permessage-deflate (uvicorn's ``ws_per_message_deflate``; every
# server of the console passes this). Measured in bench/screen_pop.py: deflate about doubles the
# server's CPU per frame (one zlib state per socket, ~45 KB each) to shrink frames of a few KB that
# are sent a few times per call. See docs/websocket-protocol.md, "Compression".
PER_MESSAGE_DEFLATE = False


def _answered_late(msg: Any) -> bool:
    """An attended transfer: the consult to a number is answered once the number answers (the dial
    gives up after 30 s). Its frame is carried out aside, so that the agent's next ones, Back to
    caller above all, are not held up behind it; every other frame is carried out in turn."""
    return isinstance(msg, p.Transfer) and msg.kind == "attended"


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


class AgentHub(Snapshots):
    def __init__(self, *, desk: AgentDesk, pops: PopSource, service: ConsoleService,
                 clock: Callable[[], float] = time.time, queue_size: int = 256, pop_timeout_s: float = 0.3,
                 rate_per_s: float = 20.0, burst: float = 40.0, auth: ConsoleAuth | None = None,
                 customers: CustomerSearch | None = None) -> None:
        super().__init__(pops=pops, pop_timeout_s=pop_timeout_s, customers=customers)
        self.desk, self.service, self.clock, self.auth = desk, service, clock, auth
        self.queue_size = queue_size
        self.rate_per_s, self.burst = rate_per_s, burst
        self.conns: dict[str, _Conn] = {}
        self.dropped_slow = 0

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
            frame: Any
            try:
                frame = p.parse_client_frame(raw)
            except p.FrameError as err:
                frame = err
            answer = self._answer(conn, self.handle_frame(conn.who, frame, allowed=self._allow(conn), conn=conn))
            if _answered_late(frame):  # the agent's next frames are read meanwhile
                self._tasks.spawn(answer, f"hub.act:{conn.who.agent_id}")
            else:
                await answer

    async def _answer(self, conn: _Conn, reply: Awaitable[str | None]) -> None:
        text = await reply
        if text is not None:
            self._send(conn.who.agent_id or "", text)

    async def handle_frame(self, who: Principal, msg: Any, *, allowed: bool = True,
                           conn: _Conn | None = None) -> str | None:
        """One client frame, parsed (``p.parse_client_frame``: its model, or the FrameError it raised), from
        ``conn`` when a socket's -> the frame to answer with (ack, error, pong, hello)."""
        if isinstance(msg, p.FrameError):
            return p.ErrorFrame(code=msg.code, message=msg.message, field=msg.field, ref=msg.ref).model_dump_json()
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

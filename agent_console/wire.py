"""Text frames written from UTF-8 bytes straight onto uvicorn's websockets-sansio connections.

ASGI's ``websocket.send`` carries a text frame as ``str``. The hub writes an offer frame as UTF-8
bytes (orjson); the ASGI way it would be decoded to ``str`` and encoded back by the server (~33 k
instructions for a 2 KB frame holding Chinese text, a tenth of the console's work per offer in a
burst) and pass Starlette's state checks, the exception middleware's ``sender`` and uvicorn's
``send`` coroutine (bench/screen_pop.py, bench/RESULTS.md). ``Wire.send_text`` does what uvicorn's
``send`` does for ``websocket.send`` -- frame the data with the connection's sans-I/O protocol and
write it to the transport -- in the caller's turn, with the bytes as they are.

This is the one place that reaches into the server: uvicorn's ``WebSocketsSansIOProtocol`` (its
``conn``, ``transport``, ``writable``, ``disconnected``, ``close_sent``, ``handshake_complete``,
``initial_response``; pinned uvicorn 0.54.0, ``ws="websockets-sansio"``, as every console server
runs). ``WireMiddleware`` finds it as the owner of the ASGI ``send`` the server hands the app; under
any other server (Starlette's TestClient, another ASGI server, a middleware wrapping ``send`` outside
it) there is no wire and frames take the ASGI way. The access policy is untouched: the wire sends
nothing itself and the hub uses it only on a socket the route accepted (``policy.enforce`` ran).
``send_text`` answers False whenever uvicorn's ``send`` would wait or fail (transport paused, close
sent, connection gone): the caller then sends the frame the ASGI way, which waits or raises as usual.
tests/web/console/test_wire.py runs it on a real uvicorn server.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

SCOPE_KEY = "agent_console.wire"


class Wire:
    """One websocket connection served by uvicorn's websockets-sansio protocol."""

    __slots__ = ("_proto",)

    def __init__(self, proto: WebSocketsSansIOProtocol) -> None:
        self._proto = proto

    def send_text(self, data: bytes) -> bool:
        """Write ``data`` (UTF-8 text) as one text frame now; False: send it the ASGI way instead."""
        proto = self._proto
        if (not proto.writable.is_set() or proto.disconnected or proto.close_sent or not proto.handshake_complete
                or proto.initial_response is not None):
            return False
        try:
            proto.conn.send_text(data)
        except InvalidState:  # closing: uvicorn's send raises ClientDisconnected here
            return False
        proto.transport.write(b"".join(proto.conn.data_to_send()))
        return True


class WireMiddleware:
    """Pure ASGI, outermost: puts a ``Wire`` in the scope of a websocket uvicorn's sansio protocol serves."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            proto = getattr(send, "__self__", None)
            if type(proto) is WebSocketsSansIOProtocol:
                scope[SCOPE_KEY] = Wire(proto)
        await self.app(scope, receive, send)


def wire_of(ws: Any) -> Wire | None:
    """The wire of an accepted websocket, if its server has one."""
    scope = getattr(ws, "scope", None)
    return scope.get(SCOPE_KEY) if isinstance(scope, dict) else None

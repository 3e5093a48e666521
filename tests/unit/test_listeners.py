"""The engine's HTTP listeners (callcenter/listeners.py): bound by the engine, any free port told,
a taken port a ConfigError naming the setting, a stop that waits for the server."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from callcenter.listeners import HttpListener
from cti.errors import ConfigError


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    reply = await reader.read()
    writer.close()
    await writer.wait_closed()
    return reply


async def test_a_listener_on_any_free_port_serves_and_stops() -> None:
    listener = HttpListener(_hello, "web", "web.port (CTI_WEB__PORT)", host="127.0.0.1", port=0, lifespan="off")
    assert listener.port == 0  # asked for any port, not started yet
    await listener.start()
    port = listener.port
    assert port is not None and port > 0
    try:
        assert (await _get(port)).endswith(b"\r\n\r\nok")
    finally:
        await listener.stop()
    with pytest.raises(OSError):
        await _get(port)


async def test_a_taken_port_is_a_config_error_naming_the_setting() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    listener = HttpListener(_hello, "metrics", "metrics.port (CTI_METRICS__PORT)", host="127.0.0.1", port=port,
                            lifespan="off")
    try:
        with pytest.raises(ConfigError) as caught:
            await listener.start()
        assert caught.value.message.startswith("metrics.port (CTI_METRICS__PORT)")
        await listener.stop()  # never started: nothing to wait for
    finally:
        holder.close()

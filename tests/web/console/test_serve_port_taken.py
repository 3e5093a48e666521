"""``agent_console.demo.serve`` on a port already taken: a RuntimeError naming the port, and the event
loop goes on (uvicorn's SystemExit, re-raised by asyncio through the loop itself, once broke every
later test of the pytest worker at set-up)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from fastapi import FastAPI

from agent_console.demo import serve


async def test_a_taken_port_is_a_runtime_error_and_the_loop_goes_on() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"could not start on 127.0.0.1:{port}"):
            async with serve(FastAPI(), "127.0.0.1", port):
                pass
    await asyncio.sleep(0)  # the loop still runs this test's next step

"""Helpers for the AGI tests against a real Asterisk."""

import asyncio
from collections.abc import Callable

from cti.pbx import ManagedPbx


async def cli(pbx: ManagedPbx, command: str) -> str:
    return await asyncio.to_thread(pbx.cli, command)


async def wait_until(check: Callable[[], object], within: float = 15.0) -> None:
    """Poll ``check`` (in a thread: it may run the Asterisk CLI) until true."""
    async with asyncio.timeout(within):
        while not await asyncio.to_thread(check):  # noqa: ASYNC110 -- polls another process
            await asyncio.sleep(0.1)

"""The console on fakes under uvicorn in the test's loop, and a real headless Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent_console.demo import DemoConsole, build_demo, serve
from cti.settings import load_settings
from tests.servers import free_port


@dataclass
class Site:
    demo: DemoConsole
    base: str


async def demo_site(**web: Any) -> AsyncIterator[Site]:
    """The demo console served on a free port (``web``: more web settings)."""
    settings = load_settings(web={"session_secret": "browser-test-secret-0123", **web})
    demo = build_demo(settings, answer_after_s=None)
    port = free_port()
    async with serve(demo.app, "127.0.0.1", port):
        try:
            yield Site(demo, f"http://127.0.0.1:{port}")
        finally:
            await demo.desk.close()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async for s in demo_site():
        yield s

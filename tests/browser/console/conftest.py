"""The console on fakes under uvicorn in the test's loop, and a real headless Chromium."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from agent_console.demo import DemoConsole, build_demo, serve
from cti.settings import load_settings
from tests.servers import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Screenshots land in docs/screenshots (the README's pictures) only when CTI_UPDATE_SCREENSHOTS=1,
# so an ordinary test run leaves the work tree clean.
SHOTS = (Path(__file__).resolve().parents[3] / "docs" / "screenshots" if os.environ.get("CTI_UPDATE_SCREENSHOTS")
         else Path(tempfile.gettempdir()) / "cti-screenshots")


@dataclass
class Site:
    demo: DemoConsole
    base: str


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    settings = load_settings(web={"session_secret": "browser-test-secret-0123"})
    demo = build_demo(settings, answer_after_s=None)
    port = free_port()
    async with serve(demo.app, "127.0.0.1", port):
        try:
            yield Site(demo, f"http://127.0.0.1:{port}")
        finally:
            await demo.desk.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    ctx = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-US")
    pg = await ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield pg
    finally:
        await ctx.close()
    # 401 on /api/me before login and 404 on the demo probe are expected resource errors.
    real = [e for e in errors if "Failed to load resource" not in e]
    assert not real, f"errors in the page: {real}"


def shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"

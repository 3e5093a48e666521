"""Real Chromium, short session limits in the settings: the console renews its session while the
agent works (here: ready in queues, touching nothing) and hands the renewed token to its open
websocket, which stays the same socket past the first token's expiry; an agent not ready and idle
is logged out after the idle timeout; before the absolute maximum a banner says when the session
ends, and then the login form comes back whatever the activity."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, WebSocket, expect

from agent_console.demo import DEMO_PASSWORD
from agent_console.security import COOKIE_NAME
from tests.browser.console.conftest import Site, demo_site

IDLE_S = 4.0


def _site(max_s: float) -> AsyncIterator[Site]:
    return demo_site(session_idle_min=IDLE_S / 60, session_max_hours=max_s / 3600)


@pytest.fixture
async def short() -> AsyncIterator[Site]:
    async for s in _site(max_s=3600):
        yield s


@pytest.fixture
async def shift() -> AsyncIterator[Site]:
    async for s in _site(max_s=12):
        yield s


async def _login(page: Page, site: Site) -> float:
    await page.goto(site.base + "/")
    await page.fill("#login-username", "alice")
    await page.fill("#login-password", DEMO_PASSWORD)
    async with page.expect_response("**/api/auth/login") as answer:
        await page.keyboard.press("Enter")
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
    return float((await (await answer.value).json())["session_ends_at"])


async def _cookie(page: Page) -> str:
    return next(c["value"] for c in await page.context.cookies() if c["name"] == COOKIE_NAME)


async def test_the_console_renews_while_the_agent_waits_for_calls_and_ends_when_idle(page: Page, short: Site) -> None:
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    await _login(page, short)
    first = await _cookie(page)
    await page.keyboard.press("r")  # ready in queues: waiting for calls is work
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await asyncio.sleep(IDLE_S * 2.5)  # no key, no click: the first token has long expired
    await expect(page.locator("#console-view")).to_be_visible()
    assert await _cookie(page) != first
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
    assert len(sockets) == 1 and not sockets[0].is_closed()  # the same socket, given the renewed tokens
    await page.keyboard.press("n")  # not ready, then untouched: idle
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready")
    idle_from = time.monotonic()
    await expect(page.locator("#login-view")).to_be_visible(timeout=IDLE_S * 4 * 1000)
    await expect(page.locator("#login-error")).to_have_text("Your session ended. Please log in again.")
    assert time.monotonic() - idle_from >= IDLE_S - 0.5


async def test_a_banner_warns_before_the_absolute_end_which_renewals_do_not_pass(page: Page, shift: Site) -> None:
    logged_in = time.monotonic()
    ends_at = await _login(page, shift)
    tz = (await (await page.request.get(shift.base + "/api/auth/session")).json())["tz"]
    first = await _cookie(page)
    warning = page.locator("#session-warning")
    while not await warning.is_visible():  # the agent works: scrolls, clicks
        await page.mouse.wheel(0, 40)
        await asyncio.sleep(0.3)
        assert time.monotonic() - logged_in < 12, "no warning before the end"
    assert time.monotonic() - logged_in > IDLE_S  # renewed past the first token's life...
    assert await _cookie(page) != first
    hhmm = dt.datetime.fromtimestamp(ends_at, ZoneInfo(tz)).strftime("%H:%M")
    await expect(warning).to_contain_text(f"Your session ends at {hhmm}")
    await expect(page.locator("#console-view")).to_be_visible()  # a banner, not an interruption
    while not await page.locator("#login-view").is_visible():  # ...but not past the absolute end
        await page.mouse.wheel(0, 40)
        await asyncio.sleep(0.3)
        assert time.monotonic() - logged_in < 20, "the session outlived its absolute end"
    assert time.time() >= ends_at - 0.5
    await expect(page.locator("#login-error")).to_have_text("Your session ended. Please log in again.")
    await expect(warning).to_be_hidden()

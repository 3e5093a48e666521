"""Real Chromium: a wallboard is watched, not clicked. Shown on a screen it keeps its session past the
idle timeout (session.js renews it; its websocket, closed at its first token's expiry, comes back on
the renewed cookie) instead of falling to the login form one idle timeout after the login."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Page, expect

from agent_console.security import COOKIE_NAME
from tests.browser.conftest import log_in
from tests.web.supervisor.conftest import Site

IDLE_S = 4.0


async def test_a_shown_wallboard_keeps_its_session_past_the_idle_timeout(site: Site, page: Page) -> None:
    site.engine.app.state.console_auth.signer.ttl_s = IDLE_S  # type: ignore[union-attr]  # sessions from now on
    await log_in(page, site.base, "mgr1", "mgr1-demo-1")  # mgr1: no softphone to ask the absent PBX for
    await page.wait_for_url("**/wallboard")
    await expect(page.locator("#conn")).to_have_class("wb-conn on")
    first = next(c["value"] for c in await page.context.cookies() if c["name"] == COOKIE_NAME)
    shown = time.monotonic()
    await asyncio.sleep(IDLE_S * 2.5)  # nobody touches it
    assert time.monotonic() - shown >= IDLE_S * 2.5
    assert page.url.endswith("/wallboard")
    await expect(page.locator("#main")).to_be_visible()
    await expect(page.locator("#conn")).to_have_class("wb-conn on", timeout=5000)
    assert next(c["value"] for c in await page.context.cookies() if c["name"] == COOKIE_NAME) != first
    me = await page.request.get(site.base + "/api/me")  # the browser's (renewed) cookie is live
    assert me.status == 200 and (await me.json())["username"] == "mgr1"


async def test_a_wallboard_whose_session_ended_goes_to_the_login_page(site: Site, page: Page) -> None:
    """The session ended elsewhere (a logout, a deactivation, the absolute maximum): the server closes
    the board's socket (4001), and its reconnection is refused at the handshake, which the browser
    reports as 1006, not 1008. The board tried again every 32 s for ever, "offline" on the floor's
    screen; it asks whether its session still holds before each try, and goes to the login page when
    it does not."""
    await log_in(page, site.base, "mgr1", "mgr1-demo-1")
    await page.wait_for_url("**/wallboard")
    await expect(page.locator("#conn")).to_have_class("wb-conn on")
    cookie = next(c["value"] for c in await page.context.cookies() if c["name"] == COOKIE_NAME)
    out = await page.request.post(site.base + "/api/auth/logout", headers={"Origin": site.base,
                                                                           "Cookie": f"{COOKIE_NAME}={cookie}"})
    assert out.status in (200, 204), await out.text()
    await page.wait_for_url(lambda url: not url.endswith("/wallboard"), timeout=10_000)
    await expect(page.locator("#login-username")).to_be_visible()

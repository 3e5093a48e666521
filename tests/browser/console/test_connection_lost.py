"""Real Chromium: the console's connection to the engine drops and comes back. The agent is told, in
words, that it is lost (only a 9-pixel dot turned red, its tooltip "Reconnecting…"), the state and
call buttons that cannot work meanwhile are disabled (they stayed enabled: a click was refused with
"Something went wrong: Reconnecting…"), and its return is said once the engine's state is in again."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Page, WebSocketRoute, expect

from tests.browser.conftest import log_in, shot
from tests.browser.console.conftest import Site


async def test_a_dropped_connection_is_said_and_so_is_its_return(site: Site, page: Page) -> None:
    sockets: list[WebSocketRoute] = []
    back = asyncio.Event()
    back.set()

    async def relay(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        await back.wait()  # meanwhile the page's socket is open but the engine says nothing
        ws.connect_to_server()

    await page.route_web_socket(re.compile(r"/ws/agent$"), relay)
    await log_in(page, site.base, "alice", "demo-pass-1")
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    lost = page.locator("#conn-lost")
    await expect(lost).to_be_hidden()

    back.clear()
    await sockets[0].close()  # the network drops the engine's socket
    await expect(lost).to_be_visible()
    await expect(lost).to_have_attribute("role", "alert")
    await expect(lost).to_contain_text("Connection to the call center lost. Reconnecting…")
    await expect(page.locator("#btn-not-ready")).to_be_disabled()
    await expect(page.locator("#btn-ready")).to_be_disabled()
    await page.screenshot(path=shot("connection-lost"))
    for _ in range(50):  # tried again, by itself (after 0.3 s)
        if len(sockets) >= 2:
            break
        await asyncio.sleep(0.1)
    assert len(sockets) >= 2, "the console did not connect again"
    await expect(lost).to_be_visible()  # an open socket is not enough: the engine's state is not in yet

    back.set()
    await expect(lost).to_be_hidden(timeout=15_000)
    await expect(page.locator("#toasts")).to_contain_text("Connection back: the console is up to date.")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await expect(page.locator("#btn-not-ready")).to_be_enabled()
    await page.click("#btn-not-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready")


async def test_a_connection_gone_silent_is_found_and_said(site: Site, page: Page) -> None:
    """A network that drops without closing the socket (Wi-Fi gone, a NAT forgetting the connection):
    nothing arrives and nothing the console sends gets through, with the socket still open to the
    browser for minutes. The console's ping goes unanswered, and it says the connection is lost and
    connects again (it showed everything as before, and a click waited unanswered)."""
    sockets: list[WebSocketRoute] = []
    muted: set[int] = set()  # the sockets the network no longer carries
    back = asyncio.Event()  # a new socket gets through (else it waits, open but silent)
    back.set()

    async def relay(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        await back.wait()
        server = ws.connect_to_server()
        ws.on_message(lambda m: None if id(ws) in muted else server.send(m))
        server.on_message(lambda m: None if id(ws) in muted else ws.send(m))

    await page.route_web_socket(re.compile(r"/ws/agent$"), relay)
    await log_in(page, site.base, "alice", "demo-pass-1")
    await expect(page.locator("#btn-ready")).to_be_enabled()
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")

    back.clear()
    muted.add(id(sockets[-1]))  # the live socket stays open and carries nothing from now on
    lost = page.locator("#conn-lost")
    await expect(lost).to_be_visible(timeout=20_000)  # a ping every 10 s, 5 s for its pong
    back.set()  # the network is back: the console's new socket gets through
    await expect(lost).to_be_hidden(timeout=15_000)
    await expect(page.locator("#toasts")).to_contain_text("Connection back: the console is up to date.")
    await page.click("#btn-not-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready")

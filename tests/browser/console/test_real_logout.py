"""Real Chromium's browser phone on the real Asterisk: *Log out* with a call up ends the call, as
docs/agent-console.md says. It stopped only the browser phone, whose leg ending the engine takes for a
reload (the agent is rung again when the page is back): the caller sat on hold music, the call still
the agent's, for an agent who had left."""

from __future__ import annotations

import asyncio
import contextlib

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Route, expect

from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    call_in,
    engine,
    login_ready,
    phone_page,
    until,
)
from tests.helpers import customer_number


async def test_log_out_with_a_call_up_ends_the_call(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    caller = await call_in(eng, queued, number, f"{pbx.instance_path}/spool/monitor/logout-{id(page)}")
    linkedid = queued[-1].linkedid  # type: ignore[attr-defined]
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.click("#phone-answer")
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)

    async def late(route: Route) -> None:  # a read of the API that reaches the engine after the logout
        await asyncio.sleep(1.5)
        with contextlib.suppress(PlaywrightError):
            await route.continue_()

    # The hang-up's state changes must not make the console read the API with the ending session
    # (the due callbacks' count did: a 401, which the page watch fails).
    await page.route("**/api/callbacks*", late)
    await page.click("#btn-logout")
    await expect(page.locator("#login-view")).to_be_visible()
    await asyncio.sleep(2.0)
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "off")

    async def channels() -> str:
        return await asyncio.to_thread(pbx.cli, "core show channels concise")

    # The caller is hung up (well before the softphone's requeue time, 60 s), not left on hold.
    deadline = asyncio.get_running_loop().time() + 10
    while caller in await channels():
        assert asyncio.get_running_loop().time() < deadline, f"the caller is still up: {await channels()}"
        await asyncio.sleep(0.3)
    await until(lambda: linkedid not in eng.acd.calls or eng.acd.calls[linkedid].status == "ended",
                timeout_s=10, what="the engine's call ended")

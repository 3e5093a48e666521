"""Real Chromium on the wallboard (unstarted Engine, seeded SQLite CRM): an agent whose phone is
ringing with a queue call can be logged out from their row (the router withdraws the offer and the
caller waits again); the row's Log out was disabled while the phone rang."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Page, expect

from acd.calls import LiveCall
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import RingingControl, Site


@NO_PBX_FOR_SUP1
async def test_the_wallboard_logs_out_an_agent_whose_phone_rings(site: Site, page: Page) -> None:
    eng = site.engine
    await eng.bus.start()
    eng.acd.control = RingingControl()  # type: ignore[assignment]
    await eng.acd.agent_login("1002", {"support": 3}, ["support"], ready=True)
    await eng.acd.enqueue(LiveCall(linkedid="L9", caller_channel="PJSIP/trunk-0009", caller_number="+8613800000009",
                                   queue="support"))
    await asyncio.sleep(0)
    assert eng.router.agent("1002").state.value == "reserved"
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    row = page.locator('#agents tr[data-agent="1002"]')
    await expect(row.locator(".pill")).to_have_text("Ringing")
    logout = row.get_by_role("button", name="Log out")
    await expect(logout).to_be_enabled()
    await logout.click()
    await expect(page.locator("#act-msg")).to_have_text("Done: Log out 1002")
    assert eng.router.agent("1002").state.value == "logged_out"
    assert [w.call_id for w in eng.router.waiting_calls(time.time())] == ["L9"]

"""Real Chromium on the real engine and Asterisk, across an engine restart: agent1 (1001) on lunch
dials a customer, and the engine stops while they talk (the call goes on in Asterisk). On the
restarted engine's console the agent sees what they saw before: the call talking and "On an
outbound call · then not ready: Lunch"; hanging up and wrapping up puts them on lunch again. Before,
the restarted console showed no call and "On an outbound call" with no break to go back to, and
the agent stayed "outbound" after the call."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from cti.journey import FarEndResult
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.asterisk.recovery.restarts import Restarts
from tests.helpers import until


async def test_the_console_after_a_restart_shows_the_own_call_and_the_break_pending(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path, page: Page) -> None:
    restarts = Restarts(pbx, pbx_settings, tmp_path)
    try:
        await restarts.seed()
        first = await restarts.start(web=True)
        await first.desk.login_queues("1001", ["support"])
        await first.desk.set_not_ready("1001", "lunch")
        linkedid = await first.desk.dial("1001", "8613800138000", None)  # cti-sim-customer answers after 1 s
        await until(lambda: any(isinstance(e, FarEndResult) and e.linkedid == linkedid and e.result == "answered"
                                for e in restarts.seen), what="the customer answered")
        await first.bus.drain()  # type: ignore[attr-defined]
        await first.logger.flush()
        await first.stop()

        second = await restarts.start(web=True)
        await page.goto(second.url + "/")
        await page.fill("#login-username", "agent1")
        await page.fill("#login-password", "agent1-demo")
        await page.keyboard.press("Enter")
        await expect(page.locator("#console-view")).to_be_visible()
        await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
        await expect(page.locator("#call-status")).to_have_text("Talking")
        await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready")
        await expect(page.locator("#state-reason")).to_have_text("On an outbound call · then not ready: Lunch")
        await page.click("#btn-hangup")
        await expect(page.locator("#wrap-form")).to_be_visible()
        await expect(page.locator("#state-reason")).to_have_text("then not ready: Lunch")
        await page.select_option("#wrap-disposition", "resolved")
        await page.click("#wrap-submit")
        await expect(page.locator("#wrap-form")).to_be_hidden()
        await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready")
        await expect(page.locator("#state-reason")).to_have_text("Lunch")
    finally:
        await restarts.close()

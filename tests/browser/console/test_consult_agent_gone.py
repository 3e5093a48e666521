"""Real Chromium on the console (demo desk): a consulted agent who logs out, or whose phone goes
offline, before answering: the ACD takes the caller back by itself and its update says so
(``detail.consult_ended`` reason ``unavailable``, tests/unit/acd/test_consult_agent_gone.py). The
transferring agent is told calmly, once, in the page's language; never as an error."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login
from tests.browser.console.test_error_language import chinese


async def _back_from_a_consulted_agent_gone(page: Page, site: Site, talking: str) -> None:
    desk = site.demo.desk
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await desk.offer_call("a1001", caller_number="+441632960123")
    await desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text(talking)
    call = desk.calls[call_id]
    call.status, call.detail = "consulting", {"consult": {"role": "transferring", "target_kind": "agent",
                                                          "target": "1002"}}
    await desk._call_update(call)
    await expect(page.locator("#btn-cancel-consult")).to_be_visible()
    call.status, call.detail = "talking", {"consult_ended": {"reason": "unavailable", "target_kind": "agent",
                                                             "target": "1002"}}
    await desk._call_update(call)
    await expect(page.locator("#call-status")).to_have_text(talking)
    await expect(page.locator("#btn-cancel-consult")).to_be_hidden()


async def test_a_consulted_agent_no_longer_there_is_told_once_calmly(page: Page, site: Site) -> None:
    await login(page, site)
    await _back_from_a_consulted_agent_gone(page, site, "Talking")
    toast = page.locator("#toasts .toast", has_text="no longer available")
    await expect(toast).to_have_text("Agent 1002 is no longer available. The caller is back with you.")
    await expect(toast).to_have_count(1)
    assert "error" not in (await toast.get_attribute("class") or "").split()
    await page.reload()  # the hello's copy of the call is not news
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await page.wait_for_timeout(500)
    await expect(page.locator("#toasts .toast", has_text="no longer available")).to_have_count(0)


async def test_in_chinese(page: Page, site: Site) -> None:
    await chinese(page, site)
    await _back_from_a_consulted_agent_gone(page, site, "通话中")
    toast = page.locator("#toasts .toast", has_text="已不在线")
    await expect(toast).to_have_text("座席 1002 已不在线。来电者已回到您这里。")
    assert "error" not in (await toast.get_attribute("class") or "").split()

"""Real Chromium, the console in Chinese: a server's refusal is shown in the page's language from its
stable code (i18n.js err.code.*), on the websocket and over REST; a code the console does not know
shows the server's own text."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Page, Route, expect

from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login


async def chinese(page: Page, site: Site) -> None:
    await page.goto(site.base + "/")
    await page.evaluate("localStorage.setItem('cti.lang', 'zh-CN')")
    await login(page, site)
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


async def test_websocket_refusals_are_shown_in_the_pages_language(page: Page, site: Site) -> None:
    await chinese(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await site.demo.desk.offer_call("a1001", caller_number="+441632960123")
    await site.demo.desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("通话中")
    await page.keyboard.press("t")
    await page.select_option("#xfer-target-kind", "queue")
    await page.fill("#xfer-target", "nope")
    await page.keyboard.press("Enter")
    # target_not_found ("unknown queue 'nope'" in the server's English)
    await expect(page.locator("#xfer-error")).to_have_text("找不到该队列、坐席、客户或工单。")
    await page.select_option("#xfer-target-kind", "agent")
    await page.fill("#xfer-target", "1002")
    await page.keyboard.press("Enter")
    # illegal_agent_action ("target: agent 1002 is not logged in; the call stays with you")
    await expect(page.locator("#xfer-error")).to_have_text("当前状态下不能这样操作。")
    await expect(page.locator("#xfer-error")).not_to_contain_text("logged in")


@pytest.mark.expected_failed_load(503, "/api/customers")
@pytest.mark.expected_failed_load(418, "/api/customers")
async def test_rest_refusals_are_shown_in_the_pages_language_and_unknown_codes_as_the_server_says(
        page: Page, site: Site) -> None:
    answers = {"Li": (503, {"code": "desk_unavailable", "message": "the ACD is not reachable"}),
               "Emma": (418, {"code": "made_up_code", "message": "The server's own words."})}

    async def refuse(route: Route) -> None:
        status, detail = answers[parse_qs(urlsplit(route.request.url).query)["q"][0]]
        await route.fulfill(status=status, content_type="application/json", body=json.dumps({"detail": detail}))

    await chinese(page, site)
    await page.route("**/api/customers?*", refuse)
    await page.fill("#search-q", "Li")
    await page.keyboard.press("Enter")
    await expect(page.locator("#toasts .toast.error").last).to_have_text("电话系统或排队服务暂时无法连接，请稍后再试。")
    await page.fill("#search-q", "Emma")
    await page.keyboard.press("Enter")
    await expect(page.locator("#toasts .toast.error").last).to_have_text("The server's own words.")

"""Real Chromium, the console in Chinese: a server's refusal is shown in the page's language from its
stable code (i18n.js err.code.*), on the websocket and over REST; a code the console does not know
shows the server's own text."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Page, Route, expect

from agent_console.errors import PhoneNoAnswer, TargetNoAnswer
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


async def test_a_number_or_phone_that_did_not_answer_is_told_calmly_in_the_pages_language(
        page: Page, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """target_no_answer and phone_no_answer are no faults: an information toast in Chinese, naming the
    number consulted; never "出错了" nor an error toast. (The real engine's English one:
    test_real_consult_no_answer.py.)"""
    desk = site.demo.desk

    async def rang_out(agent_id: str, call_id: str, **kw: Any) -> None:
        raise TargetNoAnswer(f"transfer target {kw['target']} did not answer; the caller is back with the agent",
                             kw["target"])

    async def phone_rang_out(agent_id: str, number: str, customer_id: int | None, **kw: Any) -> str:
        raise PhoneNoAnswer(f"the phone of agent {agent_id} did not answer (reason 3)")

    monkeypatch.setattr(desk, "transfer", rang_out)
    monkeypatch.setattr(desk, "dial", phone_rang_out)
    await chinese(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await desk.offer_call("a1001", caller_number="+441632960123")
    await desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("通话中")
    await page.keyboard.press("t")
    await page.check("input[name=xfer-kind][value=attended]")
    await page.select_option("#xfer-target-kind", "number")
    await page.fill("#xfer-target", "86950001")
    await page.keyboard.press("Enter")
    toast = page.locator("#toasts .toast").last
    await expect(toast).to_have_text("86950001 未接听。来电者已回到您这里。")
    assert "error" not in (await toast.get_attribute("class") or "").split()
    await expect(page.locator("#transfer-dialog")).not_to_have_attribute("open", "")
    await expect(page.locator("#call-status")).to_have_text("通话中")

    await desk.caller_hangs_up(call_id)
    await page.select_option("#wrap-disposition", "resolved")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()
    await page.fill("#dial-number", "13800138000")
    await page.keyboard.press("Enter")
    toast = page.locator("#toasts .toast").last
    await expect(toast).to_have_text("您的话机未接听，因此没有呼叫任何人。")
    assert "error" not in (await toast.get_attribute("class") or "").split()


async def test_a_consulted_agent_who_did_not_answer_is_told_once_calmly(page: Page, site: Site) -> None:
    """The ACD takes the caller back by itself when a consulted agent does not answer; its update says
    why (detail.consult_ended, tests/unit/acd/test_consult_agent_no_answer.py): an information toast
    in the page's language, once (a reload's hello does not say it again)."""
    desk = site.demo.desk
    await chinese(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await desk.offer_call("a1001", caller_number="+441632960123")
    await desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("通话中")
    call = desk.calls[call_id]
    call.status, call.detail = "consulting", {"consult": {"role": "transferring", "target_kind": "agent",
                                                          "target": "1002"}}
    await desk._call_update(call)
    await expect(page.locator("#call-status")).to_have_text("咨询中")
    call.status, call.detail = "talking", {"consult_ended": {"reason": "no_answer", "target_kind": "agent",
                                                             "target": "1002"}}
    await desk._call_update(call)
    toast = page.locator("#toasts .toast", has_text="未接听")
    await expect(toast).to_have_text("座席 1002 未接听。来电者已回到您这里。")
    assert "error" not in (await toast.get_attribute("class") or "").split()
    await expect(page.locator("#call-status")).to_have_text("通话中")
    await expect(page.locator("#btn-cancel-consult")).to_be_hidden()
    await page.reload()
    await expect(page.locator("#call-status")).to_have_text("通话中")
    await page.wait_for_timeout(500)
    await expect(page.locator("#toasts .toast", has_text="未接听")).to_have_count(0)

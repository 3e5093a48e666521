"""Real Chromium: log in, go ready, an offer pops the right customer, control the call, wrap up,
and the CRM (fake) holds the interaction with disposition and notes; Chinese labels; refresh mid-call."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from agent_console.demo import DEMO_PASSWORD
from tests.browser.conftest import shot
from tests.browser.console.conftest import Site

IVR = [{"node": "identify", "label": "Account number", "input": "******4821"},
       {"node": "menu", "label": "Main menu", "choice": "2 Technical support"}]


async def login(page: Page, site: Site, user: str = "alice") -> None:
    await page.goto(site.base + "/")
    await expect(page.locator("#login-view")).to_be_visible()
    await page.fill("#login-username", user)
    await page.fill("#login-password", DEMO_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("#console-view")).to_be_visible()
    await expect(page.locator("#main")).to_be_focused()  # not the hidden password field: shortcuts work at once
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")


async def test_login_ready_pop_hold_hangup_wrap_up(page: Page, site: Site) -> None:
    await page.goto(site.base + "/")
    await expect(page.locator("#login-form")).to_be_visible()
    await page.screenshot(path=shot("login"))
    await login(page, site)
    # The console on fakes has no phone service: its calls are simulated, which is no failure.
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "sim")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "logged_out")
    await page.keyboard.press("r")  # R: log in to queues and go ready
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await expect(page.locator("#state-label")).to_have_text("Ready")
    await page.screenshot(path=shot("ready"))

    desk = site.demo.desk
    call_id = await desk.offer_call("a1001", caller_number="+8613800138000", ivr_path=IVR, intent="support")
    await expect(page.locator("#offer-card")).to_be_visible()
    await expect(page.locator("#cust-name")).to_have_text("李伟 Li Wei")
    await expect(page.locator("#cust-tier")).to_have_text("Gold")
    await expect(page.locator("#cust-history li")).to_have_count(5)
    await expect(page.locator("#cust-cases")).to_contain_text("Intermittent drops at Xihu office")
    await expect(page.locator("#ivr-path")).to_contain_text("******4821")
    await expect(page.locator("#script-title")).to_have_text("Technical support greeting")
    await expect(page.locator("#articles li")).to_have_count(2)
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "reserved")
    await page.screenshot(path=shot("pop"))

    await desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await page.keyboard.press("h")
    await expect(page.locator("#call-status")).to_have_text("On hold")
    await page.keyboard.press("h")
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await page.keyboard.press("d")
    await page.keyboard.press("5")
    await expect(page.locator("#dtmf-sent")).to_have_text("5")
    await page.keyboard.press("Escape")
    await page.click("#btn-hangup")

    await expect(page.locator("#wrap-form")).to_be_visible()
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "wrap_up")
    await page.select_option("#wrap-disposition", "resolved")
    await page.fill("#wrap-notes", "Rebooted the router remotely; line stable.")
    await page.check("#wrap-resolved")
    await page.check('input[name="case-mode"][value="update"]')
    await page.select_option("#case-status", "resolved")
    await page.screenshot(path=shot("wrap-up"))
    await page.keyboard.press("Control+Enter")

    await expect(page.locator("#wrap-form")).to_be_hidden()
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    assert desk.wrapups[-1]["disposition"] == "resolved"
    assert desk.wrapups[-1]["notes"] == "Rebooted the router remotely; line stable."
    assert desk.wrapups[-1]["case_id"] == 501
    crm_rows = [r for r in site.demo.crm.book[1]["interactions"] if r.get("call_id") == call_id]
    assert crm_rows and crm_rows[0]["disposition"] == "resolved" and crm_rows[0]["resolved"] is True
    # The customer's history on screen now shows the new interaction from the CRM.
    await expect(page.locator("#cust-history li").first).to_contain_text("Rebooted the router remotely")


async def test_transfer_to_queue_then_wrap_up(page: Page, site: Site) -> None:
    await login(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await site.demo.desk.offer_call("a1001", caller_number="+441632960123")
    await expect(page.locator("#cust-name")).to_have_text("Emma Clarke")
    await site.demo.desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await page.keyboard.press("t")
    await expect(page.locator("#transfer-dialog")).to_be_visible()
    await page.select_option("#xfer-target-kind", "queue")
    await page.fill("#xfer-target", "billing")
    await page.keyboard.press("Enter")
    await expect(page.locator("#transfer-dialog")).to_be_hidden()
    # The agent's part is over (status "ended", as the real ACD says: the fake desk once showed a status
    # "transferred" the product never sends, tests/db/console/test_desk_conformance.py); the card says
    # where the call went (detail.transferred), in the console's language.
    await expect(page.locator("#call-status")).to_have_text("Transferred to queue billing")
    await expect(page.locator("#call-status")).to_have_attribute("data-status", "ended")
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#call-status")).to_have_text("已转接至队列 billing")
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#call-status")).to_have_text("Transferred to queue billing")
    assert ("transfer", "a1001", {"call_id": call_id, "kind": "blind", "target_kind": "queue",
                                  "target": "billing"}) in site.demo.desk.actions
    await page.select_option("#wrap-disposition", "escalated")
    await page.fill("#wrap-notes", "Sent to billing for the refund.")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()
    assert site.demo.desk.wrapups[-1]["disposition"] == "escalated"


async def test_refresh_mid_call_keeps_call_and_customer(page: Page, site: Site) -> None:
    await login(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await site.demo.desk.offer_call("a1001", caller_number="+8613800138000")
    await site.demo.desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await page.reload()
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await expect(page.locator("#cust-name")).to_have_text("李伟 Li Wei")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "on_call")


async def test_chinese_labels_are_remembered(page: Page, site: Site) -> None:
    await login(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-label")).to_have_text("Ready")
    await page.keyboard.press("l")
    await expect(page.locator("#state-label")).to_have_text("就绪")
    await expect(page.locator("#btn-hangup")).to_contain_text("挂断")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    call_id = await site.demo.desk.offer_call("a1001", caller_number="+8613800138000")
    await expect(page.locator("#offer-card .offer-title")).to_have_text("来电")
    await expect(page.locator("#cust-tier")).to_have_text("黄金")
    await site.demo.desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("通话中")
    await page.screenshot(path=shot("call-zh"))
    await page.reload()
    await expect(page.locator("#state-label")).to_have_text("通话中")


@pytest.mark.expected_failed_load(401, "/api/auth/login")  # the wrong password below
# The console on fakes serves no supervisor pages (agent_console.demo.build_demo): the link is all there is.
@pytest.mark.expected_failed_load(404, "/wallboard")
async def test_bad_password_and_supervisor_link(page: Page, site: Site) -> None:
    await page.goto(site.base + "/")
    await page.fill("#login-username", "alice")
    await page.fill("#login-password", "nope")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    await page.fill("#login-password", DEMO_PASSWORD)
    await page.fill("#login-username", "sue")
    await page.click("#login-submit")
    await page.wait_for_url("**/wallboard")


async def test_search_customer_then_click_to_dial(page: Page, site: Site) -> None:
    await login(page, site)
    await page.keyboard.press("r")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await page.keyboard.press("/")
    await page.keyboard.type("clarke")
    await expect(page.locator("#search-results .result")).to_have_count(1)
    await page.click("#search-results .result")
    await expect(page.locator("#cust-name")).to_have_text("Emma Clarke")
    await expect(page.locator("#cust-cases")).to_contain_text("Refund double charge")
    await page.click("#btn-dial-customer")
    await expect(page.locator("#call-direction")).to_have_text("Outbound")
    await expect(page.locator("#call-status")).to_have_text("Talking")  # the dial answers once the phone did
    await expect(page.locator("#cust-name")).to_have_text("Emma Clarke")  # pop of the outbound call
    # It says what it is, not "Queue — · Skills — · Intent —" (an inbound call's facts it has not).
    await expect(page.locator("#pop-facts > div:visible")).to_have_text(["Call Outbound"])
    assert ("dial", "a1001", {"number": "+441632960123", "customer_id": 2}) in site.demo.desk.actions


async def test_not_ready_with_reason_by_keyboard(page: Page, site: Site) -> None:
    await login(page, site)
    await page.keyboard.press("r")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await page.select_option("#reason-select", "lunch")
    await page.locator("#reason-select").blur()
    await page.keyboard.press("n")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready")
    await expect(page.locator("#state-reason")).to_have_text("Lunch")


async def test_the_demo_says_it_simulates_calls_and_shows_its_card(page: Page, site: Site) -> None:
    await login(page, site)
    await expect(page.locator("#demo-card")).to_be_visible()  # /api/demo/status: available
    assert await (await page.request.get(site.base + "/api/demo/status")).json() == {"available": True}


async def test_an_outbound_call_shows_its_number_in_e164(page: Page, site: Site) -> None:
    """The engine dials E.164 digits without the "+": the call card and the wrap-up show the "+". A
    dialled number no customer has is titled by the number ("Unknown number"), not "Unknown caller";
    a callback's call says "Callback" (in the pop's facts, where it said "Queue — · Skills —")."""
    await login(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await page.fill("#dial-number", "86 (138) 0013-8001")  # as people write numbers: dialled without the marks
    await page.click("#dial-form button[type=submit]")
    await expect(page.locator("#call-direction")).to_have_text("Outbound")
    await expect(page.locator("#call-peer")).to_have_text("+8613800138001")
    await expect(page.locator("#unknown-title")).to_have_text("+8613800138001")
    await expect(page.locator("#unknown-card .muted")).to_have_text("Unknown number")
    await page.click("#btn-hangup")
    await expect(page.locator("#wrap-call")).to_have_text("· +8613800138001")
    await page.select_option("#wrap-disposition", "wrong_number")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()

    desk = site.demo.desk
    cb = desk.add_callback("+8613800138000", customer_id=1, customer_name="李伟 Li Wei")
    await desk.claim_callback("a1001", cb)
    await desk.call_callback("a1001", cb)
    await expect(page.locator("#call-direction")).to_have_text("Callback")
    await expect(page.locator("#cust-name")).to_have_text("李伟 Li Wei")
    await expect(page.locator("#pop-facts > div:visible")).to_have_text(["Call Callback"])
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#call-direction")).to_have_text("回呼")
    await expect(page.locator("#pop-kind")).to_have_text("回呼")


async def test_wrap_up_form_pre_ticks_resolved_from_the_disposition_and_keeps_the_agents_choice(
        page: Page, site: Site) -> None:
    """A disposition that resolves (catalog ``resolves``) ticks "Resolved on first contact"; one
    that does not unticks it; once the agent set the box by hand, their choice stays."""
    await login(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await site.demo.desk.offer_call("a1001", caller_number="+441632960123")
    await site.demo.desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await page.click("#btn-hangup")
    await expect(page.locator("#wrap-form")).to_be_visible()
    box = page.locator("#wrap-resolved")
    await expect(box).not_to_be_checked()
    await page.select_option("#wrap-disposition", "resolved")
    await expect(box).to_be_checked()
    await page.select_option("#wrap-disposition", "escalated")
    await expect(box).not_to_be_checked()
    await page.select_option("#wrap-disposition", "info_given")
    await expect(box).to_be_checked()
    await page.uncheck("#wrap-resolved")  # the agent knows better: the customer will call again
    await page.select_option("#wrap-disposition", "sale")
    await expect(box).not_to_be_checked()
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()
    assert (site.demo.desk.wrapups[-1]["disposition"], site.demo.desk.wrapups[-1]["resolved"]) == ("sale", False)

"""Real Chromium: a pop made while the CRM database is away (docs/resilience.md, "Screen pops") says
so. A caller the engine could not look up is not an "Unknown caller" (the agent would treat a
long-standing customer as new); a card from the engine's memory says it may be out of date."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.async_api import Page, expect

from crm_core.events import CustomerLinked
from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login


async def test_a_pop_without_the_crm_says_the_records_are_unavailable(page: Page, site: Site) -> None:
    await login(page, site)
    await page.keyboard.press("r")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    desk = site.demo.desk
    # The CRM is away and this caller was not seen lately: no card, and the pop says why.
    call_id = await desk.offer_call("a1001", caller_number="+441632960777",
                                    pop={"caller_number": "+441632960777", "source": "unavailable"})
    await expect(page.locator("#unknown-card")).to_be_visible()
    await expect(page.locator("#unknown-number")).to_have_text("+441632960777")
    await expect(page.locator("#unknown-title")).to_have_text("Customer records unavailable")
    await expect(page.locator("#pop-source")).to_have_text(
        "The CRM cannot be reached just now: this caller may well be a customer. Ask for their account.")
    await expect(page.locator("#customer-card")).to_be_hidden()
    await desk.caller_hangs_up(call_id)
    await expect(page.locator("#offer-card")).to_be_hidden()
    await expect(page.locator("#unknown-card")).to_be_hidden()

    # A caller seen recently pops with the card the engine kept: shown, marked as such.
    call_id = await desk.offer_call("a1001", caller_number="+8613800138000", pop={
        "caller_number": "+8613800138000", "source": "cache",
        "customer": {"id": 1, "name": "李伟 Li Wei", "phone": "+8613800138000"}})
    await expect(page.locator("#cust-name")).to_have_text("李伟 Li Wei")
    await expect(page.locator("#cust-source")).to_have_text(
        "Saved card: the CRM cannot be reached just now, details may be out of date.")
    await desk.caller_hangs_up(call_id)

    # The CRM answered: no such line.
    call_id = await desk.offer_call("a1001", caller_number="+8613800138000")
    await expect(page.locator("#cust-name")).to_have_text("李伟 Li Wei")
    await expect(page.locator("#cust-tier")).to_have_text("Gold")
    await expect(page.locator("#cust-source")).to_be_hidden()
    await desk.caller_hangs_up(call_id)
    call_id = await desk.offer_call("a1001", caller_number="+441632960999")
    await expect(page.locator("#unknown-title")).to_have_text("Unknown caller")
    await expect(page.locator("#pop-source")).to_be_hidden()

    await page.locator(".lang-toggle:visible").click()  # and in Chinese
    await desk.caller_hangs_up(call_id)
    call_id = await desk.offer_call("a1001", caller_number="+441632960777",
                                    pop={"caller_number": "+441632960777", "source": "unavailable"})
    await expect(page.locator("#unknown-title")).to_have_text("客户资料暂不可用")

    # A person a progressive campaign reached rings the agent: no "Incoming call"; the campaign says
    # whose call it is (offer.campaign), and a number no customer has is titled by the number.
    await desk.caller_hangs_up(call_id)
    call_id = await desk.offer_call("a1001", caller_number="12125550100", campaign="renewals")
    await expect(page.locator("#offer-title")).to_have_text("外呼活动来电：renewals")
    await expect(page.locator("#unknown-title")).to_have_text("+12125550100")
    await expect(page.locator("#unknown-card .muted")).to_have_text("未知号码")

    # Virtual hold calls back a customer who kept their place: no "Incoming call" either; the offer
    # and the call say it is their callback, with an inbound call's facts (where they waited).
    await desk.caller_hangs_up(call_id)
    call_id = await desk.offer_call("a1001", caller_number="+8613800138000", customer_id=1, callback=True)
    await expect(page.locator("#offer-title")).to_have_text("回呼：客户保留了排队位置")
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#offer-title")).to_have_text("Callback: they kept their place in the queue")
    await desk.answer(call_id)
    await expect(page.locator("#call-direction")).to_have_text("Callback (kept their place)")
    await expect(page.locator("#pop-facts > div:visible")).to_have_text(
        ["Call Callback (kept their place)", "Queue support", "Skills general≥1", "Waited 12 s", "Intent support"])
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#call-direction")).to_have_text("回呼（保留排队位置）")
    await expect(page.locator("#pop-kind")).to_have_text("回呼（保留排队位置）")


async def test_a_call_linked_while_the_crm_is_away_shows_the_linked_customer_by_id(
        page: Page, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's call shows Li Wei; it is linked to customer 2 while the CRM can neither build the
    pop nor read the customer: the console shows customer 2 by id, says their details are not loaded,
    and offers no editing; not Li Wei's card (agent_console/pop_refresh.py)."""
    await login(page, site)
    await page.keyboard.press("r")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    desk = site.demo.desk
    call_id = await desk.offer_call("a1001", caller_number="+8613800138000", customer_id=1)
    await desk.answer(call_id)
    await expect(page.locator("#cust-name")).to_have_text("李伟 Li Wei")
    await expect(page.locator("#btn-edit-customer")).to_be_visible()

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("CRM away")

    monkeypatch.setattr(site.demo.crm, "build_pop", away)
    monkeypatch.setattr(site.demo.crm, "customer", away)
    await site.demo.bus.publish(CustomerLinked(ts=time.time(), linkedid=call_id, interaction_id=7, customer_id=2,
                                               actor="agent a1001"))
    await expect(page.locator("#cust-name")).to_have_text("Customer #2")
    await expect(page.locator("#cust-source")).to_have_text(
        "The CRM cannot be reached just now: this customer's details are not loaded.")
    await expect(page.locator("#btn-edit-customer")).to_be_hidden()
    await expect(page.locator("#cust-cases li")).to_have_text(["None"])  # not Li Wei's open case
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#cust-name")).to_have_text("客户 #2")
    await expect(page.locator("#cust-source")).to_have_text("暂时无法连接 CRM：该客户的资料未能加载。")
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#cust-source")).to_have_text(
        "The CRM cannot be reached just now: this customer's details are not loaded.")

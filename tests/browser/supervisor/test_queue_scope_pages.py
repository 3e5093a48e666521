"""Real Chromium: an administrator assigns sup1 the billing queue on the users page; sup1's wallboard
then shows billing's row, callers and agents only, and the reports page offers billing only."""

from __future__ import annotations

import time

from playwright.async_api import Page, expect

from acd.calls import LiveCall
from cti.ami.control import FakeCallControl
from tests.browser.conftest import log_in, wait_js
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@NO_PBX_FOR_SUP1
async def test_a_supervisor_assigned_billing_sees_billing_only(site: Site, page: Page) -> None:
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    now = time.time()
    eng.router.agent_login("1001", {"support": 3}, now - 60, queues=["support"])
    eng.router.agent_login("1002", {"billing": 3}, now - 60, queues=["billing"])
    for linkedid, number, queue in (("W1", "+8613800000001", "support"), ("W2", "+8613800000002", "billing")):
        eng.acd.calls[linkedid] = LiveCall(linkedid=linkedid, caller_channel=f"PJSIP/trunk-{linkedid}",
                                           caller_number=number, queue=queue, queued_at=now - 30)
        eng.router.enqueue(linkedid, queue, now - 30)

    await log_in(page, site.base, "admin", "admin-demo-1")
    await page.wait_for_url("**/wallboard")
    await expect(page.locator('#queues tr[data-queue="support"]')).to_be_visible()  # an administrator: all
    await page.click("a[href='/users']")
    sup1 = page.locator('#users tr[data-user="sup1"]')
    await expect(sup1).to_contain_text("all queues")  # none assigned: every queue (the default)
    queues = sup1.locator("select[data-act=queues]")
    await expect(queues.locator("option")).to_have_count(len(eng.acd.queue_names()))
    await queues.select_option(["billing"])
    await expect(page.locator("#us-msg")).to_have_text("sup1's queues saved")
    await expect(page.locator('#users tr[data-user="sup1"] select[data-act=queues]')).to_have_values(["billing"])
    await expect(page.locator('#users tr[data-user="mgr1"]')).to_contain_text("all queues")  # no select
    await expect(page.locator('#users tr[data-user="mgr1"] select[data-act=queues]')).to_have_count(0)
    await page.click("#btn-logout")

    sup = await page.context.new_page()
    try:
        await log_in(sup, site.base, "sup1", "sup1-demo-1")
        await sup.wait_for_url("**/wallboard")
        await expect(sup.locator('#queues tr[data-queue="billing"]')).to_be_visible()
        await wait_js(sup, "document.querySelectorAll('#waiting tbody tr[data-queue]').length === 1", 10)
        await expect(sup.locator("#queues tr[data-queue]")).to_have_count(1)
        await expect(sup.locator('#waiting tr[data-queue="support"]')).to_have_count(0)
        await expect(sup.locator('#agents tr[data-agent="1002"]')).to_be_visible()
        await expect(sup.locator('#agents tr[data-agent="1001"]')).to_have_count(0)
        assert "+8613800000001" not in await sup.content()
        # The waiting list's queue filter offers billing only.
        options = await sup.locator("#waiting-queue option").evaluate_all("os => os.map(o => o.value)")
        assert options == ["", "billing"], options
        await sup.click("a[href='/reports']")
        await wait_js(sup, "document.querySelectorAll('#f-queue-list option').length > 0", 10)
        suggested = await sup.locator("#f-queue-list option").evaluate_all("os => os.map(o => o.value)")
        assert suggested == ["billing"], suggested
        await expect(sup.locator("#f-queues")).to_have_attribute("placeholder", "billing")
    finally:
        await sup.close()

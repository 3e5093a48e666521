"""Real Chromium on the supervisor's callback page (unstarted Engine, seeded SQLite CRM): reached from the
wallboard's tile, it lists the open callbacks (overdue marked), filters by queue with a matching CSV link,
shows the server's refusal of a cancel, cancels one with a reason (audited, gone from "open"), speaks
Chinese; an agent is kept out and the data refuses them."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import delete, select

from crm_core import callbacks
from crm_core.models import Callback, Customer
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


async def _seed(site: Site) -> tuple[dict[str, int], str]:
    """Three open callbacks: support overdue (with a customer), billing due now, support claimed with
    its call on (the server refuses to cancel that one). Their ids and the customer's name."""
    now = datetime.now(UTC)
    async with site.engine.db.session() as s:
        await s.execute(delete(Callback))
        customer = (await s.execute(select(Customer).order_by(Customer.id).limit(1))).scalar_one()
        late = await callbacks.create_callback(session=s, number="13800138001", queue="support",
                                               due_at=now - timedelta(minutes=40), customer_id=customer.id,
                                               note="asked about the invoice")
        billing = await callbacks.create_callback(session=s, number="13800138002", queue="billing",
                                                  due_at=now - timedelta(minutes=1))
        calling = await callbacks.create_callback(session=s, number="13800138003", queue="support",
                                                  due_at=now - timedelta(minutes=2))
        await callbacks.claim(session=s, callback_id=calling.id, agent_id="1001", now=now)
        await callbacks.start_call(session=s, callback_id=calling.id, agent_id="1001", now=now)
        ids, name = {"late": late.id, "billing": billing.id, "calling": calling.id}, customer.name
    site.svc.callbacks.invalidate()
    return ids, name


async def _cancel(page: Page, cb_id: int, reason: str) -> None:
    await page.click(f'#callbacks tr[data-id="{cb_id}"] button')
    await expect(page.locator("#cancel-dlg")).to_be_visible()
    await page.fill("#cancel-reason", reason)
    await page.click("#cancel-ok")


@pytest.mark.expected_failed_load(409, "/api/supervisor/callbacks/3/cancel")  # refused below: its call is on
@NO_PBX_FOR_SUP1
async def test_supervisor_works_the_callback_list(site: Site, page: Page) -> None:
    ids, name = await _seed(site)
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await site.svc.wallboard.refresh()
    await expect(page.locator("#tot-cb-claimed")).to_have_text("1")
    await page.click("a.tile-link:has(#tot-cb-overdue)")
    await page.wait_for_url("**/callbacks?state=pending")
    await expect(page.locator("#f-state")).to_have_value("pending")
    await expect(page.locator("#callbacks tbody tr")).to_have_count(2)  # the claimed one is not pending

    await page.select_option("#f-state", "open")
    rows = page.locator("#callbacks tbody tr")
    await expect(rows).to_have_count(3)
    assert await rows.evaluate_all("rs => rs.map(r => Number(r.dataset.id))") == [
        ids["late"], ids["calling"], ids["billing"]]  # oldest due first
    late = page.locator(f'#callbacks tr[data-id="{ids["late"]}"]')
    await expect(late).to_have_class(re.compile(r"\boverdue\b"))
    await expect(late.locator("td").nth(0)).to_have_text(name)
    await expect(late.locator("td").nth(1)).to_have_text("+8613800138001")
    await expect(late.locator("td").nth(5)).to_have_text("0/3")
    await expect(late.locator("td").nth(7)).to_have_text("asked about the invoice")
    await expect(late.locator(".pill.late")).to_have_text("overdue")
    calling = page.locator(f'#callbacks tr[data-id="{ids["calling"]}"]')
    await expect(calling).not_to_have_class(re.compile(r"\boverdue\b"))
    await expect(calling.locator("td").nth(6)).to_have_text("1001")

    await page.select_option("#f-queue", "billing")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-id", str(ids["billing"]))
    await expect(page.locator("#csv-link")).to_have_attribute("href",
                                                              re.compile(r"state=open&queue=billing&format=csv"))
    href = await page.get_attribute("#csv-link", "href")
    assert href
    got = await page.request.get(site.base + href)
    assert got.ok
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(await got.text()))] == [ids["billing"]]
    await page.select_option("#f-queue", "")
    await expect(rows).to_have_count(3)

    # its call is on: the server's 409 is shown, nothing changes
    assert ids["calling"] == 3  # the id of the refused cancel the test names
    await _cancel(page, ids["calling"], "duplicate")
    await expect(page.locator("#cb-msg")).to_contain_text("wrap the call up")
    await expect(rows).to_have_count(3)

    # the reason is required: the dialog stays open without one; "Keep it" changes nothing
    await page.click(f'#callbacks tr[data-id="{ids["late"]}"] button')
    await page.click("#cancel-ok")
    await expect(page.locator("#cancel-dlg")).to_be_visible()
    await page.click("#cancel-dlg button[value=keep]")
    await expect(page.locator("#cancel-dlg")).to_be_hidden()

    await _cancel(page, ids["late"], "customer wrote in")
    await expect(page.locator("#cb-msg")).to_have_text("Callback to +8613800138001 cancelled.")
    await expect(rows).to_have_count(2)
    await expect(page.locator(f'#callbacks tr[data-id="{ids["late"]}"]')).to_have_count(0)
    audit = await site.svc.audit.list(target=f"callback:{ids['late']}")
    assert [(a["action"], a["actor"], a["detail"]["reason"]) for a in audit] == [
        ("callback.cancel", "sup1", "customer wrote in")]
    assert await site.svc.audit.list(target=f"callback:{ids['calling']}") == []
    await page.select_option("#f-state", "cancelled")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".pill")).to_have_text("cancelled")
    await expect(rows.first.locator("button")).to_have_count(0)  # closed: nothing to cancel

    await page.click(".lang-toggle")
    await expect(page.locator("#callbacks th").first).to_have_text("客户")
    await expect(rows.first.locator(".pill")).to_have_text("已取消")
    await expect(page.locator("a[href='/callbacks']")).to_have_text("回拨")


async def test_an_agent_is_kept_out_of_the_callback_page(site: Site, page: Page) -> None:
    await _seed(site)
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()  # logged in: "/" is also the login page
    await page.goto(site.base + "/callbacks")
    await expect(page.locator("#forbidden")).to_be_visible()
    await expect(page.locator("#main")).to_be_hidden()
    got = await page.request.get(site.base + "/api/supervisor/callbacks")  # with the agent's session
    assert got.status == 403 and (await got.json())["detail"]["code"] == "forbidden"


@NO_PBX_FOR_SUP1
async def test_only_a_claimed_callback_being_called_shows_its_call(site: Site, page: Page) -> None:
    """A callback keeps ``called_at`` once its call is over (done, or failed after its last attempt):
    the page says "call in progress" only while the callback is claimed and being called. A callback
    of a queue removed from config is listed, but the queue filter offers the configured queues only:
    it offered every queue of the rows (and of ?queue=), and picking a removed one was refused (422)."""
    ids, _ = await _seed(site)
    now = datetime.now(UTC)
    async with site.engine.db.session() as s:
        retired = (await callbacks.create_callback(session=s, number="13800138006", queue="retired",
                                                   due_at=now - timedelta(minutes=3))).id
        ended = {}
        for name, number, reached in (("done", "13800138004", True), ("failed", "13800138005", False)):
            cb = await callbacks.create_callback(session=s, number=number, queue="support",
                                                 due_at=now - timedelta(minutes=5), max_attempts=1)
            await callbacks.claim(session=s, callback_id=cb.id, agent_id="1002", now=now)
            await callbacks.start_call(session=s, callback_id=cb.id, agent_id="1002", now=now)
            await callbacks.call_placed(session=s, callback_id=cb.id, linkedid=f"lid-{name}")
            await callbacks.finish_call(session=s, linkedid=f"lid-{name}", reached=reached, now=now,
                                        policy=callbacks.Policy())
            ended[name] = cb.id
    site.svc.callbacks.invalidate()
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await page.goto(site.base + "/callbacks?state=all&queue=retired")  # a stale link: not a filter
    rows = page.locator("#callbacks tbody tr")
    await expect(rows).to_have_count(6)
    await expect(page.locator(f'#callbacks tr[data-id="{retired}"] td').nth(2)).to_have_text("retired")
    offered = await page.locator("#f-queue option").evaluate_all("os => os.map(o => o.value)")
    assert offered[0] == "" and sorted(offered[1:]) == site.engine.acd.queue_names(), offered
    for name, cb_id in ended.items():
        row = page.locator(f'#callbacks tr[data-id="{cb_id}"]')
        await expect(row.locator(".pill")).to_have_text(name)
        await expect(row).not_to_contain_text("call in progress")
    await expect(page.locator(f'#callbacks tr[data-id="{ids["calling"]}"]')).to_contain_text("call in progress")

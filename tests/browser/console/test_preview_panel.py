"""Real Chromium on the fakes: the Next customer panel. A due callback of the agent's queue comes
first (the badge counts it before anything is claimed); Skip with a reason; then a preview
campaign's contact with its script, columns, attempts and the customer's local time; Dial places
the click-to-dial call, and the contact's name, number and script stay on the card during the call
until its wrap-up."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.async_api import Page, expect

from tests.browser.conftest import shot
from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login


async def test_panel_shows_a_callback_then_a_campaign_contact_and_dials_it(page: Page, site: Site) -> None:
    desk, contacts = site.demo.desk, site.demo.contacts
    cb = desk.add_callback("+8613800138000", queue="support", customer_id=1, customer_name="李伟 Li Wei",
                           due_at=desk.clock() - 600)
    desk.add_callback("+8613900001111", queue="billing")  # alice is not in billing
    contact = contacts.add("+12125550100", name="Ann Lee", campaign="renewals", queue="support", attempts=1,
                           script="Ask about the renewal.\nOffer the gold plan.", timezone="America/New_York",
                           data={"plan": "gold"})
    contacts.add("+8613700000000", queue="sales")  # a campaign of another queue
    await login(page, site)
    await page.click("#btn-queues")  # log in to support only: the badge counts its due callbacks
    await page.locator("#queues-list label", has_text="support").locator("input").check()
    await page.locator("#queues-dialog [data-close]").click()
    await expect(page.locator("#cb-count")).to_have_text("1 callback(s) due")
    assert desk.callback_book[cb].state == "pending"  # counting claims nothing

    card = page.locator("#preview-card")
    shanghai = ZoneInfo("Asia/Shanghai")
    before = datetime.now(shanghai)  # the card's local time is read between this and the check below
    await page.click("#btn-preview-next")
    await expect(card).to_have_attribute("data-source", "callback")
    await expect(page.locator("#pv-name")).to_have_text("李伟 Li Wei")
    await expect(page.locator("#pv-number")).to_have_text("+8613800138000")
    await expect(page.locator("#pv-meta")).to_have_text("Callback · 0 call(s) so far, at most 3")
    local = re.compile(r"^Their local time: \d\d:\d\d [AP]M \(Asia/Shanghai\)$")
    await expect(page.locator("#pv-local")).to_have_text(local)
    hour = (await page.locator("#pv-local").text_content() or "")[18:20]  # the hour in the customer's zone
    # Shown at an instant between ``before`` and now: an hour that turned meanwhile is either (the
    # set of now and now + 1 min left out the hour just gone, read a moment before it turned).
    assert hour in {f"{t:%I}" for t in (before, datetime.now(shanghai))}, (hour, before)
    await expect(page.locator("#pv-script-box")).to_be_hidden()
    assert (desk.callback_book[cb].state, desk.callback_book[cb].claimed_by) == ("claimed", "a1001")
    await page.select_option("#pv-reason", "not_now")
    await page.click("#pv-skip")
    await expect(page.locator("#pv-item")).to_be_hidden()
    assert ("skip_callback", "a1001", {"callback_id": cb, "reason": "not_now"}) in desk.actions
    await expect(page.locator("#cb-count")).to_have_text("")  # due again later only

    await page.click("#btn-preview-next")
    await expect(card).to_have_attribute("data-id", str(contact))
    await expect(card).to_have_attribute("data-source", "campaign")
    await expect(page.locator("#pv-name")).to_have_text("Ann Lee")
    await expect(page.locator("#pv-meta")).to_have_text("Campaign renewals · 1 call(s) so far, at most 3")
    await expect(page.locator("#pv-local")).to_contain_text("(America/New_York)")
    await expect(page.locator("#pv-script")).to_have_text("Ask about the renewal.\nOffer the gold plan.")
    await expect(page.locator("#pv-data dt")).to_have_text(["plan"])
    await expect(page.locator("#pv-data dd")).to_have_text(["gold"])
    await page.screenshot(path=shot("preview"))
    await page.click("#pv-dial")
    await expect(page.locator("#pv-calling")).to_be_visible()
    assert ("dial", "a1001", {"number": "12125550100", "customer_id": None}) in desk.actions
    assert contacts.contacts[contact]["state"] == "dialing"
    # The agent needs the script during the call: name, number and script stay, only Dial / Skip go.
    await expect(page.locator("#call-status")).to_have_attribute("data-status", "talking")  # the fake answers
    await expect(page.locator("#pv-item")).to_be_visible()
    await expect(page.locator("#pv-name")).to_have_text("Ann Lee")
    await expect(page.locator("#pv-number")).to_have_text("+12125550100")
    await expect(page.locator("#pv-script")).to_have_text("Ask about the renewal.\nOffer the gold plan.")
    await expect(page.locator("#pv-dial")).to_be_hidden()
    await expect(page.locator("#pv-skip")).to_be_hidden()
    # The call says whose it is; a contact not in the CRM is titled by the number dialled.
    await expect(page.locator("#call-direction")).to_have_text("Campaign renewals")
    await expect(page.locator("#unknown-title")).to_have_text("+12125550100")
    await page.screenshot(path="/tmp/ui2-shots/preview-during-call.png")
    await page.click("#btn-hangup")
    await expect(page.locator("#wrap-form")).to_be_visible()
    await expect(page.locator("#pv-script")).to_be_visible()  # still there for the wrap-up
    await page.select_option("#wrap-disposition", "resolved")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()
    await expect(page.locator("#pv-item")).to_be_hidden()  # the wrap-up ended it: back to Next customer
    await expect(page.locator("#pv-calling")).to_be_hidden()
    await expect(page.locator("#pv-empty")).to_be_visible()

    await page.click("#btn-preview-next")  # nothing else is due for support
    await expect(page.locator(".toast").last).to_have_text("Nobody to call now.")

"""Real Chromium, the console as a screen reader and a keyboard-only agent meet it: the main controls
and every dialog have a name (in the language chosen), the state's live region announces the state,
not a clock ticking every second, the shortcut help lists the phone's own keys (A, M), and a
withdrawn offer's toast says why in words (it said "caller_hangup")."""

from __future__ import annotations

from playwright.async_api import Page, expect

from agent_console.demo import DEMO_PASSWORD
from tests.browser.console.conftest import Site

# Whether an element sits inside a live region (a screen reader reads out every change made there).
IN_LIVE_REGION = "(id) => !!document.getElementById(id).closest('[aria-live], [role=status], [role=alert]')"


async def test_controls_and_dialogs_are_named_and_the_state_is_announced_without_its_clock(
        page: Page, site: Site) -> None:
    await page.goto(site.base + "/")
    await page.fill("#login-username", "alice")
    await page.fill("#login-password", DEMO_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
    await page.keyboard.press("r")
    # The state is announced (a live region holds it); its timer, rewritten every second, is not.
    await expect(page.get_by_role("status").filter(has_text="Ready")).to_have_count(1)
    assert await page.evaluate(IN_LIVE_REGION, "state-label")
    assert not await page.evaluate(IN_LIVE_REGION, "state-timer")

    # "?" is a button a screen reader can name; its dialog is named, and lists the phone's keys too.
    await page.get_by_role("button", name="Keyboard shortcuts").click()
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(help_dialog).to_be_visible()
    for key, what in (("A", "Answer"), ("M", "Mute / unmute"), ("?", "Keyboard shortcuts")):
        await expect(help_dialog.locator("tr").filter(has=page.locator("kbd", has_text=key))).to_contain_text(what)
    await page.keyboard.press("Escape")
    await page.get_by_role("button", name="Queues").click()
    await expect(page.get_by_role("dialog", name="My queues")).to_be_visible()
    await page.keyboard.press("Escape")

    # An offer the caller gave up on: the toast (an assertive live region) says why in words.
    gone = await site.demo.desk.offer_call("a1001", caller_number="+441632960123")
    await expect(page.locator("#offer-card")).to_be_visible()
    await site.demo.desk.caller_hangs_up(gone)
    await expect(page.locator("#toasts")).to_contain_text("The call was withdrawn: the caller hung up.")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")

    call_id = await site.demo.desk.offer_call("a1001", caller_number="+441632960123")
    await site.demo.desk.answer(call_id)
    await expect(page.get_by_role("toolbar", name="Call controls")).to_be_visible()
    await page.locator("#main").focus()
    await page.keyboard.press("t")
    await expect(page.get_by_role("dialog", name="Transfer call")).to_be_visible()
    await page.keyboard.press("Escape")
    await page.keyboard.press("d")
    await expect(page.get_by_role("dialog", name="Keypad")).to_be_visible()
    await page.keyboard.press("Escape")

    # In Chinese the names are Chinese too.
    await page.keyboard.press("l")
    await expect(page.get_by_role("toolbar", name="通话控制")).to_be_visible()
    await expect(page.get_by_role("button", name="键盘快捷键")).to_be_visible()
    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog", name="键盘快捷键")).to_be_visible()


async def test_the_next_customer_heading_is_read_once_and_its_button_is_its_own(page: Page, site: Site) -> None:
    """The Next customer panel's heading held its button (and the due count): a screen reader read
    the heading as "Next customer Next customer", and the button inside it again."""
    await page.goto(site.base + "/")
    await page.fill("#login-username", "alice")
    await page.fill("#login-password", DEMO_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
    heading = page.get_by_role("heading", name="Next customer", exact=True)
    await expect(heading).to_have_count(1)
    await expect(heading.get_by_role("button")).to_have_count(0)
    await expect(heading.locator("[aria-live]")).to_have_count(0)
    panel = page.get_by_role("region", name="Next customer", exact=True)
    await expect(panel).to_be_visible()
    await expect(panel.get_by_role("button", name="Next customer", exact=True)).to_be_visible()
    await page.keyboard.press("l")
    await expect(page.get_by_role("heading", name="下一位客户", exact=True)).to_have_count(1)
    await expect(page.get_by_role("region", name="下一位客户", exact=True)).to_be_visible()

"""Real Chromium as the agent's softphone on the real engine and Asterisk: the agent opens the
console in a second tab. The newer tab is the console (one websocket per agent); the older one
says so, offers to take the console back, and its phone stops: it kept registering (every SIP
refresh took the extension's one contact back from the new tab), so calls rang in a tab whose
console no longer showed anything."""

from __future__ import annotations

from playwright.async_api import Page, expect

from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    engine,
    login,
    phone_page,
    until,
    wait_js,
)


def contacts(pbx: ManagedPbx) -> list[str]:
    return [line for line in pbx.cli("pjsip show contacts").splitlines() if "web1001/sip:" in line]


async def test_the_older_tab_hands_the_console_and_the_phone_to_the_newer_one(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    eng, _ = engine
    first = phone_page
    await login(first, eng.url)
    await expect(first.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    second = await first.context.new_page()  # same browser, same session cookie
    await second.goto(eng.url + "/")
    await expect(second.locator("#conn-status")).to_have_attribute("data-ok", "true")
    await expect(second.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)

    # The older tab: told, not live-looking, its phone off and unregistered.
    await expect(first.locator("#replaced-card")).to_be_visible()
    await expect(first.locator("#replaced-card")).to_contain_text("This console was opened in another window.")
    await wait_js(first, 'window.ctiPhone.status === "off"', 10.0)
    await until(lambda: len(contacts(pbx)) == 1, what="one contact for the extension")
    await expect(first.locator("#btn-ready")).to_be_disabled()
    await expect(first.locator("#btn-not-ready")).to_be_disabled()

    # "Use this window" takes the console back; the other tab is told in turn.
    await first.click("#btn-take-back")
    await expect(first.locator("#conn-status")).to_have_attribute("data-ok", "true")
    await expect(first.locator("#replaced-card")).to_be_hidden()
    await expect(first.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await expect(second.locator("#replaced-card")).to_be_visible()
    await wait_js(second, 'window.ctiPhone.status === "off"', 10.0)
    await until(lambda: len(contacts(pbx)) == 1, what="one contact for the extension")
    await first.click("#btn-ready")
    await expect(first.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)
    await second.close()

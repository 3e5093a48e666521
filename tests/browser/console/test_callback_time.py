"""Real Chromium in New York: the wrap-up form's callback time is the agent's own. The field names
this computer's time zone (and the UTC offset of the day chosen), and the time goes to the server
with that offset, so the callback is due at the instant the agent meant. The field named no zone
before: whose 09:30 it was (the agent's, the server's, the customer's) was anyone's guess."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import watched_page
from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login
from tests.browser.console.test_wrap_draft import _ended_call

ZONE = "America/New_York"


@pytest.fixture
async def page(browser: Browser, viewport: dict[str, int], expected_page_errors: tuple[str, ...],
               request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """The shared fixture's page, on a computer set to New York time."""
    async for pg in watched_page(browser, viewport, expected_page_errors, request, timezone_id=ZONE):
        yield pg


def _offset(at: datetime) -> str:
    minutes = int(at.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


async def test_the_callback_time_names_the_agents_zone_and_goes_with_its_offset(page: Page, site: Site) -> None:
    sent: list[dict[str, object]] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(
        json.loads(payload)) if isinstance(payload, str) and '"wrap_up"' in payload else None))
    await login(page, site)
    await page.keyboard.press("r")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await _ended_call(page, site)
    zone_note = page.locator("#wrap-callback-zone")
    now_offset = _offset(datetime.now(ZoneInfo(ZONE)))
    await expect(zone_note).to_have_text(f"{ZONE} time (UTC{now_offset}), this computer's time zone")

    # A day about a month ahead (the server takes a year at most), at 09:30 on the agent's clock.
    local = (datetime.now(ZoneInfo(ZONE)) + timedelta(days=30)).replace(hour=9, minute=30, second=0, microsecond=0)
    await page.select_option("#wrap-disposition", "callback_scheduled")
    await page.fill("#wrap-callback", local.strftime("%Y-%m-%dT%H:%M"))
    await expect(zone_note).to_contain_text(f"(UTC{_offset(local)})")
    await page.locator(".lang-toggle:visible").first.click()  # in Chinese the note says the same
    await expect(zone_note).to_have_text(f"{ZONE} 时间（UTC{_offset(local)}），本机时区")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()
    (frame,) = sent
    assert frame["callback_at"] == local.strftime("%Y-%m-%dT%H:%M:%S") + _offset(local), frame
    (callback,) = site.demo.crm.callbacks
    assert callback["due_at"] == local.timestamp()  # the instant the agent meant, whatever the server's zone

"""Real Chromium on the administrators' integration tokens page: issue a named token (shown once,
with a copy button and a warning), see it work and its last use, revoke it after a confirmation
(it is refused at once); a supervisor is kept out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from tests.browser.conftest import log_in, watched_page
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.helpers import until
from tests.web.supervisor.conftest import Site


@pytest.fixture
async def page(browser: Browser, viewport: dict[str, int], expected_page_errors: tuple[str, ...],
               request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A watched page allowed the clipboard (the copy button's), as an administrator's browser asks."""
    async for pg in watched_page(browser, viewport, expected_page_errors, request,
                                 permissions=["clipboard-read", "clipboard-write"]):
        yield pg


async def test_an_administrator_issues_sees_once_and_revokes_a_token(site: Site, page: Page) -> None:
    await log_in(page, site.base, "admin", "admin-demo-1")
    await page.wait_for_url("**/wallboard")
    await page.click("a[href='/integrations']")  # linked from every supervisor page's bar
    await expect(page.locator("#it-form")).to_be_visible()
    await expect(page.locator("#tokens tbody tr")).to_have_count(0)
    await expect(page.locator("#it-new")).to_be_hidden()

    await page.fill("#it-name", "warehouse")
    await page.check("#it-audio")
    await page.click("#it-form button[type=submit]")
    await expect(page.locator("#it-new")).to_be_visible()
    await expect(page.locator("#it-new")).to_contain_text("shown only this once")
    token = await page.input_value("#it-token")
    assert token.startswith("cti_it_") and len(token) > 40, token
    row = page.locator('#tokens tr[data-name="warehouse"]')
    await expect(row).to_contain_text(token[:11] + "…")  # its first characters, to recognise it
    await expect(row).to_contain_text("yes")  # the audio grant
    await expect(row).to_contain_text("never")
    await expect(page.locator("#it-msg")).to_have_text("warehouse issued")

    await page.click("#it-copy")
    await expect(page.locator("#it-msg")).to_have_text("Token copied: paste it into the integration's settings")
    assert await page.evaluate("navigator.clipboard.readText()") == token

    async with site.client() as c:  # the token works, read only
        auth = {"Authorization": f"Bearer {token}"}
        assert (await c.get("/api/crm/interactions", headers=auth)).status_code == 200
        assert (await c.get("/api/admin/integration-tokens", headers=auth)).status_code == 403

        await page.click("#it-done")  # hidden: the token is nowhere in the page any more
        await expect(page.locator("#it-new")).to_be_hidden()
        assert token not in await page.content() and await page.input_value("#it-token") == ""
        await page.reload()
        await expect(row).to_be_visible()
        assert token not in await page.content()  # the list never shows it again
        await expect(row.locator("td").nth(4)).not_to_have_text("never")  # its last use, just now

        asked: list[str] = []

        async def dismiss(d: Dialog) -> None:
            asked.append(d.message)
            await d.dismiss()

        page.once("dialog", dismiss)  # the confirmation refused: nothing revoked
        await row.locator("button[data-act=revoke]").click()
        await until(lambda: asked, what="the confirmation asked")
        await expect(row).to_contain_text("active")
        assert "warehouse" in asked[0] and "cannot be undone" in asked[0], asked
        assert (await c.get("/api/crm/interactions", headers=auth)).status_code == 200

        async def accept(d: Dialog) -> None:
            await d.accept()

        page.once("dialog", accept)
        await row.locator("button[data-act=revoke]").click()
        await expect(page.locator("#it-msg")).to_have_text("warehouse revoked: refused from now on")
        await expect(row).to_contain_text("revoked by admin")
        await expect(row.locator("button[data-act=revoke]")).to_have_count(0)
        assert (await c.get("/api/crm/interactions", headers=auth)).status_code == 401

    await page.click(".lang-toggle")  # translated as the other supervisor pages
    await expect(page.locator("#it-form button[type=submit]")).to_have_text("签发令牌")
    await expect(row).to_contain_text("已由 admin 吊销")


@NO_PBX_FOR_SUP1
async def test_a_supervisor_is_kept_out(site: Site, page: Page) -> None:
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await page.goto(site.base + "/integrations")
    await expect(page.locator("#forbidden")).to_be_visible()
    await expect(page.locator("#main")).to_be_hidden()


async def test_the_audio_checkbox_sits_beside_its_words(site: Site, page: Page) -> None:
    # The checkbox took a whole field's width and stood alone above its words (seen on the go-live
    # trial's screenshot of /integrations): it is a box beside "may download recordings' audio".
    await log_in(page, site.base, "admin", "admin-demo-1")
    await page.wait_for_url("**/wallboard")
    await page.goto(site.base + "/integrations")
    box = await page.locator("#it-audio").bounding_box()
    words = await page.locator("#it-audio + span").bounding_box()
    assert box and words
    assert box["width"] < 30, box
    middle = box["y"] + box["height"] / 2
    assert words["y"] <= middle <= words["y"] + words["height"], (box, words)
    assert box["x"] + box["width"] <= words["x"], (box, words)

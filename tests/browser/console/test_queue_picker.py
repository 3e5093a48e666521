"""Real Chromium: the Queues dialog offers the agent only the queues of their skills (and general),
while a transfer still offers every queue."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login


@pytest.mark.expected_failed_load(403, "/api/agent/queues/login")  # the queue not the agent's, asked below
async def test_the_queue_picker_offers_only_the_agents_own_queues(page: Page, site: Site) -> None:
    desk = site.demo.desk
    desk.agent_skills = {"a1001": {"support": 3, "zh": 5}}  # alice: support only (no general queue here)
    await login(page, site)
    await page.click("#btn-queues")
    await expect(page.locator("#queues-dialog")).to_be_visible()
    await expect(page.locator("#queues-list label")).to_have_text([" support"])
    await page.locator("#queues-list input").check()
    await expect(page.locator("#state-pill")).not_to_have_attribute("data-state", "logged_out")
    assert ("login_queues", "a1001", {"queues": ["support"]}) in desk.actions
    assert await page.locator("#xfer-queues option").evaluate_all("os => os.map((o) => o.value)") == \
        sorted(desk.queues)  # transfer targets: every queue, sorted as the real desk's catalog has them
    # A queue the agent has no skill for, asked for all the same, is refused naming it.
    refused = await page.evaluate("""async () => {
        const r = await fetch('/api/agent/queues/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                          body: JSON.stringify({queues: ['billing']})});
        return [r.status, (await r.json()).detail.message];
    }""")
    assert refused[0] == 403 and "'billing'" in refused[1], refused

"""Real Chromium on the wallboard (unstarted Engine, seeded CRM): a supervisor moves a waiting caller
to another queue with the Move button of the "Callers waiting" card (a queue chosen in its dialog);
the card then lists the caller in its new queue, and a refused move (the call started ringing an
agent meanwhile) says why. A manager gets no Move button."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page, expect

from acd.calls import LiveCall
from cti.ami.control import FakeCallControl
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


def _waiting(site: Site) -> None:
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    now = time.time()
    # Logged in, not ready: the calls wait (with nobody logged in, a queue sends them on).
    eng.router.agent_login("1002", {"support": 3, "billing": 3}, now - 60, queues=["support", "billing"])
    for linkedid, number in (("W1", "+8613800000001"), ("W2", "+8613800000002")):
        eng.acd.calls[linkedid] = LiveCall(linkedid=linkedid, caller_channel=f"PJSIP/trunk-{linkedid}",
                                           caller_number=number, queue="support", queued_at=now - 30)
        eng.router.enqueue(linkedid, "support", now - 30)


@NO_PBX_FOR_SUP1
@pytest.mark.expected_failed_load(409, "/api/supervisor/calls/W2/move")  # the refused move, below
async def test_a_supervisor_moves_a_waiting_caller_on_the_wallboard(site: Site, page: Page) -> None:
    _waiting(site)
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    row = page.locator('#waiting tr[data-linkedid="W1"]')
    await expect(row.locator("td").first).to_have_text("support")
    await row.get_by_role("button", name="Move").click()
    dialog = page.locator("#move-dlg")
    await expect(dialog).to_contain_text("+8613800000001")
    await expect(dialog.locator("#move-queue option")).not_to_contain_text(["support"])  # not its own queue
    await dialog.locator("#move-queue").select_option("billing")
    await dialog.get_by_role("button", name="Move").click()
    await expect(page.locator("#move-msg")).to_have_text("Moved +8613800000001 to billing")
    await expect(row.locator("td").first).to_have_text("billing")
    assert site.engine.router.call("W1").queue == "billing"
    audit = await site.svc.audit.list(target="call:W1")
    assert [(a["action"], a["actor"]) for a in audit] == [("call.move", "sup1")]
    # W2 starts ringing an agent while its dialog is open: the refusal is shown, the caller stays.
    row2 = page.locator('#waiting tr[data-linkedid="W2"]')
    await row2.get_by_role("button", name="Move").click()
    site.engine.router.agent_login("1005", {"support": 5}, time.time(), queues=["support"], ready=True)
    assert site.engine.router.call("W2").state.value == "ringing"
    await dialog.locator("#move-queue").select_option("general")
    await dialog.get_by_role("button", name="Move").click()
    await expect(page.locator("#move-msg")).to_contain_text("call W2 is ringing agent 1005")
    assert site.engine.router.call("W2").queue == "support"


async def test_a_manager_gets_no_move_button(site: Site, page: Page) -> None:
    _waiting(site)
    await log_in(page, site.base, "mgr1", "mgr1-demo-1")
    await page.wait_for_url("**/wallboard")
    row = page.locator('#waiting tr[data-linkedid="W1"]')
    await expect(row).to_be_visible()
    await expect(row.get_by_role("button", name="Move")).to_have_count(0)

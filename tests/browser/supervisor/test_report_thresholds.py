"""Real Chromium on the reports page: every report states the thresholds it used (docs/kpis.md). The
table showed service levels without their T, target or short-abandon threshold, and each queue's
row is computed with its own (general's target is 70 %, config/alerts.yaml): a reader could not tell
which, nor could the CSV, which had no target column. Found by the supervisor's trial."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

from playwright.async_api import Page, expect
from sqlalchemy import delete

from crm_core.models import Interaction, Segment
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@NO_PBX_FOR_SUP1
async def test_each_report_row_says_its_threshold_target_and_short_abandon_limit(site: Site, page: Page) -> None:
    now = time.time()
    async with site.engine.db.session() as s:
        await s.execute(delete(Segment))
        await s.execute(delete(Interaction))
        for i, queue in enumerate(("support", "general")):
            s.add(Interaction(linkedid=f"t{i}", direction="inbound", status="complete", queue=queue,
                              outcome="answered", agent_id="1001", started_at=_at(now - 300 + i), wait_s=5,
                              talk_s=30, answered_at=_at(now - 295 + i), ended_at=_at(now - 265 + i)))
    site.svc.invalidate_records()
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await page.goto(site.base + "/reports")
    await expect(page.locator("#report thead tr")).to_have_count(1)
    await page.select_option("#f-interval", "day")
    await page.select_option("#f-group", "queue")
    await page.click("#rep-form button[type=submit]")
    head = page.locator("#report thead")
    await expect(head).to_contain_text("SL threshold")
    support = page.locator("#report tbody tr", has=page.locator("td:nth-child(2)", has_text="support"))
    general = page.locator("#report tbody tr", has=page.locator("td:nth-child(2)", has_text="general"))
    await expect(support).to_contain_text("20 s / 80% · ≤ 5 s")
    await expect(general).to_contain_text("20 s / 70% · ≤ 5 s")
    await page.click(".lang-toggle")
    await expect(head).to_contain_text("服务水平阈值")
    await expect(general).to_contain_text("20 秒 / 70% · ≤ 5 秒")

    href = await page.get_attribute("#csv-link", "href")
    exported = await page.request.get(site.base + (href or ""))
    table = {r["key"]: r for r in csv.DictReader(io.StringIO(await exported.text()))}
    assert (table["support"]["sl_seconds"], table["support"]["sl_target"]) == ("20", "0.8")
    assert (table["general"]["sl_target"], table["general"]["short_abandon_s"]) == ("0.7", "5")

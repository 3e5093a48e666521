"""A report past ``MAX_REPORT_INTERVALS`` intervals is a 422 naming ``interval`` and the longest range
that interval allows, as JSON, as CSV and as a chart (93 days at 15 minutes were 7.9 MB of JSON and
2.7 s); within it the report is served."""

from __future__ import annotations

import csv
import io

import pytest

from tests.web.supervisor.conftest import Site, login


@pytest.mark.parametrize(("path", "extra"), [("/api/supervisor/reports", {}),
                                             ("/api/supervisor/reports", {"format": "csv"}),
                                             ("/api/supervisor/reports/chart.svg", {})])
async def test_a_report_of_too_many_intervals_is_refused_naming_interval(site: Site, path: str,
                                                                         extra: dict[str, str]) -> None:
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.get(path, params={"interval": "15m", "start": "2026-06-01", "end": "2026-09-02", **extra})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail["field"] == "interval"
        assert "8,928 intervals" in detail["message"] and "at most 2,000" in detail["message"]
        assert "at 15m a report covers at most 20 days 20 hours" in detail["message"]
        # The same range by the hour is still too long; by the day it is served.
        r = await c.get(path, params={"interval": "60m", "start": "2026-06-01", "end": "2026-09-02", **extra})
        assert r.status_code == 422 and "at most 83 days 8 hours" in r.json()["detail"]["message"]
        r = await c.get(path, params={"interval": "day", "start": "2026-06-01", "end": "2026-09-02", **extra})
        assert r.status_code == 200, r.text


async def test_twenty_days_at_fifteen_minutes_is_served(site: Site) -> None:
    async with site.client() as c:
        await login(c, "admin", "admin-demo-1")
        r = await c.get("/api/supervisor/reports", params={"interval": "15m", "start": "2026-06-01",
                                                           "end": "2026-06-21", "format": "csv"})
        assert r.status_code == 200, r.text
        assert len(list(csv.DictReader(io.StringIO(r.text)))) == 20 * 96

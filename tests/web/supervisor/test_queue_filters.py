"""Every route that filters by ``?queue=`` answers a queue that is not configured with a 422 naming
the parameter and the value: an integrator's typo got a 200 and an empty list, indistinguishable
from a quiet queue. Configured queues still filter. A real (unstarted) Engine, seeded SQLite CRM."""

from __future__ import annotations

import pytest

from tests.web.supervisor.conftest import Site, login

FILTERS = [
    "/api/supervisor/reports?queue={q}",
    "/api/supervisor/reports?queue=support&queue={q}",
    "/api/supervisor/reports/chart.svg?queue={q}",
    "/api/supervisor/callbacks?queue={q}",
    "/api/recordings?queue={q}",
    "/api/crm/interactions?queue={q}",
    "/api/crm/scripts?queue={q}",
    "/api/crm/scripts/suggest?queue={q}",
]


@pytest.mark.parametrize("route", FILTERS)
async def test_an_unknown_queue_is_a_422_naming_the_parameter_and_the_value(site: Site, route: str) -> None:
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.get(route.format(q="suport"))
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail["code"] == "invalid_input" and detail["field"] == "queue", detail
        assert "'suport'" in detail["message"] and "config/queues.yaml" in detail["message"], detail
        ok = await c.get(route.format(q="billing"))  # a configured queue filters as before
        assert ok.status_code == 200, ok.text

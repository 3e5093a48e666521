"""GET /api/supervisor/staffing: bounded inputs answered 422 naming the field, and the Erlang maths
off the event loop (a slow computation must not stall the engine)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from tests.web.supervisor.conftest import Site, login


@pytest.mark.parametrize(("params", "field"), [
    ({"calls": "1e300", "aht_s": 180}, "calls"),  # ran forever
    ({"calls": "1e8", "aht_s": 180}, "calls"),  # stalled the engine for 22 s
    ({"calls": 100, "aht_s": "1e300"}, "aht_s"),
    ({"calls": 100, "aht_s": 180, "agents": 10**12}, "agents"),
    ({"calls": 100, "aht_s": 180, "interval_s": "1e-300"}, "calls"),
    ({"calls": "inf", "aht_s": 180}, "calls"),
    ({"calls": 100, "aht_s": 180, "sl_target": "nan"}, "sl_target"),
])
async def test_out_of_range_staffing_is_a_422_naming_the_field(site: Site, params: dict[str, Any],
                                                               field: str) -> None:
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        # Answered at all, not after the maths ran (22 s, or forever): the bound is loose, a loaded
        # test machine took over 2 s for a plain 422.
        started = time.monotonic()
        r = await c.get("/api/supervisor/staffing", params=params)
        assert time.monotonic() - started < 8
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == field


async def test_staffing_runs_off_the_event_loop(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def slow_staffing(**kwargs: Any) -> dict[str, Any]:
        entered.set()
        released.append(release.wait(5))  # on the loop thread this would block the loop itself
        return {"agents": 14}

    monkeypatch.setattr(site.svc, "staffing", slow_staffing)
    async with site.client() as c, site.client() as other:
        await login(c, "sup1", "sup1-demo-1")
        await login(other, "sup1", "sup1-demo-1")
        slow = asyncio.create_task(c.get("/api/supervisor/staffing", params={"calls": 100, "aht_s": 180}))
        assert await asyncio.to_thread(entered.wait, 5)
        # The loop is free while the maths runs: another request is served meanwhile.
        r = await asyncio.wait_for(other.get("/api/supervisor/agents"), 3)
        assert r.status_code == 200
        release.set()
        assert (await slow).json() == {"agents": 14}
    assert released == [True]

"""The phone a spy rings first is the supervisor's own or one no user has (docs/security.md): before,
``phone`` could be any extension, so a supervisor could make a colleague's phone ring into a ChanSpy
of an agent's call (the colleague picking up would hear it). A colleague's phone (an active user's
extension, or the agent id of one without an extension) is a 403 naming ``phone``, and nothing is
originated. A real (unstarted) Engine, seeded SQLite CRM."""

from __future__ import annotations

import httpx
import pytest

from tests.web.security.test_spy_scope import _two_team_agent_on
from tests.web.supervisor.conftest import Site, login
from tests.web.supervisor.conftest import site as site  # the floor's site, served: not this folder's
from tests.web.supervisor.test_queue_scope import assign

pytestmark = pytest.mark.web


async def _spy(site: Site, phone: str | None) -> httpx.Response:
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")  # extension 1009
        return await c.post("/api/supervisor/agents/1003/spy",
                            json={"mode": "listen", **({"phone": phone} if phone is not None else {})})


async def test_a_colleagues_phone_is_refused_naming_phone_and_nothing_rings(site: Site) -> None:
    control = await _two_team_agent_on(site, "billing")
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    r = await _spy(site, "1004")  # agent4's desk phone
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "forbidden", detail
    assert detail["message"].startswith("phone: 1004 is the phone of 'agent4'"), detail
    assert control.called("spy") == [] and control.called("originate") == []


async def test_the_phone_of_a_user_whose_phone_is_their_agent_id_is_refused(site: Site) -> None:
    """A user with no extension answers on their agent id (crm_core.users: coalesce(extension, agent_id))."""
    control = await _two_team_agent_on(site, "billing")
    async with site.client() as c:
        await login(c, "admin", "admin-demo-1")
        r = await c.post("/api/admin/users", json={"username": "agent77", "password": "Seventy-seven-7",
                                                   "role": "agent", "display_name": "Agent 77", "agent_id": "1017"})
        assert r.status_code in (200, 201), r.text
    r = await _spy(site, "1017")
    assert r.status_code == 403, r.text
    assert r.json()["detail"]["message"].startswith("phone: 1017 is the phone of 'agent77' (their agent id)"), r.text
    assert control.called("spy") == []


@pytest.mark.parametrize("phone", [None, "1009", "2001"])
async def test_the_supervisors_own_phone_or_one_no_user_has_rings(site: Site, phone: str | None) -> None:
    control = await _two_team_agent_on(site, "billing")
    r = await _spy(site, phone)
    assert r.status_code == 200, r.text
    assert [c["supervisor_channel"] for c in control.called("spy")] == [f"Local/{phone or '1009'}@cti-sim-phone/n"]

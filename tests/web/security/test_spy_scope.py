"""A supervisor assigned queues listens, whispers and barges only into the calls of those queues
(docs/security.md, "Supervisors' queues"): an agent who serves one of them may be on a call of
another team's queue, which the wallboard shows the supervisor without its number or id; spying on
it is a 403 naming that queue, and nothing is originated. A real (unstarted) Engine, seeded SQLite CRM."""

from __future__ import annotations

import time

import httpx
import pytest

from acd.calls import LiveCall
from cti.ami.control import FakeCallControl
from tests.web.supervisor.conftest import Site, login
from tests.web.supervisor.conftest import site as site  # the floor's site, served: not this folder's
from tests.web.supervisor.test_queue_scope import assign

pytestmark = pytest.mark.web


async def _two_team_agent_on(site: Site, queue: str) -> FakeCallControl:
    """1003 serves support and billing (skills of both, logged in to both), talking on a call of ``queue``."""
    eng = site.engine
    control = FakeCallControl()
    eng.ami.control = control  # type: ignore[assignment]
    now = time.time()
    await eng.acd.agent_login("1003", {"support": 3, "billing": 3}, ["support", "billing"], ready=True)
    eng.acd.calls["L9"] = LiveCall(linkedid="L9", caller_channel="PJSIP/trunk-0009", caller_number="+8613800000009",
                                   queue=queue, status="talking", agent_id="1003",
                                   agent_channel="Local/1003@cti-sim-phone-00000009;1", answered_at=now)
    site.svc.invalidate_records()
    return control


async def _spy(site: Site, username: str, password: str) -> httpx.Response:
    async with site.client() as c:
        await login(c, username, password)
        return await c.post("/api/supervisor/agents/1003/spy", json={"mode": "listen", "phone": "2001"})


async def test_a_supervisor_of_billing_cannot_listen_to_a_support_call_of_an_agent_serving_both(
        site: Site) -> None:
    control = await _two_team_agent_on(site, "support")
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    r = await _spy(site, "sup1", "sup1-demo-1")
    assert r.status_code == 403, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert detail["code"] == "forbidden" and "'support'" in detail["message"] and "billing" in detail["message"], detail
    assert control.called("spy") == [] and control.called("originate") == []
    # The agent is theirs: forcing them not ready stays allowed (docs: either supervisor may).
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.post("/api/supervisor/agents/1003/not-ready", json={"reason": "supervisor"})
        assert r.status_code == 200, r.text


async def test_the_same_agent_on_a_billing_call_may_be_listened_to(site: Site) -> None:
    control = await _two_team_agent_on(site, "billing")
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    r = await _spy(site, "sup1", "sup1-demo-1")
    assert r.status_code == 200, r.text
    assert [c["target_channel"] for c in control.called("spy")] == ["Local/1003@cti-sim-phone-00000009;1"]


async def test_an_agents_own_call_of_no_queue_is_not_a_scoped_supervisors_to_hear(site: Site) -> None:
    """A click-to-dial call (no queue) is no team's: a supervisor of queues does not hear it (as for
    its live recording); an unscoped supervisor or an administrator does."""
    control = await _two_team_agent_on(site, "")
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    r = await _spy(site, "sup1", "sup1-demo-1")
    assert r.status_code == 403 and "(none)" in r.json()["detail"]["message"], r.text
    assert control.called("spy") == []
    r = await _spy(site, "admin", "admin-demo-1")
    assert r.status_code == 200, r.text

"""Virtual-hold places survive an engine restart, and a web request is called back through the real
Asterisk. Four entries wait in ``support``: A on the line, V who pressed the key and hung up, W a
web site's ``POST /api/callback-requests``, and C on the line (all of priority 0: a web request
has no tier, and a higher priority is served first whatever its time). The engine stops and a new one starts
on the same Asterisk and database: A and C are taken back from the PBX, V and W from the CRM, all in
their original order. The agent then gets A, then V's callback, then W's, then C: each callback is
dialled when its turn comes (never before a caller who was ahead) and reaches the agent with the
customer's pop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from acd.events import AgentOffer
from acd.virtual_hold import VirtualHoldPolicy
from callcenter.engine import Engine
from crm_core.models import CustomerPhone
from crm_core.virtual_holds import entry_row
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.asterisk.engine.test_virtual_hold import _press_the_key, _queued_caller, _talk_and_wrap
from tests.helpers import customer_number, engine_settings, seed, until

# cti-sim-customer: 8696... answer at once and stay up. Numbers of this run's own (the PBX outlives runs).
_RUN = int(time.time() * 10) % 10**6
V_NUMBER, W_NUMBER = f"+86961{_RUN:06d}", f"+86962{_RUN:06d}"
POLICY = VirtualHoldPolicy(offer_after_s=0, offer_ewt_s=None, first_offer_s=0.5, reoffer_every_s=None,
                           max_attempts=2, retry_pause_s=3, ring_s=10, confirm=False)


def _engine(settings: Settings, seen: list[Event], **kw: object) -> Engine:
    eng = Engine(settings, answer_after_s=0.5, **kw)  # type: ignore[arg-type]

    async def record(ev: Event) -> None:
        seen.append(ev)

    eng.bus.subscribe(Event, record, name="test.recorder")
    eng.virtual_hold.policies["support"] = POLICY  # config/queues.yaml turns it on for billing only
    return eng


async def _first_engine(settings: Settings) -> tuple[list[str], int]:
    """Queue A, V (presses the key), W (the web request) and C, then stop: the calls stay on the PBX."""
    seen: list[Event] = []
    eng = _engine(settings, seen)
    await eng.start()
    try:
        customer_id, _, number = await customer_number(eng)
        async with eng.db.session() as s:
            s.add_all([CustomerPhone(customer_id=customer_id, e164=n, label="mobile") for n in (V_NUMBER, W_NUMBER)])
        await eng.desk.login_queues("1001", ["support"])  # logged in, not ready: everyone waits
        a_id, _ = await _queued_caller(eng, seen, number, customer_id, priority=0)
        v_id, v_half = await _queued_caller(eng, seen, V_NUMBER, customer_id, priority=0)
        await _press_the_key(eng, v_id, v_half)
        assert eng.app is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=eng.app), base_url="http://site") as http:
            r = await http.post("/api/callback-requests", json={"number": W_NUMBER, "queue": "support"})
        assert r.status_code == 202, r.text
        w_id = r.json()["id"]
        c_id, _ = await _queued_caller(eng, seen, number, customer_id, priority=0)
        order = [a_id, v_id, w_id, c_id]
        assert eng.router.waiting("support") == order
        assert not [e for e in seen if isinstance(e, AgentOffer)]
        return order, customer_id
    finally:
        await eng.stop()  # a restart: nothing is hung up


async def test_places_survive_a_restart_and_callbacks_come_in_order(pbx: ManagedPbx, pbx_settings: Settings,
                                                                    tmp_path: Path) -> None:
    settings = engine_settings(pbx_settings, tmp_path)
    await seed(settings)
    order, customer_id = await _first_engine(settings)
    a_id, v_id, w_id, c_id = order

    seen: list[Event] = []
    eng = _engine(settings, seen, web=False)
    await eng.start()
    try:
        assert eng.router.waiting("support") == order  # the callers on the line and the virtual entries
        assert set(eng.virtual_hold.entries) == {v_id, w_id}
        await eng.desk.login_queues("1001", ["support"])
        await eng.desk.set_ready("1001")
        offers = lambda: [e for e in seen if isinstance(e, AgentOffer)]  # noqa: E731

        await until(lambda: offers(), what="the first offer")
        assert offers()[0].linkedid == a_id  # the caller ahead of V first: V was not called yet
        assert eng.virtual_hold.entries[v_id].attempts == []
        await _talk_and_wrap(eng, seen, a_id)
        for n, (entry_id, number) in enumerate(((v_id, V_NUMBER), (w_id, W_NUMBER)), start=2):
            back = (await until(lambda n=n: len(offers()) >= n and offers(), what=f"offer {n}", timeout_s=30))[-1]
            assert (back.caller_number, back.customer_id) == (number, customer_id)  # called back, with the pop
            assert back.linkedid not in order
            await _talk_and_wrap(eng, seen, back.linkedid)
            async with eng.db.session() as s:
                row = await entry_row(entry_id, session=s)
            assert row is not None and (row.state, row.connected_linkedid) == ("connected", back.linkedid)
            assert [a["result"] for a in row.attempts] == ["answered"]
        await until(lambda: len(offers()) >= 4, what="the last caller's offer")
        assert offers()[3].linkedid == c_id  # C, who came after both, last
        async with eng.db.session() as s:
            web = await entry_row(w_id, session=s)
        assert web is not None and web.source == "web"
    finally:
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.5)
        await eng.stop()

"""The first engine of test_virtual_hold_restart.py, killed: run as
``python -m tests.asterisk.engine.vhold_crashing_engine SETTINGS.json``.

It queues four entries in ``support`` (A on the line, V who presses the key and hangs up, W a web
site's callback request, C on the line), prints them in their order as one JSON line, and then
waits to be killed (SIGKILL: no clean shutdown, nothing flushed, nothing hung up)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

from acd.events import AgentOffer
from acd.virtual_hold import VirtualHoldPolicy
from callcenter.engine import Engine
from crm_core.models import CustomerPhone
from cti.events import Event
from cti.settings import Settings, load_settings
from tests.asterisk.engine.test_virtual_hold import _press_the_key, _queued_caller
from tests.helpers import customer_number

POLICY = VirtualHoldPolicy(offer_after_s=0, offer_ewt_s=None, first_offer_s=0.5, reoffer_every_s=None,
                           max_attempts=2, retry_pause_s=3, ring_s=10, confirm=False)


def vhold_engine(settings: Settings, seen: list[Event], **kw: object) -> Engine:
    eng = Engine(settings, answer_after_s=0.5, **kw)  # type: ignore[arg-type]

    async def record(ev: Event) -> None:
        seen.append(ev)

    eng.bus.subscribe(Event, record, name="test.recorder")
    eng.virtual_hold.policies["support"] = POLICY  # config/queues.yaml turns it on for billing only
    return eng


async def main(settings: Settings) -> None:
    # cti-sim-customer: 8696... answer at once and stay up. Numbers of this run's own (the PBX outlives runs).
    run = int(time.time() * 10) % 10**6
    v_number, w_number = f"+86961{run:06d}", f"+86962{run:06d}"
    seen: list[Event] = []
    eng = vhold_engine(settings, seen)
    await eng.start()
    customer_id, _, number = await customer_number(eng)
    async with eng.db.session() as s:
        s.add_all([CustomerPhone(customer_id=customer_id, e164=n, label="mobile") for n in (v_number, w_number)])
    await eng.desk.login_queues("1001", ["support"])  # logged in, not ready: everyone waits
    a_id, _ = await _queued_caller(eng, seen, number, customer_id, priority=0)
    v_id, v_half = await _queued_caller(eng, seen, v_number, customer_id, priority=0)
    # V speaks Chinese, as the IVR would have set it on the half waiting in cti-queue (its offer's
    # AGI reads it): the callback asks in it, after the restart too.
    await eng.ami.client.send_action("Setvar", {"Channel": v_half.removesuffix(";1") + ";2",
                                                "Variable": "CHANNEL(language)", "Value": "zh"})
    await _press_the_key(eng, v_id, v_half)
    assert eng.virtual_hold.entries[v_id].language == "zh"
    assert eng.app is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=eng.app), base_url="http://site") as http:
        r = await http.post("/api/callback-requests", json={"number": w_number, "queue": "support"})
    assert r.status_code == 202, r.text
    assert eng.virtual_hold.entries[r.json()["id"]].language == "zh"  # W's number is the Chinese-speaking customer's
    c_id, _ = await _queued_caller(eng, seen, number, customer_id, priority=0)
    order = [a_id, v_id, r.json()["id"], c_id]
    assert eng.router.waiting("support") == order
    assert not [e for e in seen if isinstance(e, AgentOffer)]
    print(json.dumps({"order": order, "customer_id": customer_id, "v": v_number, "w": w_number}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(load_settings(**json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))

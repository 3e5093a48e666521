"""Virtual-hold places survive an engine crash, and a web request is called back through the real
Asterisk. Four entries wait in ``support``: A on the line, V who pressed the key and hung up, W a
web site's ``POST /api/callback-requests``, and C on the line (all of priority 0: a web request
has no tier, and a higher priority is served first whatever its time). The engine, in a process of
its own, is killed (SIGKILL: nothing flushed, nothing hung up) and a new one starts on the same
Asterisk and database: A and C are taken back from the PBX, V and W from the CRM, all in their
original order. The agent then gets A, then V's callback, then W's, then C: each callback is
dialled when its turn comes (never before a caller who was ahead) and reaches the agent with the
customer's pop, its leg in the entry's language (V's channel's when it pressed the key, W's
customer's in the CRM: Chinese), which the new engine read back from the CRM."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from acd.events import AgentOffer
from crm_core.virtual_holds import entry_row
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.asterisk.engine.test_virtual_hold import _talk_and_wrap
from tests.asterisk.engine.vhold_crashing_engine import vhold_engine
from tests.asterisk.recovery import crashing_engine
from tests.helpers import engine_settings, seed, until


async def test_places_survive_a_crash_and_callbacks_come_in_order(pbx: ManagedPbx, pbx_settings: Settings,
                                                                    tmp_path: Path) -> None:
    settings = engine_settings(pbx_settings, tmp_path)
    await seed(settings)
    proc, before = await crashing_engine.start(settings, tmp_path, "tests.asterisk.engine.vhold_crashing_engine")
    proc.send_signal(signal.SIGKILL)  # no clean shutdown: what is not in the CRM or on the PBX is lost
    await proc.wait()
    order, customer_id, v_number, w_number = before["order"], before["customer_id"], before["v"], before["w"]
    a_id, v_id, w_id, c_id = order

    seen: list[Event] = []
    eng = vhold_engine(settings, seen, web=False)
    await eng.start()
    try:
        assert eng.router.waiting("support") == order  # the callers on the line and the virtual entries
        assert set(eng.virtual_hold.entries) == {v_id, w_id}
        # Both speak Chinese (V's channel when it pressed the key, W's customer in the CRM): read back from
        # the CRM, as the killed engine's memory is gone.
        assert {e.entry_id: e.language for e in eng.virtual_hold.entries.values()} == {v_id: "zh", w_id: "zh"}
        await eng.desk.login_queues("1001", ["support"])
        await eng.desk.set_ready("1001")
        offers = lambda: [e for e in seen if isinstance(e, AgentOffer)]  # noqa: E731

        await until(lambda: offers(), what="the first offer")
        assert offers()[0].linkedid == a_id  # the caller ahead of V first: V was not called yet
        assert eng.virtual_hold.entries[v_id].attempts == []
        await _talk_and_wrap(eng, seen, a_id)
        for n, (entry_id, number) in enumerate(((v_id, v_number), (w_id, w_number)), start=2):
            back = (await until(lambda n=n: len(offers()) >= n and offers(), what=f"offer {n}", timeout_s=30))[-1]
            assert (back.caller_number, back.customer_id) == (number, customer_id)  # called back, with the pop
            assert back.linkedid not in order
            # The callback's leg (the trunk's Local channel, in the PBX's default language when placed)
            # was given the entry's language before its question.
            leg = eng.acd.calls[back.linkedid].caller_channel
            assert await eng.ami.control.get_var(leg, "CHANNEL(language)") == "zh", (entry_id, leg)
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

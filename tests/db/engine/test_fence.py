"""A node that lost its routing lease to another (``fenced``: it stalled past the lease while a
standby took over) offers no call from that moment, whatever it still hears: the other node routes
now, and two nodes ringing agents for the same callers is what the lease exists to prevent. No PBX
is needed: the engine is not started, its ACD is driven directly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from acd.calls import LiveCall
from callcenter.engine import Engine
from cti.settings import load_settings


async def test_a_fenced_node_offers_no_more_calls(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state")
    engine = Engine(settings, web=False)
    try:
        for agent in ("1001", "1002"):
            await engine.acd.agent_login(agent, {"support": 5}, ["support"], ready=True)
        await engine.acd.enqueue(_call("before-fence"))
        assert engine.router.waiting("support") == []  # routing: offered to an agent at once
        engine._lease_lost("node-b")  # what the routing lease calls when another node holds it
        assert engine.fenced.is_set()
        await asyncio.sleep(0.05)  # the ACD's stop, started by the callback, runs
        idle = [a for a in ("1001", "1002") if engine.router.agent(a).state.value == "available"]
        assert len(idle) == 1
        await engine.acd.enqueue(_call("after-fence"))
        assert engine.router.waiting("support") == ["after-fence"]
        assert engine.router.agent(idle[0]).state.value == "available"
    finally:
        await engine.stop()


async def test_a_fenced_node_stops_delivering_webhooks_and_following_cases(tmp_path: Path) -> None:
    """Webhook deliveries and the case feed's follower run on the routing node only; the node that
    took the lease started its own. The fenced node stops both at once instead of running them
    beside the other node's until ``cti run`` gets round to stopping it (seconds later): every
    subscriber would get the same events from both nodes, and both would move the same cursors."""
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state")
    engine = Engine(settings, web=False)
    await engine.db.upgrade()
    await engine.webhooks.start()
    await engine.case_changes.start()
    try:
        assert engine.webhooks._saver is not None and engine.case_changes._task is not None
        engine._lease_lost("node-b")
        await asyncio.sleep(0.1)  # the stops, started by the callback, run
        assert engine.webhooks._saver is None and not engine.webhooks._started
        assert engine.case_changes._task is None
    finally:
        await engine.stop()


def _call(linkedid: str) -> LiveCall:
    return LiveCall(linkedid=linkedid, caller_channel=f"PJSIP/trunk-{linkedid}", caller_number="+8613800138000",
                    queue="support")

"""Asterisk killed with SIGKILL under live calls: a caller waiting in the queue and a call an
agent is talking on. After Asterisk is restarted and the engine reconnects, both interactions
end with the outcome ``system_failure`` at the moment the engine lost Asterisk (not when it came
back), and the queue counts no abandon."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from acd.events import AgentOffer
from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid
from cti.events import Event
from cti.journey import CallConnected, CallEnded, QueueEntered, QueueLeft
from cti.pbx import ManagedPbx
from tests.helpers import customer_number, place_call, until


async def test_calls_cut_by_a_pbx_crash_end_at_the_crash_as_system_failures(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx) -> None:
    eng, seen = engine
    _, _, number = await customer_number(eng)
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    queued = lambda: [e for e in seen if isinstance(e, QueueEntered)]  # noqa: E731
    talking = await place_call(eng, queued, number)
    await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None))
    offer = next(e for e in seen if isinstance(e, AgentOffer))
    assert offer.linkedid == talking.linkedid
    waiting = await place_call(eng, queued, number)  # the only agent is busy: it waits
    await asyncio.sleep(1.0)

    pid = pbx.pid()
    assert pid is not None
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(3.0)
    await asyncio.to_thread(pbx.up, progress=False)
    back_at = time.time()

    ended = await until(lambda: {e.linkedid: e for e in seen if isinstance(e, CallEnded)
                                 and e.linkedid in (talking.linkedid, waiting.linkedid)} or None, timeout_s=20)
    await until(lambda: len(ended) == 2 or None, timeout_s=1)
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    for lid in (talking.linkedid, waiting.linkedid):
        assert ended[lid].system_failure, ended[lid]
        async with eng.db.session() as s:
            interaction = await interaction_by_linkedid(session=s, linkedid=lid)
        assert interaction is not None and interaction.outcome == "system_failure", interaction
        assert not interaction.abandoned
        assert interaction.ended_at is not None
        end = interaction.ended_at.timestamp()
        assert abs(end - killed_at) < 0.5, (end - killed_at, back_at - killed_at)
    left = [e for e in seen if isinstance(e, QueueLeft) and e.linkedid == waiting.linkedid]
    assert [e.reason for e in left] == ["system_failure"]
    snap = eng.router.queue_snapshot(waiting.queue, time.time())
    assert snap.abandoned == 0 and snap.system_failures == 1 and snap.abandon_rate in (None, 0.0)


async def test_the_fallback_queues_get_their_members_back_after_a_pbx_restart(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx) -> None:
    """app_queue's fallback members are not persistent (queues.conf ``persistentmembers = no``): an
    Asterisk restart forgets them. The engine puts the logged-in agents back once AMI is back, and
    takes out an agent who logged out while Asterisk was away. Before, the members stayed missing
    until the next engine start, so an engine crash after a PBX restart left app_queue nobody to
    ring; and a logout AMI could not carry out stayed a member."""
    eng, _ = engine
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    await eng.desk.login_queues("1002", ["support"])
    await eng.fallback_members.wait_synced()
    members = lambda: pbx.cli("queue show cti-fallback-support")  # noqa: E731
    assert "1001" in members() and "1002" in members()

    pid = pbx.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    try:
        await asyncio.sleep(1.0)
        await eng.acd.agent_logout("1002")  # while Asterisk is away: AMI cannot carry it out
        await asyncio.sleep(2.0)
    finally:
        await asyncio.to_thread(pbx.up, progress=False)
    await until(lambda: "1001" in members() or None, timeout_s=20)
    await eng.fallback_members.wait_synced()
    assert "1002" not in members()
    assert "1001" in pbx.cli("queue show cti-fallback-general")

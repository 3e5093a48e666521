"""A virtual-hold callback's call put back in queue (its agent's softphone lost) and taken back by the
next engine on the real Asterisk: the queue entry the first engine wrote on the customer's channel
(``CTI_ACD`` v6, read back by AMI Getvar) marks it as the callback's call, so the restarted engine
offers it to the agent as a callback and its answer adds nothing to the queue's answered figures
(docs/kpis.md: a callback's call is in no offered figure). Before, the entry (v4) said nothing of it:
the restarted engine offered an ordinary caller and added its wait since the put-back to ASA.

The first engine's call is a caller in support made into the put-back callback's call by hand (its
``callback`` mark and put-back time, as acd.reconnect leaves them, then the entry written as
``AcdService.remember_entry`` writes it): the callback's own way through Asterisk is
tests/asterisk/engine/test_virtual_hold.py's."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from acd.events import AgentOffer
from acd.recovery import ENTRY_VAR, decode_entry
from cti.journey import QueueEntered
from tests.asterisk.recovery.restarts import Restarts
from tests.helpers import english_customer_number, place_call, until


async def test_a_put_back_callback_call_stays_the_callback_after_a_restart(restarts: Restarts) -> None:
    await restarts.seed()
    seen = restarts.seen
    first = restarts.engine()
    queues = first.router._queues
    queues["support"] = dataclasses.replace(queues["support"], no_agents_action=None)  # nobody is logged in
    await first.start()
    number = await english_customer_number(first)
    entered = await place_call(first, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
    lid, channel = entered.linkedid, entered.channel
    call = first.acd.calls[lid]
    call.callback, call.put_back_at = True, first.acd.clock()
    await first.acd.remember_entry(call)

    async def written() -> str | None:
        return await first.ami.control.get_var(channel, ENTRY_VAR)

    deadline = time.monotonic() + 5.0
    while not ((await written()) or "").startswith("v6|"):
        assert time.monotonic() < deadline, await written()
        await asyncio.sleep(0.1)
    entry = decode_entry(await written())
    assert entry is not None and entry.callback and entry.queue == "support"
    await first.stop()  # the customer stays in Asterisk, on music

    second = await restarts.start()
    report = second.recovery_report
    assert report is not None and lid in report.waiting
    assert second.acd.calls[lid].callback
    before = len(seen)
    await second.desk.login_queues("1001", ["support"])
    await second.desk.set_ready("1001")
    offer = await until(lambda: next((e for e in seen[before:] if isinstance(e, AgentOffer)), None),
                        what="the offer to 1001")
    assert (offer.linkedid, offer.callback) == (lid, True)
    await until(lambda: second.router.agent("1001").state.value == "on_call", what="1001 answering")
    support = second.router.queue_snapshot("support", time.time())
    assert (support.offered, support.answered, support.answered_wait_s) == (0, 0, 0.0)

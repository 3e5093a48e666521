"""Virtual hold and toll fraud on the real Asterisk: a caller presenting a premium-rate caller ID
(+44 909 879 0000, a UK premium number; a caller ID is the caller's to choose on many trunks) is
offered the key and presses it; the engine refuses to call that number back, so the caller keeps
waiting on the line, in its place, and no callback is ever originated to it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from acd.virtual_hold import VirtualHoldPolicy
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueLeft
from tests.asterisk.engine.test_virtual_hold import _queued_caller
from tests.helpers import customer_number

pytestmark = pytest.mark.asterisk
PREMIUM = "+449098790000"


async def test_a_premium_rate_caller_id_pressing_the_key_keeps_waiting(engine: tuple[Engine, list[Event]],
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="acd.virtual_hold_pbx")
    eng, seen = engine
    vh = eng.virtual_hold
    vh.policies["support"] = VirtualHoldPolicy(offer_after_s=0, offer_ewt_s=None, first_offer_s=0.5,
                                               reoffer_every_s=None, max_attempts=2, retry_pause_s=3, ring_s=10)
    customer_id, _, number = await customer_number(eng)
    await eng.desk.login_queues("1001", ["support"])  # logged in, not ready: callers wait
    first, _ = await _queued_caller(eng, seen, number, customer_id)
    linkedid, channel = await _queued_caller(eng, seen, PREMIUM, customer_id)
    half = channel.removesuffix(";1") + ";2"
    deadline = time.monotonic() + 20
    refused = f"virtual hold: {linkedid} is not called back: {PREMIUM} is a premium-rate"
    while refused not in caplog.text and linkedid not in vh.entries:  # the key is heard once the offer listens
        assert time.monotonic() < deadline, "the caller was never offered the key"
        await eng.ami.control.play_dtmf(channel, "*")  # the caller's end: through the Local channel to the AGI
        await asyncio.sleep(0.7)
    await asyncio.sleep(1.0)  # back on the music, still in the queue, no callback
    assert linkedid not in vh.entries
    assert eng.router.waiting("support") == [first, linkedid]
    assert not [e for e in seen if isinstance(e, QueueLeft) and e.linkedid == linkedid]
    assert any(ch.name == half for c in eng.ami.model.calls() for ch in c.live)
    assert not any(
        "449098790000" in ch.name for c in eng.ami.model.calls() for ch in c.live)

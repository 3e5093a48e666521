"""Virtual hold and toll fraud on the real Asterisk: a caller presenting a premium-rate caller ID
(+44 909 879 0000, a UK premium number; a caller ID is the caller's to choose on many trunks) waits
in a queue that offers virtual hold, next to a customer waiting as long. The customer is offered the
key; the premium-rate caller hears its position announcement to its end but never the offer (the
callback would refuse that number: ``VirtualHold.callback_number``, one rule for the offer and the
key), keeps waiting in its place, and no callback is ever originated to it. On the code before, the
offer played to both (Asterisk's log named cti/vhold_offer on the premium caller's channel)."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from acd.decisions import Announce
from acd.virtual_hold import VirtualHoldPolicy
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueLeft
from cti.pbx import ManagedPbx
from tests.asterisk.caller import ears
from tests.asterisk.engine.test_virtual_hold import _queued_caller
from tests.helpers import customer_number, until

pytestmark = pytest.mark.asterisk
PREMIUM = "+449098790000"


def _played(log: str, channel: str) -> list[str]:
    """The sound files Asterisk's verbose log says it played on ``channel``, in order."""
    return re.findall(rf"<{re.escape(channel)}> Playing '([^']+?)(?:\.[a-z0-9]+)?'", log)


async def test_a_premium_rate_caller_hears_its_announcement_but_is_never_offered_the_key(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="acd.virtual_hold_pbx")
    eng, seen = engine
    vh = eng.virtual_hold
    vh.policies["support"] = VirtualHoldPolicy(offer_after_s=0, offer_ewt_s=None, first_offer_s=0.5,
                                               reoffer_every_s=None, max_attempts=2, retry_pause_s=3, ring_s=10)
    customer_id, _, number = await customer_number(eng)
    await eng.desk.login_queues("1001", ["support"])  # logged in, not ready: callers wait
    with ears.verbose_log(pbx) as path:
        first, first_channel = await _queued_caller(eng, seen, number, customer_id)
        linkedid, channel = await _queued_caller(eng, seen, PREMIUM, customer_id)
        await eng.acd.decide(lambda now: [Announce(call_id=linkedid, queue="support", position=2, ewt_s=90)])
        customer, premium = (c.removesuffix(";1") + ";2" for c in (first_channel, channel))  # in cti-queue

        def log() -> str:
            return path.read_text(errors="replace") if path.exists() else ""

        await until(lambda: "cti/vhold_offer" in _played(log(), customer), timeout_s=20,
                    what="the customer offered the key")
        await until(lambda: "queue-thankyou" in _played(log(), premium), timeout_s=30,
                    what="the premium-rate caller's announcement to its end")
        await asyncio.sleep(3.0)  # the offer loop runs every second: past its end, nothing comes
        said = _played(log(), premium)
    assert said[:2] == ["queue-thereare", "digits/1"], said  # "there is 1 call waiting ..."
    assert "cti/vhold_offer" not in said, said
    assert f"virtual hold: {linkedid} is not offered the key: number: {PREMIUM} is a premium-rate" in caplog.text
    assert linkedid not in vh.entries and not any(e.number == PREMIUM for e in vh.entries.values())
    assert eng.router.waiting("support") == [first, linkedid]  # in its place, on the line
    assert not [e for e in seen if isinstance(e, QueueLeft) and e.linkedid == linkedid]
    assert any(ch.name == premium for c in eng.ami.model.calls() for ch in c.live)
    assert not any("449098790000" in ch.name for c in eng.ami.model.calls() for ch in c.live)

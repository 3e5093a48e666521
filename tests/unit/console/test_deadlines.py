"""One loop timer for many deadlines (the hub's pop timeouts), and the offer frame the hub builds."""

from __future__ import annotations

import asyncio

import pytest

from agent_console import protocol as p
from agent_console.deadlines import Deadlines
from agent_console.snapshots import offer_frame


async def test_deadlines_fire_in_order_and_cancelled_ones_never_fire() -> None:
    fired: list[str] = []
    done = asyncio.Event()
    d = Deadlines()
    d.add(0.03, lambda: (fired.append("late"), done.set()))
    d.add(0.01, lambda: fired.append("early"))  # earlier than the armed timer: re-armed for it
    d.add(0.02, lambda: fired.append("cancelled")).cancel()
    d.add(0.02, lambda: fired.append("middle"))
    assert len(d) == 3
    await asyncio.wait_for(done.wait(), 2)
    assert fired == ["early", "middle", "late"]
    assert len(d) == 0


async def test_a_failing_callback_does_not_strand_the_others(caplog: pytest.LogCaptureFixture) -> None:
    done = asyncio.Event()
    d = Deadlines()

    def boom() -> None:
        raise RuntimeError("boom")

    d.add(0.0, boom)
    d.add(0.0, done.set)
    await asyncio.wait_for(done.wait(), 2)
    assert "deadline callback failed" in caplog.text


async def test_clear_drops_every_deadline() -> None:
    fired: list[int] = []
    d = Deadlines()
    d.add(0.0, lambda: fired.append(1))
    d.clear()
    await asyncio.sleep(0.01)
    assert fired == [] and len(d) == 0


def test_offer_frame_is_the_protocol_frame() -> None:
    pop = p.Pop(call_id="c1", caller_number="+8613800138000", customer=p.CustomerCard(id=7, name="Wei Zhang"),
                waited_s=8.0, queue="support", skills={"general": 1})
    offer = p.OfferView(call_id="c1", queue="support", caller_number="+8613800138000", offered_at=1.5, pop=pop)
    assert offer_frame(offer) == p.OfferFrame(offer=offer).model_dump_json()

"""One prompt at a time for a waiting caller: the virtual-hold offer waits until the position
announcement in progress has ended, and an announcement is not started over the offer, so that a
caller never hears one cut off by the other (each is a redirect, and a redirect ends the AGI
that plays the other)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from acd.announce import PromptFloor, make_announce_route
from acd.calls import LiveCall
from acd.decisions import Announce
from acd.virtual_hold import VirtualHoldPolicy
from acd.virtual_hold_pbx import OFFER_CONTEXT, VirtualHold
from tests.unit.acd.test_callback_language import virtual_hold

POLICY = VirtualHoldPolicy(offer_after_s=10, offer_ewt_s=None, first_offer_s=1, reoffer_every_s=None)


def test_one_prompt_at_a_time_per_channel_until_released_or_its_lease_is_over() -> None:
    floor = PromptFloor(lease_s=45)
    assert floor.claim("PJSIP/a-1", "announcement", 100.0)
    assert not floor.claim("PJSIP/a-1", "offer", 101.0)  # the announcement plays: the offer waits
    assert floor.claim("PJSIP/b-2", "offer", 101.0)  # another caller's is its own
    assert floor.holder("PJSIP/a-1", 101.0) == "announcement"
    floor.release("PJSIP/a-1", "offer")  # not the holder's: changes nothing
    assert not floor.claim("PJSIP/a-1", "offer", 102.0)
    floor.release("PJSIP/a-1", "announcement")
    assert floor.holder("PJSIP/a-1", 102.0) is None
    assert floor.claim("PJSIP/a-1", "offer", 102.0)
    assert not floor.claim("PJSIP/a-1", "announcement", 146.9)
    # A prompt whose AGI never came (the caller hung up on the way) does not hold the floor for ever.
    assert floor.claim("PJSIP/a-1", "announcement", 147.0)
    assert floor.holder("PJSIP/b-2", 147.0) is None and len(floor) == 1  # the expired one was let go


class Session:
    """An announce AGI conversation: the channel's variables, what it was told to say."""

    def __init__(self, channel: str) -> None:
        self._env = {"channel": channel, "language": "en"}
        self.said: list[str] = []
        self.vars = {"CTI_POSITION": "1", "CTI_EWT": "30"}

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    async def get_variable(self, name: str) -> str | None:
        return self.vars.get(name)

    async def stream_file(self, sound: str, escape_digits: str = "") -> str:
        self.said.append(sound)
        return ""

    async def say_number(self, number: int, escape_digits: str = "") -> str:
        self.said.append(str(number))
        return ""


@pytest.fixture
async def vh() -> AsyncIterator[VirtualHold]:
    async with virtual_hold(POLICY) as v:
        yield v


def _contexts(vh: VirtualHold) -> list[str]:
    return [r["context"] for r in vh.acd.control.called("redirect")]  # type: ignore[attr-defined]


async def test_the_offer_due_during_an_announcement_waits_for_its_end(vh: VirtualHold) -> None:
    acd = vh.acd
    await acd.enqueue(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "support"))
    acd.clock.now = 109.0  # type: ignore[attr-defined]
    await acd.decide(lambda now: [Announce(call_id="c1", queue="support", position=1, ewt_s=30.0)])
    assert _contexts(vh) == ["cti-announce"]
    acd.clock.now = 111.0  # type: ignore[attr-defined]  # the offer is due; the announcement plays
    session = Session("PJSIP/x-1")
    await vh.offer_due_callers()
    assert _contexts(vh) == ["cti-announce"]
    await make_announce_route(acd.floor)(session)  # type: ignore[arg-type]  # said whole, then the music
    assert session.said[0] == "queue-youarenext" and session.said[-1] == "queue-thankyou"
    acd.clock.now = 112.0  # type: ignore[attr-defined]
    await vh.offer_due_callers()
    assert _contexts(vh) == ["cti-announce", OFFER_CONTEXT]


async def test_an_announcement_due_while_the_offer_plays_is_not_started(vh: VirtualHold) -> None:
    acd = vh.acd
    await acd.enqueue(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "support"))
    acd.clock.now = 111.0  # type: ignore[attr-defined]
    await vh.offer_due_callers()
    assert _contexts(vh) == [OFFER_CONTEXT]
    await acd.decide(lambda now: [Announce(call_id="c1", queue="support", position=1, ewt_s=30.0)])
    assert _contexts(vh) == [OFFER_CONTEXT]  # not over the offer
    acd.floor.release("PJSIP/x-1", "offer")  # the offer's route ended: back to the music
    await acd.decide(lambda now: [Announce(call_id="c1", queue="support", position=1, ewt_s=30.0)])
    assert _contexts(vh) == [OFFER_CONTEXT, "cti-announce"]

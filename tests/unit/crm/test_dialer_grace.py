"""The drop grace (docs/outbound.md, "What a drop is"): a person who answers when no agent is free
waits, without a message, at most 2 s for an agent who frees up (wrap-up ending, a call ending).
Reached within the grace, they are not a drop; past it they hear the drop message and are recorded
``dropped``. Simulated time: the dialer's clock and its grace timer are the test's; the ACD is the
real one (router, wrap-up timer) on an in-memory PBX."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.events import AgentStateChanged
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from crm_core.campaign_models import Campaign, CampaignContact
from crm_core.dialer import CampaignDialer
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.journey import CallEnded, CampaignAttemptEnded
from cti.trunks import TrunksConfig

WRAP_S = 3.0


class _Session:
    """The attempt rows are not what these tests look at: the published results are."""

    async def scalar(self, *_: Any) -> None:
        return None


class _Db:
    @asynccontextmanager
    async def session(self) -> AsyncIterator[_Session]:
        yield _Session()


class _Time:
    """The clock, and the dialer's sleep: a grace timer ends only when the test lets it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.asked: list[float] = []
        self.expire = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.expire.wait()


class _Rig:
    def __init__(self) -> None:
        self.time = _Time()
        self.router = Router([QueueConfig("support", wrap_up_s=WRAP_S)])
        self.router.agent_login("1001", {}, self.time.now, queues=["support"], ready=True)
        self.bus = InProcessBus()
        self.results: list[CampaignAttemptEnded] = []
        self.acd = AcdService(self.router, FakeCallControl(), self.bus, clock=self.time)
        self.dialer = CampaignDialer(cast(Any, _Db()), self.acd, FakeCallControl, self.bus, routing=TrunksConfig(),
                                     clock=self.time, sleep=self.time.sleep)
        self.dialer.subscribe()
        campaign = Campaign(id=1, name="c", queue="support", skills={}, mode="predictive", state="running",
                            caller_id=None, drop_cap=0.03, max_lines_per_agent=3.0, drop_message="vm-goodbye",
                            machine_action="retry", machine_message="", script="")
        self.run = self.dialer.live[1] = self.dialer._live_campaign(campaign)

    async def start(self) -> None:
        async def result(ev: CampaignAttemptEnded) -> None:
            self.results.append(ev)

        self.bus.subscribe(CampaignAttemptEnded, result, name="test.results")
        await self.bus.start()

    async def agent_in_wrap_up(self) -> None:
        """1001 takes an inbound call (the fake PBX answers at once) and it ends: wrap-up until now + WRAP_S."""
        await self.acd.enqueue(LiveCall(linkedid="in-1", caller_channel="PJSIP/in-1", caller_number="100",
                                        queue="support"))
        ring = self.acd.calls["in-1"].ring_task  # the agent's leg rings (and is answered) in the background
        assert ring is not None
        await ring
        await self.acd.decide(lambda t: self.router.call_ended("in-1", t))
        assert self.acd.agent("1001").state is AgentState.WRAP_UP

    def ringing(self, linkedid: str) -> None:
        contact = CampaignContact(id=7, number="+8615900000001", name="Li", customer_id=None, data={})
        attempt = self.dialer.new_attempt(self.run, contact, linkedid, self.time.now - 5.0)
        self.run.ringing[linkedid] = attempt
        self.dialer.track(attempt)

    async def waits(self, task: asyncio.Task[tuple[str, str]]) -> None:
        """The person is held: the grace timer runs and nothing is decided yet."""
        for _ in range(50):
            if self.time.asked:
                break
            await asyncio.sleep(0)
        assert self.time.asked == [2.0] and not task.done()
        assert self.dialer._floor(self.run, self.time.now).waiting == 1


@pytest.fixture
async def rig() -> AsyncIterator[_Rig]:
    r = _Rig()
    await r.start()
    yield r
    await r.dialer.stop()
    await r.bus.stop()


async def test_a_person_answered_a_second_before_the_wrap_up_ends_reaches_that_agent(rig: _Rig) -> None:
    await rig.agent_in_wrap_up()
    rig.time.now += WRAP_S - 1.0  # 1 s of wrap-up left
    rig.ringing("cmp1-a")
    answered = asyncio.create_task(rig.dialer.answered("cmp1-a", "Local/8615900000001@cti-external-0001;1", "HUMAN"))
    await rig.waits(answered)
    rig.time.now += 1.0
    await rig.acd.decide(rig.router.tick)  # the wrap-up ends: 1001 is available
    assert await asyncio.wait_for(answered, 1.0) == ("queue", "")
    await rig.bus.drain()
    assert [r.result for r in rig.results] == ["human"]
    agent = rig.acd.agent("1001")
    assert "cmp1-a" in agent.offers + agent.calls  # the ACD gave the person to 1001
    assert rig.run.pacer.drop_rate(rig.time.now) == 0.0 and not rig.run.waiting


async def test_with_no_agent_free_within_2_s_the_person_is_dropped_at_2_s_with_the_message(rig: _Rig) -> None:
    await rig.agent_in_wrap_up()  # 3 s of wrap-up left: more than the grace
    rig.ringing("cmp1-b")
    answered_at = rig.time.now
    answered = asyncio.create_task(rig.dialer.answered("cmp1-b", "Local/8615900000001@cti-external-0001;1", "HUMAN"))
    await rig.waits(answered)
    rig.time.now += 2.0
    rig.time.expire.set()
    assert await asyncio.wait_for(answered, 1.0) == ("drop", "vm-goodbye")  # cti-campaign plays it, hangs up
    await rig.bus.drain()
    assert [(r.result, r.ts - answered_at) for r in rig.results] == [("dropped", 2.0)]
    assert rig.run.pacer.drop_rate(rig.time.now) == 1.0 and not rig.run.waiting
    rig.time.now += 1.0
    await rig.acd.decide(rig.router.tick)  # an agent freeing up later takes nobody from the campaign
    await rig.bus.drain()
    agent = rig.acd.agent("1001")
    assert not agent.offers and not agent.calls


async def test_a_person_who_hangs_up_during_the_grace_is_a_drop(rig: _Rig) -> None:
    await rig.agent_in_wrap_up()
    rig.ringing("cmp1-c")
    answered = asyncio.create_task(rig.dialer.answered("cmp1-c", "Local/8615900000001@cti-external-0001;1", "HUMAN"))
    await rig.waits(answered)
    rig.time.now += 1.0
    await rig.bus.publish(CallEnded(ts=rig.time.now, linkedid="cmp1-c"))
    assert await asyncio.wait_for(answered, 1.0) == ("hangup", "")
    await rig.bus.drain()
    assert [r.result for r in rig.results] == ["dropped"]
    assert rig.run.pacer.drop_rate(rig.time.now) == 1.0


def test_the_grace_is_never_more_than_2_s() -> None:
    with pytest.raises(ValueError, match="grace_s"):
        CampaignDialer(cast(Any, _Db()), cast(Any, None), FakeCallControl, InProcessBus(), routing=TrunksConfig(),
                       grace_s=2.5)


async def test_a_stopped_dialer_dials_for_no_agent_who_frees_up(rig: _Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent freed while the engine stops (a wrap-up ending) must not start a tick that dials a
    customer no engine will be there to route."""
    ticks: list[float] = []

    async def tick() -> None:
        ticks.append(rig.time.now)

    monkeypatch.setattr(rig.dialer, "tick", tick)
    rig.dialer._task = asyncio.create_task(asyncio.sleep(3600))  # started (its tick loop)
    freed = AgentStateChanged(ts=rig.time.now, agent_id="1001", state=AgentState.AVAILABLE.value)
    await rig.bus.publish(freed)
    await rig.bus.drain()
    await asyncio.sleep(0)
    assert ticks == [rig.time.now]  # a running dialer dials for the freed agent at once
    await rig.dialer.stop()
    await rig.bus.publish(freed)
    await rig.bus.drain()
    await asyncio.sleep(0)
    assert ticks == [rig.time.now] and not rig.dialer._tasks

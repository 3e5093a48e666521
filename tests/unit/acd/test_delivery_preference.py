"""Preferred-agent memory of the delivery adapter: bounded by its window, and a blind transfer
prefers the colleague it names, never the agent who passed the call on."""

import asyncio

import pytest

from acd.calls import LiveCall, RecentAgents
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus


def test_recent_agents_forget_past_the_window() -> None:
    memory = RecentAgents(window_s=60)
    memory.remember(1, "1001", now=0)
    memory.remember(2, "1002", now=30)
    assert memory.get(1, now=59) == "1001" and memory.get(1, now=61) is None
    memory.remember(3, "1003", now=70)  # customer 1 (served at 0) is dropped
    assert len(memory) == 2 and memory.get(2, now=70) == "1002"
    memory.remember(2, "1004", now=80)  # served again: newest, kept past customer 3
    memory.remember(4, "1005", now=135)  # drops customer 3 (70), keeps 2 (80)
    assert len(memory) == 2 and memory.get(2, now=135) == "1004"


def test_recent_agents_have_a_hard_cap() -> None:
    memory = RecentAgents(window_s=3600, cap=3)
    for customer in range(10):
        memory.remember(customer, f"10{customer:02d}", now=customer)
    assert len(memory) == 3 and memory.get(9, now=10) == "1009" and memory.get(6, now=10) is None


@pytest.fixture
def acd() -> AcdService:
    queues = [QueueConfig(name="support", preferred_agent_s=30)]
    service = AcdService(Router(queues), FakeCallControl(), InProcessBus(), clock=lambda: 1000.0)
    return service


async def _talking(acd: AcdService, agent: str) -> None:
    acd.calls["L1"] = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138",
                               queue="support", customer_id=7, status="talking", agent_id=agent,
                               agent_channel=f"PJSIP/{agent}-1")
    acd._last_agent.remember(7, agent, 990.0)


@pytest.mark.parametrize(("target_kind", "target", "preferred"), [("agent", "1002", "1002"),
                                                                  ("queue", "support", None)])
async def test_blind_transfer_prefers_the_named_agent_not_the_one_passing_it_on(
        acd: AcdService, target_kind: str, target: str, preferred: str | None) -> None:
    for agent in ("1001", "1002", "1003"):
        await acd.agent_login(agent, {}, ["support"], ready=False)
    await _talking(acd, "1001")
    await acd.actions.transfer("L1", target_kind=target_kind, target=target)
    assert acd.router.call("L1").preferred_agent == preferred


async def test_a_new_call_prefers_the_customers_last_agent(acd: AcdService) -> None:
    await acd.agent_login("1001", {}, ["support"], ready=False)
    acd._last_agent.remember(7, "1001", 990.0)
    await acd.enqueue(LiveCall(linkedid="L2", caller_channel="PJSIP/trunk-2", caller_number="138",
                               queue="support", customer_id=7))
    assert acd.router.call("L2").preferred_agent == "1001"


async def test_a_failing_ring_task_is_logged_not_lost(acd: AcdService, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("originate exploded")

    acd.control.originate = broken  # type: ignore[method-assign]
    await acd.agent_login("1001", {}, ["support"], ready=True)
    await acd.enqueue(LiveCall(linkedid="L3", caller_channel="PJSIP/trunk-3", caller_number="139", queue="support"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert "acd.ring:L3 failed" in caplog.text and "originate exploded" in caplog.text
    assert acd.rings_in_flight() == 0

"""The ACD's queue entry riding in the IVR's hand-off (acd.handoff): the enqueue after the IVR writes
no ``CTI_ACD`` of its own; every other way into the queue still writes it."""

from __future__ import annotations

import asyncio

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.handoff import Handoffs
from acd.model import LimitKind, LimitSpec, QueueConfig
from acd.recovery import ENTRY_VAR, QueueEntry, decode_entry
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.journey import CallEnded, IvrFinished

CHANNEL = "Local/5002@cti-inbound-00000001;2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def acd(clock: Clock) -> AcdService:
    return AcdService(Router([QueueConfig(name="support"), QueueConfig(name="sales")]), FakeCallControl(),
                      InProcessBus(), clock=clock)


def _finished(linkedid: str = "L1", *, queue: str = "support", caller: str = "+8613800000001") -> IvrFinished:
    return IvrFinished(ts=0.0, linkedid=linkedid, flow="demo", outcome="queue", channel=CHANNEL,
                       caller_number=caller, queue=queue, skills={"support": 2, "zh": 1}, priority=10,
                       customer_id=42)


def _handoff(acd: AcdService, linkedid: str = "L1", *, caller: str = "+8613800000001") -> dict[str, str]:
    return acd.handoff_vars(linkedid, "support", priority=10, customer_id=42, skills={"support": 2, "zh": 1},
                            caller_number=caller)


async def _entries_written(acd: AcdService) -> list[str]:
    for _ in range(3):
        await asyncio.sleep(0)  # the background Setvar (acd.remember_entry)
    control = acd.control
    assert isinstance(control, FakeCallControl)
    return [kw["value"] for method, kw in control.calls if method == "set_var" and kw["name"] == ENTRY_VAR]


async def test_the_ivr_s_entry_is_what_enqueue_would_write_and_enqueue_writes_none(acd: AcdService,
                                                                                   clock: Clock) -> None:
    handed = _handoff(acd)
    assert list(handed) == [ENTRY_VAR] and "," not in handed[ENTRY_VAR]  # one MSet pair
    assert decode_entry(handed[ENTRY_VAR]) == QueueEntry("L1", "support", 1000.0, 10, 42, {"support": 2, "zh": 1},
                                                         "+8613800000001")
    clock.now = 1000.02  # the IvrFinished reaches the ACD a moment later
    await acd.follower.on_ivr_finished(_finished())
    assert await _entries_written(acd) == []
    assert acd.calls["L1"].queued_at == 1000.0  # the entry time the channel carries
    clock.now = 1000.0004  # entered to the millisecond, as the channel carries it
    _handoff(acd, "L2")
    await acd.follower.on_ivr_finished(_finished("L2"))
    assert acd.calls["L2"].queued_at == 1000.0
    assert len(acd.handoffs) == 0  # taken: a later enqueue of this call (a transfer) writes its own


async def test_calls_that_did_not_come_through_the_ivr_get_their_entry_written(acd: AcdService) -> None:
    await acd.enqueue(LiveCall(linkedid="D1", caller_channel="PJSIP/trunk-1", caller_number="+861390", queue="sales"))
    (written,) = await _entries_written(acd)
    assert decode_entry(written) == QueueEntry("D1", "sales", 1000.0, 0, None, None, "+861390")


async def test_an_enqueue_that_differs_from_the_hand_off_writes_its_own(acd: AcdService) -> None:
    _handoff(acd)
    await acd.follower.on_ivr_finished(_finished(queue="sales"))
    (written,) = await _entries_written(acd)
    entry = decode_entry(written)
    assert entry is not None and entry.queue == "sales"


async def test_a_caller_a_limit_moves_on_entry_gets_the_new_queue_written(clock: Clock) -> None:
    """Nobody logged in to support: ``no_agents_action`` moves the caller to general as it enters;
    the entry the IVR wrote (support) is written again with general, as before the hand-off, without
    support's topic skill (acd.model.moved_skills)."""
    moving = QueueConfig(name="support", no_agents_action=LimitSpec(LimitKind.QUEUE, "general"))
    acd = AcdService(Router([moving, QueueConfig(name="general")]), FakeCallControl(), InProcessBus(), clock=clock)
    _handoff(acd)
    await acd.follower.on_ivr_finished(_finished())
    (written,) = await _entries_written(acd)
    assert decode_entry(written) == QueueEntry("L1", "general", 1000.0, 10, 42, {"zh": 1},
                                               "+8613800000001")


async def test_an_entry_agi_cannot_carry_is_left_to_the_enqueue(acd: AcdService) -> None:
    caller = '+86"1'  # a double quote breaks AGI's argument quoting; AMI's Setvar carries it
    assert _handoff(acd, caller=caller) == {}
    await acd.follower.on_ivr_finished(_finished(caller=caller))
    (written,) = await _entries_written(acd)
    assert decode_entry(written) is not None and decode_entry(written).caller_number == caller  # type: ignore[union-attr]


async def test_a_hand_off_never_enqueued_is_forgotten(acd: AcdService) -> None:
    _handoff(acd, "gone")
    await acd.follower.on_call_ended(CallEnded(ts=0.0, linkedid="gone"))
    assert len(acd.handoffs) == 0
    pending = Handoffs(cap=2)
    for lid in ("a", "b", "c"):
        pending.vars(lid, "support")
    assert len(pending) == 2
    assert pending.take(LiveCall(linkedid="a", caller_channel=CHANNEL, caller_number="", queue="support")) is None


async def test_a_caller_max_wait_moves_to_another_queue_carries_the_new_queue(clock: Clock) -> None:
    """``max_wait_action: queue``: the caller waits on in general, so a restarted engine (and the
    fallback's app_queue, which cuts the queue out of ``CTI_ACD``) must find general there, with
    the caller's first entry time kept, and its move's (where its stay in general starts)."""
    moving = QueueConfig(name="support", max_wait_s=60, max_wait_action=LimitSpec(LimitKind.QUEUE, "general"))
    acd = AcdService(Router([moving, QueueConfig(name="general")]), FakeCallControl(), InProcessBus(), clock=clock)
    _handoff(acd)
    await acd.follower.on_ivr_finished(_finished())
    assert await _entries_written(acd) == []  # the IVR's hand-off carried support's entry
    clock.now = 1061.0
    await acd._run(acd.router.tick)
    assert acd.calls["L1"].queue == "general"
    (written,) = await _entries_written(acd)
    assert decode_entry(written) == QueueEntry("L1", "general", 1000.0, 10, 42, {"zh": 1},
                                               "+8613800000001", queue_entered_at=1061.0)  # its stay there

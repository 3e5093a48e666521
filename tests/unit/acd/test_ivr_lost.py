"""A caller whose IVR was lost (no engine answered its AGI, or the engine died under it) waits in
the queue the engine named (``cti-ivr-lost``); the dialplan's ``UserEvent(CtiIvrLost)`` reaches
the bus as ``IvrLost`` and the ACD enqueues the caller, once. A queue this engine does not have
leaves the caller to the dialplan's fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami import events as ev
from cti.ami.bridge import PUBLISHED_RAW
from cti.ami.control import FakeCallControl
from cti.ami.translate import translate
from cti.bus import InProcessBus
from cti.journey import CallArrived, QueueEntered

USER_EVENT = {"Event": "UserEvent", "UserEvent": "CtiIvrLost", "Channel": "PJSIP/trunk-0000001a",
              "Uniqueid": "17.3", "Linkedid": "17.3", "CallerIDNum": "+8613800138000", "Queue": "general",
              "Dnis": "5002", "Timestamp": "1700000000.250"}


def test_the_user_event_is_ivr_lost_and_reaches_the_bus() -> None:
    assert translate(USER_EVENT, 0.0) == ev.IvrLost(ts=1700000000.25, channel="PJSIP/trunk-0000001a",
                                                    uniqueid="17.3", linkedid="17.3", queue="general",
                                                    caller_num="+8613800138000", dnis="5002")
    assert ev.IvrLost in PUBLISHED_RAW  # raw: the call model does not keep it from the ACD


@pytest.fixture
async def acd() -> AsyncIterator[AcdService]:
    bus = InProcessBus()
    service = AcdService(Router([QueueConfig(name="general")]), FakeCallControl(), bus, clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    yield service
    await bus.stop()


def _lost(queue: str = "general") -> ev.IvrLost:
    return ev.IvrLost(ts=999.5, channel="PJSIP/trunk-0000001a", uniqueid="17.3", linkedid="17.3", queue=queue,
                      caller_num="+8613800138000", dnis="5002")


async def test_the_acd_logs_its_arrival_and_enqueues_it_once(acd: AcdService) -> None:
    entered: list[QueueEntered] = []
    arrived: list[CallArrived] = []

    async def record(e: QueueEntered | CallArrived) -> None:
        (entered if isinstance(e, QueueEntered) else arrived).append(e)  # type: ignore[arg-type]

    acd.bus.subscribe((QueueEntered, CallArrived), record, name="test.journey")  # started: its worker starts now
    await acd.bus.publish(_lost())
    await acd.bus.publish(_lost())  # the same caller again (a repeated event): nothing more
    await acd.bus.drain()  # type: ignore[attr-defined]
    assert [(e.linkedid, e.queue, e.channel) for e in entered] == [("17.3", "general", "PJSIP/trunk-0000001a")]
    # No IVR began for it, so nothing logged its arrival: the ACD does, with what the dialplan knew.
    assert [(e.ts, e.caller_number, e.dnis) for e in arrived] == [(999.5, "+8613800138000", "5002")]
    call = acd.calls["17.3"]
    assert (call.status, call.caller_number, call.customer_id) == ("queued", "+8613800138000", None)
    assert acd.router.waiting("general") == ["17.3"]


async def test_a_queue_this_engine_lacks_leaves_the_caller_to_the_dialplan(acd: AcdService,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    await acd.bus.publish(_lost("nowhere"))
    await acd.bus.drain()  # type: ignore[attr-defined]
    assert not acd.calls
    assert "not a queue of this engine" in caplog.text

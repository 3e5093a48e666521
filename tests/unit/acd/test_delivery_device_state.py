"""The ACD's hot path on fakes: the agent's Originate is handed to the PBX before any subscriber
of the queue entry runs, and device states cost a router step only when a phone's registration
changes (one lookup per event, whatever the number of agents)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from acd.calls import AgentPhone, LiveCall, PhoneBook
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.ami.events import DeviceStateChange
from cti.bus import InProcessBus
from cti.journey import QueueEntered
from tests.helpers import until


class WritingControl(FakeCallControl):
    """Notes the moment ``originate`` is called: the real adapter writes to the socket then."""

    def originate(self, channel: str, **kw: Any) -> Any:  # type: ignore[override]
        self.calls.append(("originate:called", {"channel": channel}))
        return super().originate(channel, **kw)


class CountingRouter(Router):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.registered_steps: list[tuple[str, bool]] = []

    def set_device_registered(self, agent_id: str, registered: bool, now: float) -> Any:
        self.registered_steps.append((agent_id, registered))
        return super().set_device_registered(agent_id, registered, now)


def test_the_phone_book_index_follows_every_change() -> None:
    book = PhoneBook({"1001": AgentPhone("1001", "sip"), "1002": AgentPhone("1002")})
    assert book.registering("PJSIP/1001") == (("1001", book["1001"]),)
    assert book.registering("Local/1002@cti-sim-phone") == ()  # a simulated phone never registers
    book["1003"] = AgentPhone("1003", "webrtc")
    assert [a for a, _ in book.registering("PJSIP/web1003")] == ["1003"]
    book.setdefault("1004", AgentPhone("1004", "sip"))
    book.update({"1005": AgentPhone("1005", "sip")})
    book |= {"1006": AgentPhone("1006", "sip")}
    assert all(book.registering(f"PJSIP/{n}") for n in ("1004", "1005", "1006"))
    book["1001"] = AgentPhone("1001", "webrtc")
    assert book.registering("PJSIP/1001") == () and book.registering("PJSIP/web1001")
    del book["1003"]
    book.pop("1004")
    assert book.registering("PJSIP/web1003") == () == book.registering("PJSIP/1004")
    book.clear()
    assert book.registering("PJSIP/1005") == ()


async def service(devices: Mapping[str, str], **kw: Any) -> AcdService:
    acd = AcdService(CountingRouter([QueueConfig("support", wrap_up_s=0)]), kw.pop("control", FakeCallControl()),
                     InProcessBus(), device_state=devices.get, **kw)
    acd.subscribe()
    await acd.bus.start()
    return acd


async def test_the_originate_goes_out_before_any_subscriber_of_the_queue_entry_runs() -> None:
    control = WritingControl(originate_result=OriginateResult(True, 4, "u2", "L1", "PJSIP/1001-2"))
    acd = await service({}, control=control)
    seen: list[list[str]] = []

    async def on_entered(ev: QueueEntered) -> None:
        seen.append([m for m, _ in control.calls])

    acd.bus.subscribe(QueueEntered, on_entered, name="test.entered")
    await acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", "sim", answer_after_s=0), ready=True)
    await acd.enqueue(LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support"))
    await acd.bus.drain()  # type: ignore[attr-defined]
    # The Originate was handed over inside enqueue's own step; the entry's Setvar comes after it.
    assert seen == [["originate:called"]]
    for _ in range(20):
        if control.called("set_var"):
            break
        await asyncio.sleep(0.01)
    methods = [m for m, _ in control.calls]
    assert methods.index("originate:called") < methods.index("set_var")
    await acd.stop()
    await acd.bus.stop()


async def test_device_states_cost_a_router_step_only_when_the_registration_changes() -> None:
    devices = {f"PJSIP/{n}": "NOT_INUSE" for n in range(1001, 1201)}
    acd = await service(devices)
    router: CountingRouter = acd.router  # type: ignore[assignment]
    for n in range(1001, 1201):
        await acd.agent_login(str(n), {}, ["support"], phone=AgentPhone(str(n), "sip"), ready=True)
    for state in ("RINGING", "INUSE", "NOT_INUSE"):  # a call's life on the agent's phone
        await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/1007", state=state))
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/trunk", state="INUSE"))
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="Local/1007@cti-sim-phone", state="INUSE"))
    assert router.registered_steps == []
    # The phone unregisters, then registers again: two steps, and the router follows. (The steps
    # run in the ACD's tasks, in the order started: a step the events above had started would be
    # first in the list.)
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/1007", state="UNAVAILABLE"))
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/1007", state="UNAVAILABLE"))
    await until(lambda: not acd.agent("1007").registered, what="the phone unregistered")
    assert router.registered_steps == [("1007", False)]
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/1007", state="NOT_INUSE"))
    await until(lambda: acd.agent("1007").registered, what="the phone registered")
    assert router.registered_steps == [("1007", False), ("1007", True)]
    await acd.bus.stop()


async def test_device_states_are_followed_in_the_publishers_step_and_a_flap_keeps_its_order() -> None:
    acd = await service({"PJSIP/1001": "NOT_INUSE"})
    router: CountingRouter = acd.router  # type: ignore[assignment]
    await acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", "sip"), ready=True)
    # No worker task and no inbox: the follower is a bus observer (queue_depths lists inboxes).
    assert "acd.device_state" not in acd.bus.queue_depths()  # type: ignore[attr-defined]
    # Unregistered and registered again, published back to back (the router steps run after).
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/1001", state="UNAVAILABLE"))
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/1001", state="NOT_INUSE"))
    await until(lambda: len(router.registered_steps) == 2, what="both router steps")
    assert router.registered_steps == [("1001", False), ("1001", True)] and acd.agent("1001").registered
    # An agent not logged in to the ACD: the step fails, and the next device state tries again.
    await acd.agent_logout("1001")
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/1001", state="UNAVAILABLE"))
    await until(lambda: len(router.registered_steps) == 3, what="the refused step")
    await acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", "sip"), ready=True)
    assert acd.agent("1001").registered  # the login read the device state: NOT_INUSE
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device="PJSIP/1001", state="UNAVAILABLE"))
    await until(lambda: len(router.registered_steps) == 4, what="the step after the login")
    assert router.registered_steps[-1] == ("1001", False) and not acd.agent("1001").registered
    await acd.stop()
    await acd.bus.stop()

"""What the AMI bridge's pump puts on the bus: journey events, and of the raw AMI events only those a
consumer above the bridge needs. A caller's keypresses (PINs, card digits) are not even parsed."""

from __future__ import annotations

import asyncio

from cti.ami import events as ev
from cti.ami.bridge import Pump
from cti.ami.callmodel import CallModel
from cti.ami.codec import AmiFrameParser
from cti.ami.translate import WANTED
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallEnded


async def test_only_journey_events_and_device_states_are_published() -> None:
    bus = InProcessBus()
    seen: list[Event] = []

    async def keep(e: Event) -> None:
        seen.append(e)

    bus.subscribe(Event, keep, name="test")
    await bus.start()
    pump = Pump(CallModel(), bus)
    task = asyncio.create_task(pump.run())
    try:
        pump.push([
            ev.Newchannel(ts=1.0, channel="PJSIP/carrier-00000001", uniqueid="c.1", linkedid="c.1", state=4,
                          caller_num="8613800000000", caller_name="", context="cti-inbound", exten="5000"),
            ev.Hold(ts=2.0, channel="PJSIP/carrier-00000001", uniqueid="c.1", linkedid="c.1"),
            ev.DeviceStateChange(ts=2.5, device="PJSIP/1001", state="UNAVAILABLE"),
            ev.Hangup(ts=3.0, channel="PJSIP/carrier-00000001", uniqueid="c.1", linkedid="c.1", cause=16,
                      cause_text="Normal Clearing"),
        ])
        await pump.drain()
        await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await bus.stop()
    kinds = [type(e) for e in seen]
    assert ev.Newchannel not in kinds and ev.Hangup not in kinds and ev.Hold not in kinds
    assert ev.DeviceStateChange in kinds
    assert CallEnded in kinds, "the call model's journey events are published"


def test_events_only_observers_wait_on_are_dropped_unparsed() -> None:
    """Nothing in the engine reads DTMFEnd, MusicOnHoldStart/Stop, DialBegin or BridgeCreate/Destroy
    (the IVR reads keys through FastAGI; bridges come from BridgeEnter/Leave): the shipped manager.conf
    does not send them, and an Asterisk of the operator's that still does sees them dropped by name."""
    parser = AmiFrameParser(WANTED)
    names = ("DTMFEnd", "MusicOnHoldStart", "MusicOnHoldStop", "DialBegin", "BridgeCreate", "BridgeDestroy")
    frames = b"".join(f"Event: {name}\r\nChannel: PJSIP/carrier-00000001\r\nUniqueid: c.1\r\n"
                      f"BridgeUniqueid: b.1\r\nDigit: 7\r\n\r\n".encode() for name in names)
    assert parser.feed(frames) == [] and parser.dropped == len(names)


def test_the_engines_own_housekeeping_channels_are_no_calls() -> None:
    """A softphone password written through cti-phone-secret: both Local halves come and go, and no
    CallEnded is made of it (the CRM would log a phantom "failed" interaction per login)."""
    model = CallModel()
    out = []
    for half in ("1", "2"):
        out += model.apply(ev.Newchannel(ts=1.0, channel=f"Local/put@cti-phone-secret-00000001;{half}",
                                         uniqueid=f"h.{half}", linkedid="h.1", state=0, caller_num="",
                                         caller_name="", context="cti-phone-secret", exten="put"))
    for half in ("2", "1"):
        out += model.apply(ev.Hangup(ts=1.1, channel=f"Local/put@cti-phone-secret-00000001;{half}",
                                     uniqueid=f"h.{half}", linkedid="h.1", cause=16))
    assert not [e for e in out if isinstance(e, CallEnded)]
    # An ordinary call still ends as one.
    model.apply(ev.Newchannel(ts=2.0, channel="PJSIP/carrier-00000002", uniqueid="c.2", linkedid="c.2", state=4,
                              caller_num="8613800000000", caller_name="", context="cti-inbound", exten="5000"))
    ended = model.apply(ev.Hangup(ts=3.0, channel="PJSIP/carrier-00000002", uniqueid="c.2", linkedid="c.2", cause=16))
    assert [type(e) for e in ended] == [CallEnded]

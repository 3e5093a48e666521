"""A malformed or unexpected AMI event is logged (names only, never values) and dropped; the
connection, the resync and the pump keep going."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cti.ami import events as ev
from cti.ami.bridge import Pump
from cti.ami.callmodel import CallModel
from cti.ami.codec import AmiFrameParser
from cti.ami.errors import MalformedEvent
from cti.ami.translate import WANTED, translate, translate_list_item
from cti.events import Event
from tests.unit.cti.fake_ami import FakeAmi, default_handler
from tests.unit.cti.test_ami_client import Harness, fake_server, until

# Each one broke translate() with KeyError/ValueError inside data_received before: asyncio then
# closed the transport and the client reconnected (and resynced) once per bad event.
MALFORMED = [
    "Event: Newchannel\r\nChannelState: 4\r\nUniqueid: u-bad-1",  # no Channel
    "Event: Hangup\r\nChannel: PJSIP/1001-1\r\nCause: 16",  # no Uniqueid
    "Event: Hold\r\nChannel: PJSIP/1001-1\r\nUniqueid: u1\r\nTimestamp: 12x4-secret-digits",  # bad Timestamp
    "Event: BridgeEnter\r\nChannel: PJSIP/1001-1\r\nUniqueid: u1",  # no BridgeUniqueid
    "Event: LocalBridge\r\nLocalOneChannel: Local/1@c;1",
    "Event: Newstate\r\nChannel: PJSIP/1001-1\r\nUniqueid: u1\r\nTimestamp: nan",  # not finite
    "Event: Newchannel",  # nothing but the name
    "Event: Hold\r\nstray line without a colon\r\nChannel: x",
]
GOOD = ("Event: Newchannel\r\nChannel: PJSIP/1001-00000001\r\nChannelState: 4\r\nUniqueid: u-good\r\n"
        "Linkedid: u-good\r\nCallerIDNum: 1001")


@pytest.mark.parametrize("block", MALFORMED)
def test_translate_raises_its_typed_error_naming_the_event_not_the_values(block: str) -> None:
    (msg,) = AmiFrameParser(WANTED).feed((block + "\r\n\r\n").encode())
    with pytest.raises(MalformedEvent) as err:
        translate(msg, 1.0)
    assert err.value.event == msg["Event"]
    assert "secret-digits" not in str(err.value)


def test_list_item_without_its_keys_is_a_typed_error() -> None:
    with pytest.raises(MalformedEvent):
        translate_list_item({"Event": "CoreShowChannel", "ActionID": "a"}, 1.0)


async def test_malformed_events_are_dropped_and_the_connection_survives(caplog: pytest.LogCaptureFixture) -> None:
    async with fake_server() as server:
        h = Harness(server)
        await h.client.start()
        await h.client.wait_connected(5)
        await until(lambda: any(isinstance(e, ev.ResyncFinished) for e in h.events))
        with caplog.at_level(logging.DEBUG, logger="cti.ami"):
            for block in MALFORMED:
                server.conns[0].send(block)
            server.conns[0].send(GOOD)
            await until(lambda: any(isinstance(e, ev.Newchannel) for e in h.events))
            await asyncio.sleep(0.2)  # a dropped connection would reconnect within reconnect_min_s
        assert h.client.connects == 1 and h.client.connected and server.logins == 1
        assert h.client.malformed == len(MALFORMED)
        (good,) = [e for e in h.events if isinstance(e, ev.Newchannel)]
        assert good.uniqueid == "u-good"
        assert "malformed AMI Newchannel event dropped" in caplog.text
        assert "secret-digits" not in caplog.text and "PJSIP/1001-1" not in caplog.text
        await h.client.stop()


async def test_a_malformed_resync_item_is_skipped_not_fatal() -> None:
    def handler(action: dict[str, str]) -> list[str]:
        if action.get("Action") != "CoreShowChannels":
            return default_handler(action)
        aid = action["ActionID"]
        return [f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: follows",
                f"Event: CoreShowChannel\r\nActionID: {aid}\r\nChannelState: 6",  # no Channel/Uniqueid
                f"Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: PJSIP/1001-2\r\nUniqueid: u2\r\n"
                "Linkedid: u2\r\nChannelState: 6\r\nDuration: 00:00:05",
                f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 2"]

    srv = FakeAmi(handler)
    await srv.start()
    try:
        h = Harness(srv)
        await h.client.start()
        await h.client.wait_connected(5)
        await until(lambda: any(isinstance(e, ev.ResyncFinished) for e in h.events))
        snaps = [e for e in h.events if isinstance(e, ev.ChannelSnapshot)]
        assert [s.uniqueid for s in snaps] == ["u2"]
        assert h.client.resyncs == 1 and h.client.connects == 1
        await h.client.stop()
    finally:
        await srv.stop()


class _Boom(CallModel):
    def apply(self, event: Event) -> list[Event]:
        if isinstance(event, ev.Hold):
            raise RuntimeError("bug in a handler")
        return super().apply(event)


class _ListBus:
    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, e: Event) -> None:
        self.published.append(e)


async def test_the_pump_survives_an_event_the_model_chokes_on(caplog: pytest.LogCaptureFixture) -> None:
    bus = _ListBus()
    pump = Pump(_Boom(), bus, published_raw=frozenset({ev.Hold, ev.Unhold}))  # type: ignore[arg-type]
    task = asyncio.create_task(pump.run())
    try:
        pump.push([ev.Hold(ts=1.0, channel="c", uniqueid="u", linkedid="u"),
                   ev.Unhold(ts=2.0, channel="c", uniqueid="u", linkedid="u")])
        await asyncio.wait_for(pump.drain(), 2)
        assert [type(e) for e in bus.published] == [ev.Hold, ev.Unhold]  # published, Unhold folded too
        assert "call model failed on ami.hold" in caplog.text
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_an_unexpected_error_in_resync_does_not_end_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, anything but a CtiError out of resync ended the supervisor task: never a reconnect again."""
    import cti.ami.manager as manager

    def broken(item: dict[str, str], now: float) -> Event | None:
        raise RuntimeError("bug")

    monkeypatch.setattr(manager, "translate_list_item", broken)

    def handler(action: dict[str, str]) -> list[str]:
        if action.get("Action") != "CoreShowChannels":
            return default_handler(action)
        aid = action["ActionID"]
        return [f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: follows",
                f"Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: PJSIP/1-1\r\nUniqueid: u1",
                f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 1"]

    async with fake_server() as server:
        server.handler = handler
        h = Harness(server)
        await h.client.start()
        await h.client.wait_connected(5)
        await until(lambda: server.actions("CoreShowChannels") != [])
        server.kill_connections()
        await until(lambda: server.logins == 2)  # the supervisor is alive: it reconnected
        await h.client.stop()

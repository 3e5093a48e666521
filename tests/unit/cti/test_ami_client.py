"""AmiClient against a scripted AMI server on loopback: login, correlation, Originate, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from panoramisk.actions import Action
from panoramisk.message import Message

from cti.ami import events as ev
from cti.ami.control import AmiCallControl
from cti.ami.manager import AmiClient
from cti.errors import AmiActionFailed, AmiNoReply, AmiUnavailable, UnsafeValue
from cti.events import Event
from cti.settings import AmiSettings
from tests.unit.cti.fake_ami import FakeAmi, default_handler

RESYNC_TRACE = Path(__file__).resolve().parents[2] / "fixtures" / "ami" / "resync_lists.txt"


async def until(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Harness:
    def __init__(self, server: FakeAmi, **ami: object) -> None:
        self.events: list[Event] = []
        settings = AmiSettings(port=server.port, secret="s3cret", reconnect_min_s=0.05, reconnect_max_s=0.2,
                               connect_timeout_s=1.0, **ami)  # type: ignore[arg-type]
        self.client = AmiClient(settings, self.events.extend)


async def connected(server: FakeAmi) -> Harness:
    """A client on ``server``, started and logged in."""
    h = Harness(server)
    await h.client.start()
    await h.client.wait_connected(5)
    return h


@contextlib.asynccontextmanager
async def fake_server() -> AsyncIterator[FakeAmi]:
    srv = FakeAmi()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def test_panoramisk_originate_bug_that_we_work_around() -> None:
    """panoramisk 1.4 reads action['async'] on "successfully queued": KeyError inside data_received."""
    async def go() -> None:
        action = Action({"Action": "Originate", "Channel": "Local/1@c"})
        with pytest.raises(KeyError):
            action.add_message(Message({"Response": "Success", "ActionID": action.id,
                                        "Message": "Originate successfully queued"}))
    asyncio.run(go())


async def test_originate_waits_for_its_originate_response_among_interleaved_events() -> None:
    async with fake_server() as server:
        def handler(action: dict[str, str]) -> list[str]:
            if action.get("Action") != "Originate":
                return default_handler(action)
            aid = action["ActionID"]
            return [f"Response: Success\r\nActionID: {aid}\r\nMessage: Originate successfully queued",
                    "Event: Newchannel\r\nChannel: Local/1001@p-1;1\r\nChannelState: 0\r\nUniqueid: u1\r\nLinkedid: u1",
                    "Event: OriginateResponse\r\nActionID: other\r\nResponse: Failure\r\nReason: 0\r\nChannel: x",
                    "Event: Newexten\r\nChannel: Local/1001@p-1;1\r\nUniqueid: u1",
                    f"Event: OriginateResponse\r\nActionID: {aid}\r\nResponse: Success\r\nReason: 4\r\n"
                    "Channel: Local/1001@p-1;1\r\nUniqueid: u1\r\nContext: c\r\nExten: s"]
        server.handler = handler
        h = await connected(server)
        control = AmiCallControl(h.client, linkedid_of=lambda uid: "L-" + uid)
        result = await control.originate("Local/1001@p", context="c", exten="s", timeout_ms=1000)
        assert result.success and result.reason == 4 and result.uniqueid == "u1" and result.linkedid == "L-u1"
        sent = server.actions("Originate")[0]
        assert sent["Async"] == "true" and sent["Channel"] == "Local/1001@p"
        # The model still sees the live events, ours and the unrelated OriginateResponse too.
        kinds = [type(e) for e in h.events if not isinstance(e, ev.ResyncStarted | ev.ResyncFinished | ev.FullyBooted)]
        assert kinds == [ev.Newchannel, ev.OriginateResponse, ev.OriginateResponse]
        await h.client.stop()


async def test_error_response_and_list_actions() -> None:
    async with fake_server() as server:
        def handler(action: dict[str, str]) -> list[str]:
            if action.get("Action") == "Hangup":
                return [f"Response: Error\r\nActionID: {action['ActionID']}\r\nMessage: No such channel"]
            if action.get("Action") == "Originate":
                return [f"Response: Error\r\nActionID: {action['ActionID']}\r\nMessage: Originate failed"]
            return default_handler(action)
        server.handler = handler
        h = await connected(server)
        control = AmiCallControl(h.client)
        with pytest.raises(AmiActionFailed, match="No such channel"):
            await control.hangup("PJSIP/x-1")
        result = await control.originate("Local/1@c", application="Wait", data="1")
        assert not result.success and result.reason == "Originate: Originate failed"
        assert not result.timed_out  # refused outright: Asterisk made no channel
        reply = await h.client.send_action("CoreShowChannels", {}, expect="list")
        assert reply.items == () and reply.final is not None and reply.final["Event"] == "CoreShowChannelsComplete"
        await h.client.stop()


async def test_an_originate_asterisk_never_answered_is_told_apart_from_one_it_refused() -> None:
    """Both end as an unsuccessful result with a message, but only a refusal (Response: Error) says
    that no channel was made: an Originate written and never answered may have placed its call."""

    class Silent:
        def __init__(self, err: AmiActionFailed) -> None:
            self.err = err

        async def send_action(self, action: str, headers: Any, **kw: Any) -> Any:
            raise self.err

    late = await AmiCallControl(Silent(AmiNoReply("Originate: no answer from Asterisk within 45.0 s"))).originate(
        "PJSIP/1001", context="c", exten="s")
    assert (late.success, late.timed_out, late.refused) == (False, True, False)
    assert late.reason == "Originate: no answer from Asterisk within 45.0 s"
    refused = await AmiCallControl(Silent(AmiActionFailed("Originate: Extension does not exist."))).originate(
        "PJSIP/1001", context="c", exten="s")
    assert (refused.success, refused.timed_out, refused.refused) == (False, False, True)
    assert refused.reason == "Originate: Extension does not exist."


async def test_resync_uses_recorded_list_answers() -> None:
    async with fake_server() as server:
        """Replays Asterisk 22's real list answers (resync_lists.txt) through the client's correlation."""
        blocks = RESYNC_TRACE.read_bytes().decode().split("\r\n\r\n")
        by_id: dict[str, list[str]] = {}
        for block in blocks:
            for line in block.split("\r\n"):
                if line.startswith("ActionID: rec-"):
                    by_id.setdefault(line[10:], []).append(block)
        recorded = {"CoreShowChannels": "rec-5", "BridgeList": "rec-6", "BridgeInfo": "rec-7",
                    "DeviceStateList": "rec-8"}

        def handler(action: dict[str, str]) -> list[str]:
            rec = recorded.get(action.get("Action", ""))
            if rec is None:
                return default_handler(action)
            # An unrelated live event between the response and the list items, as on a busy PBX.
            out = [b.replace(f"ActionID: {rec}", f"ActionID: {action['ActionID']}") for b in by_id[rec]]
            return [out[0], "Event: DeviceStateChange\r\nDevice: PJSIP/1002\r\nState: INUSE", *out[1:]]
        server.handler = handler
        h = Harness(server)
        await h.client.start()
        await until(lambda: h.client.resyncs == 1)
        snaps = [e for e in h.events if isinstance(e, ev.ChannelSnapshot)]
        assert len(snaps) == 6 and {s.uniqueid for s in snaps} >= {"1795435158.0", "1795435158.1"}
        bridges = [e for e in h.events if isinstance(e, ev.BridgeSnapshot)]
        assert len(bridges) == 1 and len(bridges[0].uniqueids) == 2
        # Phones' states come from DeviceStateList; PJSIPShowEndpoints needs a class (system) the
        # engine's AMI user never has, so it is not asked (it was refused at every resync).
        assert not server.actions("PJSIPShowEndpoints")
        listed = [e for e in h.events if isinstance(e, ev.DeviceStateChange) and e.device.startswith("PJSIP/")]
        assert {(e.device, e.state) for e in listed} >= {("PJSIP/1001", "UNAVAILABLE"),
                                                         ("PJSIP/sipp-trunk", "UNAVAILABLE")}
        assert isinstance(h.events[-1], ev.ResyncFinished) and h.events[-1].channels == 6
        live = [e for e in h.events if isinstance(e, ev.DeviceStateChange) and e.device == "PJSIP/1002"]
        assert live and live[0].state == "INUSE"
        await h.client.stop()


async def test_reconnects_with_backoff_fails_pending_actions_and_resyncs_again() -> None:
    async with fake_server() as server:
        def handler(action: dict[str, str]) -> list[str]:
            return [] if action.get("Action") == "Getvar" else default_handler(action)  # never answered
        server.handler = handler
        h = Harness(server)
        await h.client.start()
        await until(lambda: h.client.resyncs == 1)
        pending = asyncio.create_task(h.client.send_action("Getvar", {"Variable": "X"}, timeout_s=5))
        await until(lambda: bool(server.actions("Getvar")))
        server.kill_connections()
        with pytest.raises(AmiUnavailable):
            await pending
        await until(lambda: h.client.resyncs == 2 and server.logins == 2)
        assert h.client.connects == 2
        assert len(server.actions("Getvar")) == 1  # never re-sent after the reconnect
        await h.client.stop()
        with pytest.raises(AmiUnavailable):
            await h.client.send_action("Ping", {})


async def test_refused_login_retries_and_never_logs_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    async with fake_server() as server:
        server.secret = "other"
        h = Harness(server)
        with caplog.at_level(logging.DEBUG):
            await h.client.start()
            await until(lambda: len(server.actions("Login")) >= 3)
            assert not h.client.connected
            await h.client.stop()
        assert "refused" in caplog.text and "s3cret" not in caplog.text


async def test_unanswered_ping_drops_the_connection() -> None:
    async with fake_server() as server:
        def handler(action: dict[str, str]) -> list[str]:
            return [] if action.get("Action") == "Ping" else default_handler(action)
        server.handler = handler
        h = Harness(server, ping_interval_s=0.1)
        await h.client.start()
        await until(lambda: server.logins >= 2, timeout_s=5)  # no Pong within 1 s: reconnect
        await h.client.stop()


async def test_originate_is_on_the_wire_before_it_is_awaited_and_an_unanswered_action_is_forgotten() -> None:
    """The ACD rings agents from its own step: ``originate`` writes before it returns (no task's
    turn); an action Asterisk never answers fails after its timeout and leaves nothing pending."""
    async with fake_server() as server:
        def handler(action: dict[str, str]) -> list[str]:
            if action.get("Action") in ("Originate", "Getvar"):
                return []  # never answered
            return default_handler(action)
        server.handler = handler
        h = await connected(server)
        control = AmiCallControl(h.client)
        before = h.client.actions_sent
        outcome = control.originate("Local/1001@p", context="c", exten="s", timeout_ms=1000)
        assert h.client.actions_sent == before + 1  # written, nothing awaited yet
        await until(lambda: server.actions("Originate"))
        outcome.cancel()  # whoever waited gave up: the action is forgotten
        await until(lambda: not h.client._pending)
        # Written and never answered: AmiNoReply (an AmiActionFailed, told apart from a refusal).
        with pytest.raises(AmiNoReply, match=r"no answer from Asterisk within 0\.2 s"):
            await h.client.send_action("Getvar", {"Channel": "x", "Variable": "Y"}, timeout_s=0.2)
        assert not h.client._pending
        # A refused value never reaches the wire; it comes out of the awaitable, as from an async def.
        before = h.client.actions_sent
        refused = control.originate("Local/1001@p\r\nAction: Hangup", context="c", exten="s")
        assert h.client.actions_sent == before
        with pytest.raises(UnsafeValue):
            await refused
        await h.client.stop()

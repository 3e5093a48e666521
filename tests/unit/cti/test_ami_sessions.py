"""AmiClient's two sessions against the scripted AMI server: the Originate goes on the action
session (logged in without events), its OriginateResponse comes on the event session and is
matched through the one map of pending actions; either session lost is the connection lost."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

import pytest

from cti.ami import events as ev
from cti.ami.control import AmiCallControl
from cti.errors import AmiUnavailable
from tests.unit.cti.fake_ami import default_handler
from tests.unit.cti.test_ami_client import Harness, fake_server, until


def originate_answers(*, response_first: bool = True, outcome: bool = True):  # type: ignore[no-untyped-def]
    """A handler: an Originate's Response (to its sender) and OriginateResponse (an event, to the
    event sessions), in the order asked; ``outcome=False``: only the Response, the call rings on."""
    def handler(action: dict[str, str]) -> list[str]:
        if action.get("Action") != "Originate":
            return default_handler(action)
        aid = action["ActionID"]
        response = f"Response: Success\r\nActionID: {aid}\r\nMessage: Originate successfully queued"
        final = (f"Event: OriginateResponse\r\nActionID: {aid}\r\nResponse: Success\r\nReason: 4\r\n"
                 f"Channel: Local/1001@p-1;1\r\nUniqueid: u-{aid}\r\nContext: c\r\nExten: s")
        if not outcome:
            return [response]
        return [response, final] if response_first else [final, response]
    return handler


@pytest.mark.parametrize("response_first", [True, False])
async def test_originate_goes_on_the_action_session_and_its_outcome_is_matched_from_the_event_session(
        response_first: bool) -> None:
    async with fake_server() as server:
        server.handler = originate_answers(response_first=response_first)
        h = Harness(server)
        await h.client.start()
        await until(lambda: h.client.resyncs == 1)
        assert h.client.sessions == 2
        logins = server.actions("Login")
        assert [a["Events"] for a in logins] == ["on", "off"] and len(server.conns_with(events=False)) == 1
        control = AmiCallControl(h.client)
        results = await asyncio.gather(*(control.originate(f"Local/100{i}@p", context="c", exten="s", timeout_ms=1000)
                                         for i in range(3)))
        assert all(r.success and r.reason == 4 for r in results)
        assert len({r.uniqueid for r in results}) == 3  # each outcome matched to its own Originate
        assert server.sessions_of("Originate") == ["actions"] * 3
        # Everything else stays on the event session: the resync's lists (in order with the live
        # events), the Getvar below; pings go on both.
        assert set(server.sessions_of("CoreShowChannels")) == {"events"}
        await h.client.send_action("Getvar", {"Channel": "x", "Variable": "Y"})
        assert server.sessions_of("Getvar") == ["events"]
        # The event session still hands the model every OriginateResponse, the action session nothing.
        assert len([e for e in h.events if isinstance(e, ev.OriginateResponse)]) == 3
        assert not h.client._pending
        await h.client.stop()
        assert server.sessions_of("Logoff") == ["actions", "events"]


@pytest.mark.parametrize("lost", ["actions", "events"])
async def test_either_session_lost_fails_pending_actions_and_reconnects_both(
        lost: Literal["actions", "events"]) -> None:
    """An Originate waits on the event session (its outcome) after its Response came on the
    action session: losing either fails it, as one lost connection did; nothing is re-sent."""
    async with fake_server() as server:
        server.handler = originate_answers(outcome=False)  # the phone rings on: no outcome yet
        h = Harness(server, ping_interval_s=0.05)
        await h.client.start()
        await until(lambda: h.client.resyncs == 1)
        control = AmiCallControl(h.client)
        ringing = control.originate("Local/1001@p", context="c", exten="s", timeout_ms=5000)
        await until(lambda: bool(server.actions("Originate")))
        h.client.drop_connection(lost)
        with pytest.raises(AmiUnavailable, match=f"{lost[:-1]} session"):
            await ringing
        await until(lambda: h.client.resyncs == 2 and h.client.sessions == 2)
        assert server.logins == 4 and h.client.connects == 2
        assert len(server.actions("Originate")) == 1  # never re-sent after the reconnect
        await asyncio.sleep(0.15)  # pings on both sessions answered: no further reconnect
        assert h.client.connects == 2
        server.handler = originate_answers()
        assert (await control.originate("Local/1001@p", context="c", exten="s", timeout_ms=1000)).success
        assert server.sessions_of("Originate") == ["actions", "actions"]
        await h.client.stop()


async def test_one_session_when_the_second_login_is_refused_or_not_wanted(caplog: pytest.LogCaptureFixture) -> None:
    """allowmultiplelogin = no refuses the second login: the Originate then shares the event
    session, as before there were two; ``action_session: false`` asks for one session."""
    async with fake_server() as server:
        server.handler = originate_answers()
        server.multiple_logins = False
        h = Harness(server)
        with caplog.at_level(logging.WARNING, logger="cti.ami"):
            await h.client.start()
            await until(lambda: h.client.resyncs == 1)
        assert h.client.sessions == 1 and h.client.connected
        assert "action session not available" in caplog.text and "s3cret" not in caplog.text
        assert (await AmiCallControl(h.client).originate("Local/1@p", context="c", exten="s")).success
        assert server.sessions_of("Originate") == ["events"]
        await h.client.stop()
    async with fake_server() as server:
        server.handler = originate_answers()
        h = Harness(server, action_session=False)
        await h.client.start()
        await until(lambda: h.client.resyncs == 1)
        assert h.client.sessions == 1 and [a["Events"] for a in server.actions("Login")] == ["on"]
        assert (await AmiCallControl(h.client).originate("Local/1@p", context="c", exten="s")).success
        assert server.sessions_of("Originate") == ["events"]
        await h.client.stop()

"""Voicemail on a real Asterisk 22: the dialplan reports, as it lets the caller go, whether a
message was left (UserEvent CtiVoicemail with VoiceMail()'s VMSTATUS), and the AMI bridge turns a
message left into a ``VoicemailLeft`` journey event for the call; a caller gone before the beep
leaves none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cti.ami.bridge import AmiBridge
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallEnded, VoicemailLeft
from cti.pbx import ManagedPbx
from tests.helpers import channels, until


@pytest.fixture
async def heard(pbx: ManagedPbx) -> AsyncIterator[tuple[AmiBridge, list[Event]]]:
    bus = InProcessBus()
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    bus.subscribe(VoicemailLeft, record, name="voicemail")
    bus.subscribe(CallEnded, record, name="ended")
    await bus.start()
    bridge = AmiBridge(pbx.settings, bus)
    await bridge.start()
    await bridge.wait_connected(10)
    try:
        yield bridge, seen
    finally:
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.3)
        await bridge.stop()
        await bus.stop()


async def _caller_into_voicemail(bridge: AmiBridge) -> tuple[str, str]:
    """A caller (the ;1 half plays a recording, as a person would speak) sent to cti-voicemail."""
    res = await bridge.control.originate("Local/s@cti-voicemail", application="Playback", data="tt-monkeys",
                                         caller_id="<+8613800138000>", timeout_ms=10000)
    assert res.success and res.channel and res.linkedid, res
    return res.channel, res.linkedid


async def test_a_message_left_becomes_voicemail_left_for_the_call(heard: tuple[AmiBridge, list[Event]],
                                                                  pbx: ManagedPbx) -> None:
    bridge, seen = heard
    channel, linkedid = await _caller_into_voicemail(bridge)
    # cti-voicemail says what to do first (cti/leave_message), then VoiceMail beeps and records.
    await until(lambda: any(c.application == "VoiceMail" for c in channels(pbx)), 15, "the caller in VoiceMail")
    await asyncio.sleep(3.0)  # the beep, then about two seconds of "speech" recorded
    await bridge.control.hangup(channel)
    left = await until(lambda: [e for e in seen if isinstance(e, VoicemailLeft)], 10, "VoicemailLeft")
    assert [(e.linkedid, e.mailbox) for e in left] == [(linkedid, "8000@cti")]
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), 10, "CallEnded")


async def test_a_caller_gone_before_the_beep_left_no_message(heard: tuple[AmiBridge, list[Event]]) -> None:
    bridge, seen = heard
    channel, linkedid = await _caller_into_voicemail(bridge)
    await bridge.control.hangup(channel)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), 10, "CallEnded")
    await asyncio.sleep(0.5)  # a VoicemailLeft would have come before the call ended
    assert not [e for e in seen if isinstance(e, VoicemailLeft)]

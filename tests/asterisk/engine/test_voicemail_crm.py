"""A voicemail left on the real Asterisk reaches the caller's CRM interaction through the whole
engine: the dialplan's report becomes ``VoicemailLeft``, and the call logger records the mailbox
and the outcome ``voicemail``."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from callcenter.engine import Engine
from crm_core.models import Interaction
from cti.events import Event
from cti.journey import CallEnded, VoicemailLeft
from cti.pbx import ManagedPbx
from tests.helpers import channels, until


async def test_the_interaction_of_a_voicemail_names_the_mailbox(engine: tuple[Engine, list[Event]],
                                                                pbx: ManagedPbx) -> None:
    eng, seen = engine
    res = await eng.ami.control.originate("Local/s@cti-voicemail", application="Playback", data="tt-monkeys",
                                          caller_id="<+8613800138000>", timeout_ms=10000)
    assert res.success and res.channel and res.linkedid, res
    # cti-voicemail says what to do first (cti/leave_message), then VoiceMail beeps and records.
    await until(lambda: any(c.application == "VoiceMail" for c in channels(pbx)), 15, "the caller in VoiceMail")
    await asyncio.sleep(3.0)  # the beep, then about two seconds recorded
    await eng.ami.control.hangup(res.channel)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == res.linkedid for e in seen), 10, "CallEnded")
    assert [(e.linkedid, e.mailbox) for e in seen if isinstance(e, VoicemailLeft)] == [(res.linkedid, "8000@cti")]
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        row = await s.scalar(select(Interaction).where(Interaction.linkedid == res.linkedid))
    assert row is not None
    assert (row.outcome, row.voicemail_mailbox) == ("voicemail", "8000@cti")  # (sent there directly: no IVR)

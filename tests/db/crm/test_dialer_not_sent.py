"""The automatic dialer and an Originate that never reached Asterisk (docs/outbound.md, "What counts
as an attempt"): AMI dropped between the tick that chose the contact and the dial. Nobody was called:
no attempt is spent, the contact is due again with its count as before, and no call is published
(no CallArrived: the call logger would write an interaction for it, the live figures and the feed
would show a call that never was). An Originate written, then lost with the connection, may have
called the customer: one attempt, ``failed``, with its one call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from crm_core import campaigns
from crm_core.campaign_models import CampaignAttempt, CampaignContact
from crm_core.campaign_rules import CampaignIn
from crm_core.db import Database
from crm_core.dialer import CampaignDialer
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.errors import AmiNotSent, AmiUnavailable
from cti.events import Event
from cti.journey import CallArrived, CampaignAttemptEnded
from cti.trunks import TrunksConfig
from tests.helpers import until

ROUTES = TrunksConfig.model_validate({
    "default_region": "CN", "trunks": [{"name": "cn", "kind": "ip", "host": "192.0.2.10"}],
    "outbound": {"routes": [{"prefix": "86", "trunk": "cn"}]}})


class _NotSentFuture(FakeCallControl):
    """What the AMI adapter does with AMI not connected: the awaitable it returns has failed already."""

    def originate(self, channel: str, **kw: Any) -> asyncio.Future[OriginateResult]:  # type: ignore[override]
        self.calls.append(("originate", {"channel": channel, **kw}))
        out: asyncio.Future[OriginateResult] = asyncio.get_running_loop().create_future()
        out.set_exception(AmiNotSent("AMI is not connected (Originate not sent)"))
        return out


class _NotSentAsync(FakeCallControl):
    """A CallControl whose originate is an ``async def`` (as the protocol allows): it raises at its first step."""

    async def originate(self, channel: str, **kw: Any) -> OriginateResult:  # type: ignore[override]
        self.calls.append(("originate", {"channel": channel, **kw}))
        raise AmiNotSent("AMI is not connected (Originate not sent)")


class _LostAfterWriting(FakeCallControl):
    """Written, then the connection dropped before Asterisk's answer: the customer may have been called."""

    async def originate(self, channel: str, **kw: Any) -> OriginateResult:  # type: ignore[override]
        self.calls.append(("originate", {"channel": channel, **kw}))
        await asyncio.sleep(0)
        raise AmiUnavailable("AMI connection lost (Originate pending)")


async def _running(db: Database) -> int:
    async with db.session() as s:
        c = await campaigns.create_campaign(session=s, spec=CampaignIn(
            name="spring", queue="sales", timezone="Asia/Shanghai", retry={"failed": 600}, max_attempts=2))
        c.windows = [{"days": list(range(7)), "start": "00:00:00", "end": "24:00:00"}]
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"})])
        await campaigns.change_state(session=s, campaign=c, event="start")
        return c.id


async def _dial_once(db: Database, control: FakeCallControl) -> tuple[CampaignDialer, list[Event], int]:
    cid = await _running(db)
    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus())
    await acd.agent_login("1001", {}, ["sales"], ready=True)
    bus = InProcessBus()
    seen: list[Event] = []
    bus.observe(Event, seen.append, name="test.seen")
    dialer = CampaignDialer(db, acd, lambda: control, bus, routing=ROUTES)
    await dialer.tick()
    await until(lambda: control.called("originate"), what="the dial")
    await until(lambda: not dialer._tasks, what="the placement's end")
    return dialer, seen, cid


async def _rows(db: Database) -> tuple[list[CampaignAttempt], list[CampaignContact]]:
    async with db.session() as s:
        return list(await s.scalars(select(CampaignAttempt))), list(await s.scalars(select(CampaignContact)))


@pytest.mark.parametrize("control", [_NotSentFuture, _NotSentAsync], ids=["failed-future", "async-def"])
async def test_an_originate_never_written_spends_no_attempt_and_publishes_no_call(
        db: Database, control: type[FakeCallControl]) -> None:
    pbx = control()
    dialer, seen, cid = await _dial_once(db, pbx)
    attempts, contacts = await _rows(db)
    assert attempts == []
    assert [(c.state, c.attempts, c.next_at) for c in contacts] == [("pending", 0, None)]
    assert seen == []  # no CallArrived, no CampaignAttemptEnded: no call to log, count or show
    run = dialer.live[cid]
    assert (run.ringing, run.dials, dialer._attempts) == ({}, 0, {})
    assert run.pacer._attempts == []  # no sample of an unanswered ring for the pacer to learn from
    await dialer.tick()  # due again at once: the next tick dials it
    await until(lambda: len(pbx.called("originate")) == 2, what="the second dial")
    await until(lambda: not dialer._tasks, what="the second placement's end")
    attempts, contacts = await _rows(db)
    assert (attempts, [c.attempts for c in contacts]) == ([], [0])
    await dialer.stop()


async def test_an_originate_lost_after_it_was_written_is_one_failed_attempt_with_its_call(db: Database) -> None:
    dialer, seen, cid = await _dial_once(db, _LostAfterWriting())
    attempts, contacts = await _rows(db)
    assert [a.outcome for a in attempts] == ["failed"]
    assert [(c.state, c.attempts) for c in contacts] == [("pending", 1)]  # retried per the failed rule
    linkedid = attempts[0].linkedid
    assert [(type(e), e.call_id) for e in seen] == [(CallArrived, linkedid), (CampaignAttemptEnded, linkedid)]
    ended = seen[1]
    assert isinstance(ended, CampaignAttemptEnded) and ended.result == "failed"
    assert dialer.live[cid].ringing == {}
    await dialer.stop()



@pytest.mark.parametrize("result", [OriginateResult(False, "Originate: Extension does not exist."),
                                    OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s",
                                                    timed_out=True)], ids=["refused", "timed-out"])
async def test_an_originate_asterisk_refused_or_never_answered_is_one_failed_attempt(
        db: Database, result: OriginateResult) -> None:
    """The same rule as the preview dialer's (docs/outbound.md): Asterisk's Response: Error to an
    Originate written (no channel made) and the engine's own timeout on one (it may have rung) are one
    ``failed`` attempt under the retry rule, with the call published when written: a contact Asterisk
    refuses every time is used up by max_attempts, never dialled again at every tick."""
    dialer, seen, cid = await _dial_once(db, FakeCallControl(originate_result=result))
    attempts, contacts = await _rows(db)
    assert [a.outcome for a in attempts] == ["failed"]
    assert [(c.state, c.attempts, c.last_outcome) for c in contacts] == [("pending", 1, "failed")]
    assert [type(e) for e in seen] == [CallArrived, CampaignAttemptEnded]
    assert dialer.live[cid].ringing == {}
    await dialer.stop()

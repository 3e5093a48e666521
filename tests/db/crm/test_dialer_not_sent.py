"""The automatic dialer and an Originate that never reached Asterisk (docs/outbound.md, "What counts
as an attempt"): AMI dropped between the tick that chose the contact and the dial. Nobody was called:
no attempt is spent, the contact is due again with its count as before, and no call is published
(no CallArrived: the call logger would write an interaction for it, the live figures and the feed
would show a call that never was). An Originate written, then lost with the connection, or never
answered, may have called the customer: its call is followed, one attempt, ``failed`` with its one
call when no channel of it is seen."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from crm_core import campaigns
from crm_core.calllog import CallLogger
from crm_core.campaign_models import CampaignAttempt, CampaignContact
from crm_core.campaign_rules import CampaignIn
from crm_core.db import Database
from crm_core.dialer import CampaignDialer
from crm_core.feed import EventFeed
from crm_core.feed_events import to_public
from crm_core.models import Interaction
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.errors import AmiNotSent, AmiUnavailable
from cti.events import Event
from cti.journey import CallArrived, CallClosed, CallEnded, CampaignAttemptEnded
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


async def test_an_originate_lost_after_it_was_written_is_one_failed_attempt_with_its_call(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """No channel of its call is seen within the grace: ``failed`` (one seen is followed, below)."""
    monkeypatch.setattr("crm_core.dialer_calls.UNCONFIRMED_GRACE_S", 0.1)
    dialer, seen, cid = await _dial_once(db, _LostAfterWriting())
    attempts, contacts = await _rows(db)
    assert [a.outcome for a in attempts] == ["failed"]
    assert [(c.state, c.attempts) for c in contacts] == [("pending", 1)]  # retried per the failed rule
    linkedid = attempts[0].linkedid
    assert [(type(e), e.call_id) for e in seen] == [(CallArrived, linkedid), (CampaignAttemptEnded, linkedid),
                                                   (CallClosed, linkedid)]  # no end of the call will come
    ended = seen[1]
    assert isinstance(ended, CampaignAttemptEnded) and ended.result == "failed"
    assert dialer.live[cid].ringing == {}
    await dialer.stop()



@pytest.mark.parametrize("result", [OriginateResult(False, "Originate: Extension does not exist."),
                                    OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s",
                                                    timed_out=True)], ids=["refused", "timed-out"])
async def test_an_originate_asterisk_refused_or_never_answered_is_one_failed_attempt(
        db: Database, result: OriginateResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rule as the preview dialer's (docs/outbound.md): Asterisk's Response: Error to an
    Originate written (no channel made) and the engine's own timeout on one (it may have rung) are one
    ``failed`` attempt under the retry rule, with the call published when written: a contact Asterisk
    refuses every time is used up by max_attempts, never dialled again at every tick (one never
    answered, once no channel of its call was seen within the grace)."""
    monkeypatch.setattr("crm_core.dialer_calls.UNCONFIRMED_GRACE_S", 0.1)
    dialer, seen, cid = await _dial_once(db, FakeCallControl(originate_result=result))
    attempts, contacts = await _rows(db)
    assert [a.outcome for a in attempts] == ["failed"]
    assert [(c.state, c.attempts, c.last_outcome) for c in contacts] == [("pending", 1, "failed")]
    assert [type(e) for e in seen] == [CallArrived, CampaignAttemptEnded, CallClosed]
    assert dialer.live[cid].ringing == {}
    await dialer.stop()


class _Logged:
    """The dialer's bus with the call logger on it, and the one interaction it wrote."""

    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.db, self.bus = db, InProcessBus()
        self.logger = CallLogger(db, tmp_path)
        self.logger.subscribe(self.bus)
        self.seen: list[Event] = []
        self.bus.observe(Event, self.seen.append, name="test.seen")

    async def interactions(self) -> list[Interaction]:
        await self.bus.drain()
        await self.logger.flush()
        async with self.db.session() as s:
            return list(await s.scalars(select(Interaction)))


@pytest.mark.parametrize("control", [
    FakeCallControl(originate_result=OriginateResult(False, "Originate: Extension does not exist.")),
    FakeCallControl(originate_result=OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s",
                                                     timed_out=True)),
    _LostAfterWriting(),
    FakeCallControl(originate_result=OriginateResult(False, 0))],  # failed, and its channel's end never seen
    ids=["refused", "timed-out", "lost", "no-end-seen"])
async def test_an_attempt_settled_without_its_calls_end_ends_its_call_once(
        db: Database, tmp_path: Path, control: FakeCallControl, monkeypatch: pytest.MonkeyPatch) -> None:
    """The call was published (CallArrived) once the Originate was written; Asterisk then made no
    channel, or its end never came: nothing ended the call. Its interaction stayed open (no end, no
    outcome), the feed showed a call.arrived that never ended. The dialer now ends it (CallClosed,
    with the attempt's outcome) once, after the attempt's own end."""
    monkeypatch.setattr("crm_core.dialer_calls.ENDED_WAIT_S", 0.05)
    monkeypatch.setattr("crm_core.dialer_calls.UNCONFIRMED_GRACE_S", 0.1)
    logged = _Logged(db, tmp_path)
    await logged.logger.start()
    cid = await _running(db)
    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus())
    await acd.agent_login("1001", {}, ["sales"], ready=True)
    dialer = CampaignDialer(db, acd, lambda: control, logged.bus, routing=ROUTES)
    dialer.subscribe()
    await logged.bus.start()
    await dialer.tick()
    await until(lambda: control.called("originate"), what="the dial")
    await until(lambda: not dialer._tasks, what="the placement's end")
    attempts, _ = await _rows(db)
    linkedid = attempts[0].linkedid
    await until(lambda: any(isinstance(e, CallClosed) for e in logged.seen), what="the call's end")
    assert [type(e) for e in logged.seen if e.call_id == linkedid] == [CallArrived, CampaignAttemptEnded, CallClosed]
    closed = logged.seen[-1]
    assert isinstance(closed, CallClosed) and closed.outcome == "failed"
    [row] = await logged.interactions()
    assert (row.linkedid, row.direction, row.outcome, row.status, row.campaign_id) == (
        linkedid, "outbound", "failed", "complete", cid)
    assert row.ended_at is not None and row.ended_at >= row.started_at
    assert to_public(closed) is not None and to_public(closed)["type"] == "call.ended"  # type: ignore[index]
    await dialer.stop()
    await logged.bus.stop()
    await logged.logger.stop()


async def test_asterisks_own_end_after_the_dialers_is_the_calls_end(db: Database, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Asterisk's answer to the Originate never came (the engine's own timeout), yet it had placed the
    call: the dialer closed the call, then Asterisk reported its end. The attempt ends once (no second
    CampaignAttemptEnded or CallClosed), and the interaction keeps one end: Asterisk's, with its cause.
    The public feed ends the call once too (it sent two call.ended): the first, the dialer's."""
    monkeypatch.setattr("crm_core.dialer_calls.UNCONFIRMED_GRACE_S", 0.1)
    logged = _Logged(db, tmp_path)
    await logged.logger.start()
    feed = EventFeed(db, tmp_path / "feed")
    feed.subscribe(logged.bus)
    await feed.start()
    await _running(db)
    control = FakeCallControl(originate_result=OriginateResult(False, "Originate: no answer from Asterisk "
                                                                      "within 45.0 s", timed_out=True))
    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus())
    await acd.agent_login("1001", {}, ["sales"], ready=True)
    dialer = CampaignDialer(db, acd, lambda: control, logged.bus, routing=ROUTES)
    dialer.subscribe()
    await logged.bus.start()
    await dialer.tick()
    await until(lambda: any(isinstance(e, CallClosed) for e in logged.seen), what="the dialer's end of the call")
    [row] = await logged.interactions()
    closed_at = row.ended_at
    assert (row.outcome, row.status, row.hangup_cause) == ("failed", "complete", None)
    linkedid = row.linkedid
    late = CallEnded(ts=time.time() + 5, linkedid=linkedid, cause=19, cause_text="No answer")
    await logged.bus.publish(late)
    await until(lambda: late in logged.seen, what="Asterisk's end")
    [row] = await logged.interactions()
    assert (row.outcome, row.status, row.hangup_cause) == ("failed", "complete", 19)
    assert row.ended_at is not None and closed_at is not None and row.ended_at > closed_at
    assert row.ended_at.replace(tzinfo=UTC).timestamp() == pytest.approx(late.ts)
    ends = [type(e) for e in logged.seen if e.call_id == linkedid]
    assert ends == [CallArrived, CampaignAttemptEnded, CallClosed, CallEnded]
    attempts, _ = await _rows(db)
    assert [a.outcome for a in attempts] == ["failed"]
    await logged.bus.drain()
    await feed.flush()
    bodies = [json.loads(body) for _, _, body in await feed.page(0, 1000)]
    assert [(b["type"], b["data"]["cause"]) for b in bodies if b["call_id"] == linkedid
            and b["type"] == "call.ended"] == [("call.ended", 0)]
    await dialer.stop()
    await logged.bus.stop()
    await logged.logger.stop()
    await feed.stop()


async def test_an_attempt_at_a_number_no_route_takes_is_one_ended_outbound_interaction(db: Database,
                                                                                        tmp_path: Path) -> None:
    """A number no outbound route takes is a ``failed`` attempt with no Originate: its call was never
    published, so the call log made an interaction of its CampaignAttemptEnded alone (inbound, no
    number, never ended). It is one outbound call, begun and ended by the dialer."""
    logged = _Logged(db, tmp_path)
    await logged.logger.start()
    async with db.session() as s:
        c = await campaigns.create_campaign(session=s, spec=CampaignIn(
            name="abroad", queue="sales", timezone="Asia/Shanghai", retry={"failed": 600}, max_attempts=2))
        c.windows = [{"days": list(range(7)), "start": "00:00:00", "end": "24:00:00"}]
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "+12125550100"})])
        await campaigns.change_state(session=s, campaign=c, event="start")
    control = FakeCallControl()
    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus())
    await acd.agent_login("1001", {}, ["sales"], ready=True)
    dialer = CampaignDialer(db, acd, lambda: control, logged.bus, routing=ROUTES)
    dialer.subscribe()
    await logged.bus.start()
    await dialer.tick()
    await until(lambda: any(isinstance(e, CallClosed) for e in logged.seen), what="the attempt's end")
    assert control.called("originate") == []
    assert [type(e) for e in logged.seen] == [CallArrived, CampaignAttemptEnded, CallClosed]
    [row] = await logged.interactions()
    assert (row.direction, row.dialled_number, row.outcome, row.status) == ("outbound", "12125550100", "failed",
                                                                            "complete")
    await dialer.stop()
    await logged.bus.stop()
    await logged.logger.stop()


@pytest.mark.parametrize("control", [
    lambda: FakeCallControl(originate_result=OriginateResult(False, "Originate: no answer from Asterisk "
                                                                    "within 45.0 s", timed_out=True)),
    _LostAfterWriting], ids=["timed-out", "lost"])
async def test_a_call_asterisk_placed_without_answering_the_originate_is_the_attempts(
        db: Database, monkeypatch: pytest.MonkeyPatch, control: Any) -> None:
    """Asterisk's answer to the Originate never came (the engine's own timeout, or AMI lost with it
    pending) but the call was placed: its channels are live under the dial's Local channel. The
    attempt stays the call's until its end, so the customer who answers reaches the campaign's
    verdict (an agent), not a hang-up for an attempt already settled ``failed``; its end settles it."""
    monkeypatch.setattr("crm_core.dialer_calls.ENDED_WAIT_S", 0.05)
    cid = await _running(db)
    live: list[str] = []
    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus(), live_channels=lambda: live)
    await acd.agent_login("1001", {}, ["sales"], ready=True)
    bus = InProcessBus()
    seen: list[Event] = []
    bus.observe(Event, seen.append, name="test.seen")
    pbx = control()
    dialer = CampaignDialer(db, acd, lambda: pbx, bus, routing=ROUTES, unconfirmed_grace_s=0.3)
    dialer.subscribe()
    await bus.start()
    await dialer.tick()
    await until(lambda: pbx.called("originate"), what="the dial")
    dial = pbx.called("originate")[0]
    linkedid = dial["channel_id"]
    exten = dial["channel"].removeprefix("Local/").split("@")[0]
    live.append(f"Local/{exten}@cti-external-0000002a;1")  # Asterisk placed it: the customer's phone rings
    await asyncio.sleep(0.6)  # past the grace and ENDED_WAIT_S: a call seen live is followed, not settled
    assert not any(isinstance(e, CampaignAttemptEnded) for e in seen)
    nxt, _ = await dialer.answered(linkedid, f"Local/{exten}@cti-external-0000002a;1", "HUMAN")
    assert nxt == "queue"  # an agent takes the customer (was: "hangup", the attempt settled failed)
    live.clear()
    await bus.publish(CallEnded(ts=time.time(), linkedid=linkedid, cause=16, cause_text="Normal Clearing"))
    await until(lambda: any(isinstance(e, CampaignAttemptEnded) for e in seen), what="the attempt's end")
    [ended] = [e for e in seen if isinstance(e, CampaignAttemptEnded)]
    assert ended.call_id == linkedid and ended.result == "human"
    assert cid in dialer.live
    await dialer.stop()
    await bus.stop()

"""Campaigns on SQLite and PostgreSQL: all-or-nothing uploads, the do-not-call list and the
calling window checked at the dial, retries by outcome, the state machine and the progress."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_core import campaigns
from crm_core.campaign_models import CampaignAttempt, CampaignContact, DoNotCall
from crm_core.campaign_rules import CampaignIn
from crm_core.db import Database
from crm_core.errors import Conflict, ContactTaken, IllegalCampaignStep, InvalidField

OPEN = datetime(2030, 3, 6, 3, 0, tzinfo=UTC)  # Wednesday 11:00 in Shanghai
CLOSED = datetime(2030, 3, 6, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai


async def _campaign(db: Database) -> int:
    async with db.session() as s:
        c = await campaigns.create_campaign(session=s, spec=CampaignIn(
            name="spring", queue="sales", timezone="Asia/Shanghai", retry={"busy": 600, "failed": None},
            max_attempts=2))
        return c.id


async def test_an_upload_with_a_bad_row_writes_nothing_and_names_every_bad_row(db: Database) -> None:
    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        with pytest.raises(campaigns.ContactsRejected) as err:
            await campaigns.add_contacts(session=s, campaign=c, rows=[
                (1, {"number": "13912345678"}), (2, {"number": "12"}), (3, {"number": "13800138000",
                                                                          "customer_id": "999"})])
        assert [(e.row, e.field) for e in err.value.errors] == [(2, "number"), (3, "customer_id")]
        assert err.value.http_status == 422
    async with db.session() as s:
        assert list(await s.scalars(select(CampaignContact))) == []
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        added = await campaigns.add_contacts(session=s, campaign=c, rows=[
            (1, {"number": "13912345678", "name": "Li"}), (2, {"number": "+33142685300"})])
        again = await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "139 1234 5678"})])
    assert added == {"added": 2, "duplicates": 0}
    assert again == {"added": 0, "duplicates": 1}
    async with db.session() as s:
        zones = {c.number: c.timezone for c in await s.scalars(select(CampaignContact))}
    assert zones == {"+8613912345678": "Asia/Shanghai", "+33142685300": "Europe/Paris"}
    async with db.session() as s:
        with pytest.raises(Conflict):
            await campaigns.create_campaign(session=s, spec=CampaignIn(name="spring", queue="x"))


async def test_dial_checks_window_and_dnc_and_retries_follow_the_outcome(db: Database) -> None:
    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"}),
                                                                  (2, {"number": "13800138000"})])
        with pytest.raises(IllegalCampaignStep):
            campaigns.step(c, "pause")
        campaigns.step(c, "start")
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        assert await campaigns.due_contacts(session=s, campaign=c, now=CLOSED, limit=10) == []
        due = await campaigns.due_contacts(session=s, campaign=c, now=OPEN, limit=10)
        assert [d.number for d in due] == ["+8613912345678", "+8613800138000"]
        await campaigns.add_dnc(session=s, number="138 0013 8000", campaign_id=None, reason="asked")
        first = await campaigns.begin_attempt(session=s, campaign=c, contact_id=due[0].id, linkedid="L1", now=OPEN)
        blocked = await campaigns.begin_attempt(session=s, campaign=c, contact_id=due[1].id, linkedid="L2", now=OPEN)
        assert first is not None and blocked is None
        with pytest.raises(ContactTaken):  # already dialing
            await campaigns.begin_attempt(session=s, campaign=c, contact_id=due[0].id, linkedid="L3", now=OPEN)
    async with db.session() as s:
        await campaigns.finish_attempt(session=s, linkedid="L1", outcome="busy", now=OPEN)
        await campaigns.finish_attempt(session=s, linkedid="L1", outcome="human", now=OPEN)  # counted once
        contact = await s.get(CampaignContact, due[0].id)
        dnc = await s.get(CampaignContact, due[1].id)
        assert contact is not None and dnc is not None
        assert (contact.state, contact.attempts, contact.next_at) == ("pending", 1, OPEN + timedelta(seconds=600))
        assert dnc.state == "dnc"
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        assert await campaigns.due_contacts(session=s, campaign=c, now=OPEN, limit=10) == []
        later = OPEN + timedelta(minutes=11)
        again = await campaigns.begin_attempt(session=s, campaign=c, contact_id=due[0].id, linkedid="L4", now=later)
        assert again is not None and again.attempt == 2
        await campaigns.finish_attempt(session=s, linkedid="L4", outcome="busy", now=later)
        assert contact.state == "failed"  # max_attempts 2
        prog = await campaigns.progress(session=s, campaign_id=cid, now=later)
    assert prog.contacts == {"failed": 1, "dnc": 1}
    assert prog.outcomes == {"busy": 2}
    async with db.session() as s:
        attempts = list(await s.scalars(select(CampaignAttempt).order_by(CampaignAttempt.id)))
    assert [(a.linkedid, a.attempt, a.outcome) for a in attempts] == [("L1", 1, "busy"), ("L4", 2, "busy")]


async def test_a_skipped_contact_comes_back_later_fails_or_goes_on_the_dnc_list(db: Database) -> None:
    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        c.state = "running"
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"}),
                                                                  (2, {"number": "13800138000"}),
                                                                  (3, {"number": "13700137000"})])
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        ids = [x.id for x in await campaigns.due_contacts(session=s, campaign=c, now=OPEN, limit=3)]
        for contact_id, reason in zip(ids, ("not_now", "wrong_number", "do_not_call"), strict=True):
            await campaigns.skip_contact(session=s, campaign=c, contact_id=contact_id, reason=reason,
                                         agent_id="1001", now=OPEN)
        with pytest.raises(InvalidField) as bad:
            await campaigns.skip_contact(session=s, campaign=c, contact_id=ids[0], reason="bored", agent_id="1001",
                                         now=OPEN)
        assert bad.value.field == "reason"
        with pytest.raises(ContactTaken) as done:  # no longer waiting to be dialled
            await campaigns.skip_contact(session=s, campaign=c, contact_id=ids[1], reason="not_now",
                                         agent_id="1001", now=OPEN)
        assert done.value.field == "contact_id"
    async with db.session() as s:
        rows = {x.number: x for x in await s.scalars(select(CampaignContact))}
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        later = rows["+8613912345678"]
        assert (later.state, later.attempts, later.last_outcome) == ("pending", 0, "skipped")
        assert c.retry["no_answer"] == 3600  # the default rule: "not now" waits as a no-answer would
        assert later.next_at is not None and later.next_at.replace(tzinfo=UTC) == OPEN + timedelta(hours=1)
        assert (rows["+8613800138000"].state, rows["+8613700137000"].state) == ("failed", "dnc")
        assert await campaigns.on_dnc(session=s, campaign_id=cid, number="+8613700137000")
        assert await campaigns.due_contacts(session=s, campaign=c, now=OPEN, limit=3) == []
        with pytest.raises(ContactTaken):  # not due before its next_at
            await campaigns.begin_attempt(session=s, campaign=c, contact_id=later.id, linkedid="x", now=OPEN)
        assert await campaigns.begin_attempt(session=s, campaign=c, contact_id=later.id, linkedid="x",
                                             now=OPEN + timedelta(hours=1)) is not None  # dialled later: not dnc


async def test_the_dialer_reads_finished_campaigns_only_while_it_still_runs_them(db: Database) -> None:
    """Campaigns stopped or completed long ago are not read again every refresh (they pile up);
    one the dialer still runs is, so that it sees it complete or stop."""
    from acd.delivery import AcdService
    from acd.model import QueueConfig
    from acd.routing import Router
    from crm_core.dialer import CampaignDialer
    from cti.ami.control import FakeCallControl
    from cti.bus import InProcessBus
    from cti.trunks import TrunksConfig

    ids: dict[str, int] = {}
    async with db.session() as s:
        for name, events in (("old", ("start", "complete")), ("halted", ("stop",)), ("live", ("start",)),
                             ("resting", ("start", "pause")), ("draft", ())):
            c = await campaigns.create_campaign(session=s, spec=CampaignIn(name=name, queue="sales"))
            for event in events:
                campaigns.step(c, event)
            ids[name] = c.id
    async with db.session() as s:
        listed = await campaigns.list_campaigns(session=s, states=("running", "paused"), also=[ids["halted"]])
        assert [c.id for c in listed] == [ids["halted"], ids["live"], ids["resting"]]

    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus(), clock=lambda: 1000.0)
    dialer = CampaignDialer(db, acd, FakeCallControl, InProcessBus(), routing=TrunksConfig())
    await dialer._refresh(1000.0)
    assert sorted(dialer.live) == [ids["live"], ids["resting"]]
    assert dialer.live[ids["live"]].state == "completed"  # running with no contact left
    await dialer._refresh(1002.0)
    assert sorted(dialer.live) == [ids["resting"]]  # read once more, completed, and let go
    async with db.session() as s:
        campaigns.step(await campaigns.get_campaign(session=s, campaign_id=ids["resting"]), "stop")
    await dialer._refresh(1004.0)
    assert dialer.live == {}


async def test_a_change_decided_on_a_stale_read_is_refused_not_written_over_the_newer_one(db: Database) -> None:
    """A pause read the campaign running; a stop committed meanwhile. The pause must be refused (409)
    as from the stopped state, not written over it (a stopped campaign could then be resumed)."""
    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"})])
        await campaigns.change_state(session=s, campaign=c, event="start")
    async with db.session() as late:
        stale = await campaigns.get_campaign(session=late, campaign_id=cid)
        assert stale.state == "running"
        async with db.session() as first:
            await campaigns.change_state(session=first, event="stop",
                                         campaign=await campaigns.get_campaign(session=first, campaign_id=cid))
        with pytest.raises(IllegalCampaignStep, match="stopped"):
            await campaigns.change_state(session=late, campaign=stale, event="pause")
    async with db.session() as s:
        assert (await campaigns.get_campaign(session=s, campaign_id=cid)).state == "stopped"


async def test_a_contact_is_dialled_only_as_an_attempt_of_its_own_campaign(db: Database) -> None:
    """``POST /api/campaigns/{other}/preview/{contact}/dial`` named another running campaign than the
    contact's: the attempt was written under that campaign, with its caller ID, script and do-not-call
    list. Such a contact is not to be dialled there."""
    cid = await _campaign(db)
    async with db.session() as s:
        mine = await campaigns.get_campaign(session=s, campaign_id=cid)
        other = await campaigns.create_campaign(session=s, spec=CampaignIn(name="autumn", queue="sales",
                                                                          timezone="Asia/Shanghai"))
        await campaigns.add_contacts(session=s, campaign=mine, rows=[(1, {"number": "13912345678"})])
        await campaigns.add_contacts(session=s, campaign=other, rows=[(1, {"number": "13800138000"})])
        for c in (mine, other):
            await campaigns.change_state(session=s, campaign=c, event="start")
        contact = (await campaigns.due_contacts(session=s, campaign=mine, now=OPEN, limit=1))[0]
        assert await campaigns.begin_attempt(session=s, campaign=other, contact_id=contact.id, linkedid="X",
                                             now=OPEN) is None
        assert (contact.state, contact.attempts) == ("pending", 0)


async def test_a_command_written_is_answered_even_when_the_dialers_next_step_fails(db: Database) -> None:
    """The start is committed, then the dialer's immediate tick meets a database hiccup: the supervisor
    got a 503 for a campaign that was running (and a 409 on trying again)."""
    from acd.delivery import AcdService
    from acd.model import QueueConfig
    from acd.routing import Router
    from crm_core.dialer import CampaignDialer
    from crm_core.errors import DatabaseUnavailable
    from cti.ami.control import FakeCallControl
    from cti.bus import InProcessBus
    from cti.trunks import TrunksConfig

    cid = await _campaign(db)
    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus(), clock=lambda: 1000.0)
    dialer = CampaignDialer(db, acd, FakeCallControl, InProcessBus(), routing=TrunksConfig())

    async def hiccup() -> None:
        raise DatabaseUnavailable("database away for a moment")

    dialer.tick = hiccup  # type: ignore[method-assign]
    async with db.session() as s:
        await campaigns.add_contacts(session=s, campaign=await campaigns.get_campaign(session=s, campaign_id=cid),
                                     rows=[(1, {"number": "13912345678"})])
    assert (await dialer.command(cid, "start", "sup1")).state == "running"
    async with db.session() as s:
        assert (await campaigns.get_campaign(session=s, campaign_id=cid)).state == "running"


async def test_the_dialer_dials_nothing_while_the_pbx_is_away(db: Database) -> None:
    """AMI down (Asterisk restarting) with agents still ready: every tick took due contacts, each
    originate failed at once and counted as a failed attempt (a retry later, or failed for good when
    the campaign never retries failures): an outage of a minute burned through the list."""
    from acd.delivery import AcdService
    from acd.model import QueueConfig
    from acd.routing import Router
    from crm_core.dialer import CampaignDialer
    from cti.ami.control import FakeCallControl
    from cti.bus import InProcessBus
    from cti.trunks import TrunksConfig

    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        c.windows = [{"days": list(range(7)), "start": "00:00:00", "end": "24:00:00"}]
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"}),
                                                                  (2, {"number": "13800138000"})])
        await campaigns.change_state(session=s, campaign=c, event="start")
    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus())
    await acd.agent_login("1001", {}, ["sales"], ready=True)
    pbx = {"up": False}
    dialer = CampaignDialer(db, acd, FakeCallControl, InProcessBus(), routing=TrunksConfig(),
                            pbx_up=lambda: pbx["up"])
    await dialer.tick()
    await asyncio.sleep(0.05)  # what a dial would have spawned
    async with db.session() as s:
        assert list(await s.scalars(select(CampaignAttempt))) == []
        assert {c.state for c in await s.scalars(select(CampaignContact))} == {"pending"}
    pbx["up"] = True
    await dialer.tick()
    async with db.session() as s:
        assert len(list(await s.scalars(select(CampaignAttempt)))) == 1  # the PBX back: one ready agent, one dial
    await dialer.stop()


async def test_a_campaign_starts_only_with_contacts_and_a_finished_one_takes_none(db: Database) -> None:
    """Started empty, a campaign completed at the dialer's first tick; contacts uploaded then were
    answered 201 and never called (a finished campaign has no way back to running)."""
    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        with pytest.raises(IllegalCampaignStep, match="no contact to dial"):
            await campaigns.change_state(session=s, campaign=c, event="start")
        assert c.state == "draft"
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"})])
        assert await campaigns.change_state(session=s, campaign=c, event="start") == "running"
        await campaigns.change_state(session=s, campaign=c, event="stop")
        with pytest.raises(IllegalCampaignStep, match="stopped: it dials no more contacts"):
            await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13800138000"})])
    async with db.session() as s:
        assert len(list(await s.scalars(select(CampaignContact).where(CampaignContact.campaign_id == cid)))) == 1


async def test_a_completion_decided_before_an_upload_is_refused(db: Database) -> None:
    """The dialer found nothing left to dial, then an upload added contacts before its completion
    was written: the campaign completed with them, and they were never called."""
    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"})])
        await campaigns.change_state(session=s, campaign=c, event="start")
    async with db.session() as dialer:  # read the campaign running, with nothing left (say)
        stale = await campaigns.get_campaign(session=dialer, campaign_id=cid)
        async with db.session() as upload:
            await campaigns.add_contacts(session=upload, rows=[(1, {"number": "13800138000"})],
                                         campaign=await campaigns.get_campaign(session=upload, campaign_id=cid))
        with pytest.raises(IllegalCampaignStep, match="contacts to dial again"):
            await campaigns.change_state(session=dialer, campaign=stale, event="complete")
    async with db.session() as s:
        assert (await campaigns.get_campaign(session=s, campaign_id=cid)).state == "running"


async def test_a_number_added_twice_at_once_is_on_each_list_once(db: Database) -> None:
    """Two supervisors (or a double click) add the same number at the same moment: both look it up,
    find nothing and insert it, and the list held it twice. The database itself now refuses a
    second row for a number in the same scope, and the second add answers the row already there."""
    cid = await _campaign(db)

    async def add(campaign_id: int | None) -> str:
        async with db.session() as s:
            return (await campaigns.add_dnc(session=s, number="139 1234 5678", campaign_id=campaign_id)).number

    for scope in (None, cid, None, cid):
        assert await asyncio.gather(*(add(scope) for _ in range(3))) == ["+8613912345678"] * 3
    async with db.session() as s:
        rows = (await s.execute(select(DoNotCall.campaign_id))).scalars().all()
    assert sorted(rows, key=lambda r: r or 0) == [None, cid]
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            s.add(DoNotCall(number="+8613912345678", campaign_id=None, reason="again"))


async def test_the_migration_keeps_one_row_of_each_number_already_listed_twice(db: Database) -> None:
    """Lists written before the database refused duplicates may hold a number twice: the migration
    that adds the unique indexes keeps the oldest row of each (number, campaign) and drops the rest."""
    from alembic import command

    from crm_core.revisions import alembic_config

    cid = await _campaign(db)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0015_feed_source_holes"))
    async with db.session() as s:
        for campaign_id, reason in ((None, "first"), (None, "second"), (cid, "first"), (cid, "second"),
                                    (None, "third")):
            s.add(DoNotCall(number="+8613912345678", campaign_id=campaign_id, reason=reason))
        s.add(DoNotCall(number="+8613800138000", campaign_id=None, reason="first"))
    await db.upgrade()
    async with db.session() as s:
        rows = (await s.execute(select(DoNotCall.number, DoNotCall.campaign_id, DoNotCall.reason)
                                .order_by(DoNotCall.id))).all()
    assert [tuple(r) for r in rows] == [("+8613912345678", None, "first"), ("+8613912345678", cid, "first"),
                                        ("+8613800138000", None, "first")]


async def test_a_skip_and_a_dial_of_one_contact_at_once_never_both_succeed(db: Database) -> None:
    """On SQLite both read the contact pending and both wrote it (a dialled contact left ``failed``
    by the skip, or skipped "not now" and dialled all the same). Each is a compare-and-set on the
    contact still pending and due: one wins, the other raises ContactTaken (409)."""
    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        await campaigns.add_contacts(session=s, campaign=c, rows=[(i, {"number": f"1391234567{i}"})
                                                                  for i in range(6)])
        await campaigns.change_state(session=s, campaign=c, event="start")
        ids = [x.id for x in await campaigns.due_contacts(session=s, campaign=c, now=OPEN, limit=6)]
    for contact_id, reason in zip(ids, ("not_now", "wrong_number", "do_not_call") * 2, strict=True):
        async def skip(contact_id: int = contact_id, reason: str = reason) -> object:
            async with db.session() as s:
                c = await campaigns.get_campaign(session=s, campaign_id=cid)
                return await campaigns.skip_contact(session=s, campaign=c, contact_id=contact_id, reason=reason,
                                                    agent_id="1001", now=OPEN)

        async def dial(contact_id: int = contact_id) -> object:
            async with db.session() as s:
                c = await campaigns.get_campaign(session=s, campaign_id=cid)
                return await campaigns.begin_attempt(session=s, campaign=c, contact_id=contact_id,
                                                     linkedid=f"L{contact_id}", now=OPEN)

        results = await asyncio.gather(skip(), dial(), return_exceptions=True)
        lost = [isinstance(r, ContactTaken) for r in results]
        assert lost in ([True, False], [False, True]), results
        async with db.session() as s:
            contact = await s.get(CampaignContact, contact_id)
            attempts = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.contact_id == contact_id)))
        assert contact is not None
        if lost[0]:  # the dial won
            assert (contact.state, contact.attempts, contact.last_outcome, len(attempts)) == ("dialing", 1, None, 1)
        else:
            assert (contact.attempts, contact.last_outcome, attempts) == (0, "skipped", [])


async def test_a_dial_that_read_the_contact_before_a_do_not_call_skip_loses_with_contact_taken(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dial read the contact pending; a skip "do not call" committed before the dial looked the
    number up on the list (SQLite locks nothing on that read). The dial then found the number listed,
    failed to mark the contact ``dnc`` (the skip had) and answered None ("listed, not dialled") as if
    it had decided: both commands succeeded (CI saw it once). Losing the compare-and-set is
    ContactTaken. On PostgreSQL the dial's row lock holds the skip until the dial commits: then the
    skip is the one refused."""
    cid = await _campaign(db)
    async with db.session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=cid)
        await campaigns.add_contacts(session=s, campaign=c, rows=[(0, {"number": "13912345670"})])
        await campaigns.change_state(session=s, campaign=c, event="start")
        (contact,) = await campaigns.due_contacts(session=s, campaign=c, now=OPEN, limit=1)
    on_dnc = campaigns.on_dnc

    async def skip() -> object:
        async with db.session() as other:
            c = await campaigns.get_campaign(session=other, campaign_id=cid)
            return await campaigns.skip_contact(session=other, campaign=c, contact_id=contact.id,
                                                reason="do_not_call", agent_id="1001", now=OPEN)

    skipping: list[asyncio.Task[object]] = []

    async def skip_between(**kw: object) -> bool:
        skipping.append(asyncio.ensure_future(skip()))
        await asyncio.wait(skipping, timeout=0.5)  # done on SQLite; held by the row lock on PostgreSQL
        return await on_dnc(**kw)  # type: ignore[arg-type]

    async def dial() -> object:
        async with db.session() as s:
            c = await campaigns.get_campaign(session=s, campaign_id=cid)
            return await campaigns.begin_attempt(session=s, campaign=c, contact_id=contact.id, linkedid="L1",
                                                 now=OPEN)

    monkeypatch.setattr(campaigns, "on_dnc", skip_between)
    dialled = await asyncio.gather(dial(), return_exceptions=True)
    skipped = await asyncio.gather(*skipping, return_exceptions=True)
    lost = [isinstance(r, ContactTaken) for r in dialled + skipped]
    assert lost in ([True, False], [False, True]), (dialled, skipped)

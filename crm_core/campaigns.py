"""Outbound campaigns: create, fill with contacts, keep a do-not-call list, run, and record attempts.

    draft -[start]-> running -[pause]-> paused -[resume]-> running
    running | paused -[stop]-> stopped          running -[complete]-> completed (nothing left to dial)

    contact: pending -[begin]-> dialing -[finish]-> done | pending (retry, next_at later) | failed
             pending -[begin, on the do-not-call list]-> dnc
             pending -[skip: not now]-> pending (next_at later)   -[skip: wrong number]-> failed
             pending -[skip: do not call]-> dnc (and on the campaign's do-not-call list)

``begin_attempt`` checks the do-not-call list and the contact's calling window again right before
the dial, in the transaction that marks it dialing and writes the attempt: nothing is dialled on
stale data. ``finish_attempt`` is idempotent (a result delivered twice counts once).

Errors: ``NotFound``, ``InvalidField`` (names the field; contact uploads list every row and field),
``Conflict`` (a name taken), ``ContactTaken`` (a Dial or Skip of a contact another command changed
first: each changes it only while it is still pending and due), ``IllegalCampaignStep`` in the CRM's
tree (``crm_core.errors``).
Services take the session as a keyword argument and never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.campaign_models import Campaign, CampaignAttempt, CampaignContact, DoNotCall
from crm_core.campaign_rules import (
    CampaignIn,
    RowError,
    after_attempt,
    contact_zone,
    validate_contacts,
    within_window,
)
from crm_core.errors import Conflict, ContactTaken, IllegalCampaignStep, InvalidField, NotFound
from crm_core.models import Customer, utcnow
from cti.trunks import TrunksConfig, normalise

log = logging.getLogger(__name__)

FINISHED = ("stopped", "completed")  # no way out of these
TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "start"): "running",
    ("running", "pause"): "paused",
    ("paused", "resume"): "running",
    ("running", "stop"): "stopped",
    ("paused", "stop"): "stopped",
    ("draft", "stop"): "stopped",
    ("running", "complete"): "completed",
}


class ContactsRejected(InvalidField):
    """An upload with bad rows: nothing is written; ``errors`` name each row and field."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__("contacts", f"row {first.row}, {first.field}: {first.message}{more}")
        self.errors = list(errors)


async def create_campaign(*, session: AsyncSession, spec: CampaignIn, trunks: TrunksConfig | None = None) -> Campaign:
    """A draft campaign. Its caller ID, when it has one, must be a number ``trunks`` own
    (``trunks[].caller_ids``; without ``trunks``, none is): anything else would be presented to the
    called party as someone else's number."""
    if spec.caller_id is not None:
        refusal = (trunks or TrunksConfig()).caller_id_refusal(spec.caller_id)
        if refusal is not None:
            raise InvalidField("caller_id", refusal)
    if await session.scalar(select(Campaign.id).where(Campaign.name == spec.name)) is not None:
        raise Conflict("name", f"a campaign named {spec.name!r} exists")
    data = spec.model_dump(mode="json")
    campaign = Campaign(**{**data, "mode": spec.mode.value, "state": "draft"})
    session.add(campaign)
    await session.flush()
    log.info("campaign %s (%s): created, %s mode, queue %s", campaign.id, campaign.name, campaign.mode, campaign.queue)
    return campaign


async def get_campaign(*, session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    return campaign


async def list_campaigns(*, session: AsyncSession, states: Iterable[str] | None = None,
                         also: Iterable[int] = ()) -> list[Campaign]:
    """Campaigns in ``states`` (all without), and those of ids ``also`` whatever their state."""
    query = select(Campaign).order_by(Campaign.id)
    if states is not None:
        ids = list(also)
        in_states = Campaign.state.in_(list(states))
        query = query.where(or_(in_states, Campaign.id.in_(ids)) if ids else in_states)
    return list(await session.scalars(query))


def step(campaign: Campaign, event: str, actor: str = "system") -> str:
    """Move the campaign by ``event``; IllegalCampaignStep (409) when its state does not allow it."""
    new = TRANSITIONS.get((campaign.state, event))
    if new is None:
        raise IllegalCampaignStep(f"campaign {campaign.id}: cannot {event} a {campaign.state} campaign")
    log.info("campaign %s: %s -[%s by %s]-> %s", campaign.id, campaign.state, event, actor, new)
    campaign.state = new
    return new


async def change_state(*, session: AsyncSession, campaign: Campaign, event: str, actor: str = "system") -> str:
    """``step``, written only if the campaign is still in the state it was read in: of two changes at
    once (a pause and a stop) one wins and the other is refused as from the state the first left."""
    old = campaign.state
    new = TRANSITIONS.get((old, event))
    if new is not None and event == "start" and not await _has_pending(session, campaign.id):
        # Started empty it would complete at its first tick, and nothing could be added after.
        raise IllegalCampaignStep(f"campaign {campaign.id} has no contact to dial: add contacts, then start it")
    if new is not None and event == "complete":
        # The dialer found nothing left, but an upload may have added contacts since: the row lock
        # waits for an upload in progress (PostgreSQL), then the contacts are counted again.
        if await _locked_state(session, campaign) == old and await _has_pending(session, campaign.id):
            raise IllegalCampaignStep(f"campaign {campaign.id} has contacts to dial again: it goes on")
    if new is not None:
        done = await session.execute(update(Campaign).where(Campaign.id == campaign.id, Campaign.state == old)
                                     .values(state=new, updated_at=utcnow())
                                     .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            await session.refresh(campaign)  # changed meanwhile: judged again from where it is now
            return await change_state(session=session, campaign=campaign, event=event, actor=actor)
    return step(campaign, event, actor)


async def _locked_state(session: AsyncSession, campaign: Campaign) -> str:
    """The campaign's state as written, its row locked for this transaction (PostgreSQL): an upload
    and a completion of one campaign take turns."""
    state = await session.scalar(select(Campaign.state).where(Campaign.id == campaign.id).with_for_update())
    return str(state)


async def _has_pending(session: AsyncSession, campaign_id: int) -> bool:
    found = await session.scalar(select(CampaignContact.id).where(
        CampaignContact.campaign_id == campaign_id, CampaignContact.state == "pending").limit(1))
    return found is not None


async def add_contacts(*, session: AsyncSession, campaign: Campaign,
                       rows: Iterable[tuple[int, Mapping[str, Any]]]) -> dict[str, int]:
    """Validate every row, then add them all or none. Numbers already in the campaign are skipped
    (``duplicates``); an unknown customer id is an error of its row. A stopped or completed campaign
    dials nothing more: IllegalCampaignStep (409) rather than contacts accepted and never called."""
    state = await _locked_state(session, campaign)  # a completion in progress finishes first
    if state in FINISHED:
        raise IllegalCampaignStep(f"campaign {campaign.id} is {state}: it dials no more contacts "
                                  "(create a new campaign for them)")
    good, errors = validate_contacts(rows, region=campaign.region)
    ids = {c.customer_id for c in good if c.customer_id is not None}
    if ids:
        known = set(await session.scalars(select(Customer.id).where(Customer.id.in_(ids))))
        errors += [RowError(c.row, "customer_id", f"customer {c.customer_id} does not exist")
                   for c in good if c.customer_id is not None and c.customer_id not in known]
    if errors:
        raise ContactsRejected(sorted(errors, key=lambda e: e.row))
    if not good:
        return {"added": 0, "duplicates": 0}
    # A number already there is skipped by the database itself: an upload running at the same time
    # (a double click) may add it after any look-up of ours.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    added = (await session.execute(
        insert(CampaignContact).on_conflict_do_nothing(index_elements=["campaign_id", "number"])
        .returning(CampaignContact.id),
        [{"campaign_id": campaign.id, "number": c.number, "name": c.name,
          "timezone": contact_zone(c.number, c.timezone, campaign.timezone), "customer_id": c.customer_id,
          "data": c.data, "state": "pending", "attempts": 0, "created_at": now, "updated_at": now}
         for c in good])).all()
    return {"added": len(added), "duplicates": len(good) - len(added)}


async def add_dnc(*, session: AsyncSession, number: str, campaign_id: int | None = None, reason: str = "",
                  region: str = "CN") -> DoNotCall:
    """Put ``number`` on the do-not-call list of one campaign, or of all (``campaign_id`` None).
    Idempotent: a number already there (added by anyone, even at this same moment) is kept as it
    is, with its first reason, and returned."""
    e164 = normalise(number, region)
    if e164 is None:
        raise InvalidField("number", f"{number!r} is not a phone number (region {region})")
    # The database's unique indexes decide, not a look-up first: two adds at once both found the
    # number missing and both inserted it.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(DoNotCall).values(number=e164, campaign_id=campaign_id, reason=reason[:200], created_at=utcnow())
    if campaign_id is None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["number"], index_where=DoNotCall.campaign_id.is_(None))
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["campaign_id", "number"])
    await session.execute(stmt)
    scope = DoNotCall.campaign_id.is_(None) if campaign_id is None else DoNotCall.campaign_id == campaign_id
    return (await session.scalars(select(DoNotCall).where(DoNotCall.number == e164, scope))).one()


async def on_dnc(*, session: AsyncSession, campaign_id: int, number: str) -> bool:
    hit = await session.scalar(select(DoNotCall.id).where(
        DoNotCall.number == number,
        or_(DoNotCall.campaign_id.is_(None), DoNotCall.campaign_id == campaign_id)).limit(1))
    return hit is not None


async def due_contacts(*, session: AsyncSession, campaign: Campaign, now: datetime, limit: int
                       ) -> list[CampaignContact]:
    """Pending contacts due now and inside their calling window, oldest first."""
    out: list[CampaignContact] = []
    after = 0
    while len(out) < limit:
        batch = list(await session.scalars(
            select(CampaignContact).where(
                CampaignContact.campaign_id == campaign.id, CampaignContact.state == "pending",
                CampaignContact.id > after,
                or_(CampaignContact.next_at.is_(None), CampaignContact.next_at <= now))
            .order_by(CampaignContact.id).limit(max(limit * 4, 50))))
        if not batch:
            break
        after = batch[-1].id
        out += [c for c in batch if within_window(campaign.windows, c.timezone, now)][:limit - len(out)]
    return out


async def begin_attempt(*, session: AsyncSession, campaign: Campaign, contact_id: int, linkedid: str,
                        now: datetime) -> CampaignAttempt | None:
    """Claim the contact for a dial: None when it is not this campaign's, outside its window, or on
    the do-not-call list (then it is marked ``dnc`` and never dialled); ContactTaken (409) when it is
    no longer pending and due (another command changed it first)."""
    contact = await session.get(CampaignContact, contact_id, with_for_update=True)
    if contact is None or contact.campaign_id != campaign.id or campaign.state != "running":
        return None
    if contact.state != "pending":
        raise ContactTaken(contact_id)
    if not within_window(campaign.windows, contact.timezone, now):
        return None
    if await on_dnc(session=session, campaign_id=campaign.id, number=contact.number):
        if not await _take(session, contact_id, now, state="dnc", last_outcome=None):
            raise ContactTaken(contact_id)  # changed since the read (a skip "do not call" listed it)
        log.info("campaign %s: contact %s is on the do-not-call list: not dialled", campaign.id, contact.id)
        return None
    if not await _take(session, contact_id, now, state="dialing", attempts=CampaignContact.attempts + 1):
        raise ContactTaken(contact_id)
    await session.refresh(contact)
    attempt = CampaignAttempt(campaign_id=campaign.id, contact_id=contact.id, attempt=contact.attempts,
                              linkedid=linkedid, number=contact.number, dialled_at=now)
    session.add(attempt)
    await session.flush()
    return attempt


async def _take(session: AsyncSession, contact_id: int, now: datetime, **values: Any) -> bool:
    """Compare-and-set: change the contact only if it is still pending and due. On SQLite the read
    before locks nothing: a Dial and a Skip of one contact at once (or two Dials) both found it
    pending, and both wrote it."""
    taken = await session.execute(
        update(CampaignContact)
        .where(CampaignContact.id == contact_id, CampaignContact.state == "pending",
               or_(CampaignContact.next_at.is_(None), CampaignContact.next_at <= now))
        .values(**values, updated_at=utcnow()).execution_options(synchronize_session=False))
    return taken.rowcount == 1  # type: ignore[attr-defined, no-any-return]


SKIP_REASONS = ("not_now", "wrong_number", "do_not_call")
SKIP_DELAY_S = 900.0  # a contact skipped "not now" comes back after the no-answer retry, else this


async def skip_contact(*, session: AsyncSession, campaign: Campaign, contact_id: int, reason: str, agent_id: str,
                       now: datetime) -> CampaignContact:
    """An agent passes on a previewed contact without dialling: no attempt is written. ContactTaken
    (409) when it is no longer pending and due (dialled or skipped first by another command)."""
    if reason not in SKIP_REASONS:
        raise InvalidField("reason", f"must be one of {', '.join(SKIP_REASONS)}")
    contact = await session.get(CampaignContact, contact_id)
    if contact is None or contact.campaign_id != campaign.id:
        raise InvalidField("contact_id", f"contact {contact_id} is not a contact of campaign {campaign.id}")
    if reason == "not_now":
        delay = campaign.retry.get("no_answer") or SKIP_DELAY_S
        values: dict[str, Any] = {"next_at": now + timedelta(seconds=float(delay))}
    else:
        values = {"state": "failed" if reason == "wrong_number" else "dnc"}
    if not await _take(session, contact_id, now, **values, last_outcome="skipped"):
        raise ContactTaken(contact_id)
    if reason == "do_not_call":
        await add_dnc(session=session, number=contact.number, campaign_id=campaign.id,
                      reason=f"asked by the customer (agent {agent_id})", region=campaign.region)
    await session.refresh(contact)
    log.info("campaign %s: contact %s skipped by agent %s (%s): %s", campaign.id, contact.id, agent_id, reason,
             contact.state)
    return contact


async def finish_attempt(*, session: AsyncSession, linkedid: str, outcome: str, now: datetime,
                         agent_id: str | None = None) -> CampaignAttempt | None:
    """Record the attempt's outcome and apply the campaign's retry rule to its contact."""
    attempt = await session.scalar(select(CampaignAttempt).where(CampaignAttempt.linkedid == linkedid))
    if attempt is None or attempt.outcome is not None:
        return attempt
    attempt.outcome, attempt.ended_at, attempt.agent_id = outcome, now, agent_id
    contact = await session.get(CampaignContact, attempt.contact_id)
    campaign = await session.get(Campaign, attempt.campaign_id)
    if contact is None or campaign is None:
        return attempt
    verdict, delay = after_attempt(outcome, attempts=contact.attempts, max_attempts=campaign.max_attempts,
                                   retry=campaign.retry, machine_action=campaign.machine_action)
    contact.last_outcome = outcome
    contact.state = "pending" if verdict == "retry" else verdict
    contact.next_at = now + timedelta(seconds=delay) if verdict == "retry" else None
    await session.flush()
    return attempt


async def withdraw_attempt(*, session: AsyncSession, linkedid: str) -> bool:
    """An attempt whose customer was never dialled (a preview Dial the agent's own phone did not
    take): it is no attempt. Its row goes, and its contact is pending and due again with its count
    as before (a contact whose agents missed three Dials was ``failed`` without a call)."""
    attempt = await session.scalar(select(CampaignAttempt).where(CampaignAttempt.linkedid == linkedid))
    if attempt is None or attempt.outcome is not None:
        return False
    await session.execute(
        update(CampaignContact).where(CampaignContact.id == attempt.contact_id, CampaignContact.state == "dialing")
        .values(state="pending", next_at=None, attempts=CampaignContact.attempts - 1, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    await session.delete(attempt)
    await session.flush()
    return True


async def relink_attempt(*, session: AsyncSession, linkedid: str, new_linkedid: str) -> None:
    """A preview attempt is claimed before its call exists: it takes the call's linkedid once dialled."""
    attempt = await session.scalar(select(CampaignAttempt).where(CampaignAttempt.linkedid == linkedid))
    if attempt is not None:
        attempt.linkedid = new_linkedid
        await session.flush()


async def release_dialing(*, session: AsyncSession, campaign_id: int, now: datetime) -> int:
    """Attempts left without a result (the engine stopped mid-call) end as ``failed`` and follow
    the retry rule: nothing stays ``dialing`` forever."""
    open_ = list(await session.scalars(select(CampaignAttempt.linkedid).where(
        CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.outcome.is_(None))))
    for linkedid in open_:
        await finish_attempt(session=session, linkedid=linkedid, outcome="failed", now=now)
    return len(open_)


@dataclass(frozen=True, slots=True)
class Progress:
    contacts: dict[str, int]  # state -> count
    outcomes: dict[str, int]  # attempt outcome -> count
    attempts: int
    humans_last_hour: int

    @property
    def total(self) -> int:
        return sum(self.contacts.values())

    @property
    def remaining(self) -> int:
        return self.contacts.get("pending", 0) + self.contacts.get("dialing", 0)


async def progress(*, session: AsyncSession, campaign_id: int, now: datetime) -> Progress:
    contacts: dict[str, int] = {state: n for state, n in (await session.execute(
        select(CampaignContact.state, func.count()).where(CampaignContact.campaign_id == campaign_id)
        .group_by(CampaignContact.state))).all()}
    outcomes_rows = (await session.execute(
        select(CampaignAttempt.outcome, func.count()).where(CampaignAttempt.campaign_id == campaign_id)
        .group_by(CampaignAttempt.outcome))).all()
    outcomes = {o or "in_progress": n for o, n in outcomes_rows}
    humans = await session.scalar(select(func.count()).select_from(CampaignAttempt).where(
        CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.outcome == "human",
        CampaignAttempt.ended_at >= now - timedelta(hours=1)))
    return Progress(contacts=contacts, outcomes=outcomes, attempts=sum(outcomes.values()),
                    humans_last_hour=int(humans or 0))

"""The screen pop: everything an agent sees as the phone rings, assembled for a call or customer.

The shape is the console's ``Pop`` (agent_console.views): customer card or unknown number,
last five interactions with outcomes and notes, open cases, what the caller did in the IVR,
the suggested script for the queue / intent, and matching knowledge articles.

During a database outage ``SqlPopSource`` still pops: the customer part of pops built in the last
hours is kept in a bounded LRU (``crm_core.recent``), by customer id and by caller number; a caller
found there gets that card (``source`` "cache"), anyone else the unknown-caller pop (``source``
"unavailable"), with what the call itself told (IVR path, queue, wait) in both. A customer's saved
change refreshes their kept cards (``SqlPopSource.customer_changed``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.cases import list_cases
from crm_core.catalog import search_articles, suggest_script
from crm_core.customers import customers_by_number
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.events import CustomerChanged
from crm_core.fold import Folded
from crm_core.interactions import interaction_by_linkedid
from crm_core.models import Case, Customer, CustomerPhone, Interaction, User, epoch
from crm_core.phones import known_e164
from crm_core.recent import RecentCache
from crm_core.recordings import Recording, handlers

log = logging.getLogger(__name__)
_CARD_PARTS = ("customer", "interactions", "open_cases", "script", "articles")

INTENT_WORDS = {"billing": "账单 bill invoice", "sales": "购买 price order", "support": "故障 fault support",
                "complaints": "投诉 complaint"}


class LiveCalls(Protocol):
    """Calls the logger holds in memory (not yet or only partly in the database)."""

    def live(self, linkedid: str) -> Folded | None: ...


def customer_card(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "company": c.company, "tier": c.tier, "lifecycle": c.lifecycle,
            "phone": c.phones[0].e164 if c.phones else None, "email": c.emails[0] if c.emails else None,
            "language": c.language, "tags": list(c.tags)}


def interaction_view(i: Interaction, names: dict[str, str] | None = None,
                     heard_by: dict[int, set[str]] | None = None) -> dict[str, Any]:
    """One history row. ``names``: agent id -> display name; ``heard_by``: for recorded calls, the
    agents who handled them. ``listeners`` (None: no recording) is for the access policy, which
    turns it into the viewer's ``recording`` flag (agent_console.policy.redact_history)."""
    listeners = (heard_by or {}).get(i.id)
    return {"id": i.id, "call_id": i.linkedid, "at": epoch(i.started_at), "channel": "phone",
            "direction": i.direction, "agent": i.agent_id,
            "agent_name": (names or {}).get(i.agent_id or "") or None, "disposition": i.disposition,
            "outcome": i.outcome, "notes": i.notes, "resolved": i.resolved_first_contact, "csat": i.csat,
            "customer_linked": i.customer_linked,
            "listeners": sorted(listeners) if listeners is not None else None}


async def customer_history(*, session: AsyncSession, customer_id: int, limit: int = 5,
                           leave_out: str | None = None) -> list[dict[str, Any]]:
    """The customer's latest ``limit`` contacts as ``interaction_view`` rows, each with its agent's
    name and, when recorded, who handled it: one query (names and "recorded" joined in), one more
    only when a row was recorded. ``leave_out``: a call's linkedid (the pop's own call)."""
    recorded = select(Recording.id).where(Recording.linkedid == Interaction.linkedid).exists()
    stmt = (select(Interaction, User.display_name, User.username, recorded)
            .outerjoin(User, User.agent_id == Interaction.agent_id)
            .where(Interaction.customer_id == customer_id)
            .order_by(Interaction.started_at.desc(), Interaction.id.desc()).limit(limit))
    if leave_out is not None:
        stmt = stmt.where(Interaction.linkedid != leave_out)
    rows = (await session.execute(stmt)).all()
    names = {i.agent_id: display or username for i, display, username, _ in rows if i.agent_id and username}
    heard_by = await handlers(session=session, calls=[i for i, _, _, was_recorded in rows if was_recorded])
    return [interaction_view(i, names, heard_by) for i, *_ in rows]


def case_view(c: Case) -> dict[str, Any]:
    return {"id": c.id, "subject": c.subject, "status": c.status, "priority": c.priority,
            "opened_at": epoch(c.created_at)}


async def screen_pop(*, session: AsyncSession, linkedid: str, caller_number: str = "",
                     customer_id: int | None = None, queue: str | None = None, intent: str | None = None,
                     language: str | None = None, waited_s: float = 0.0, skills: dict[str, int] | None = None,
                     live: Folded | None = None) -> dict[str, Any]:
    """The pop for call ``linkedid``; what the call already told (IVR, queue) comes from the live
    logger state or the stored interaction, the rest from the CRM."""
    return (await _built_pop(session=session, linkedid=linkedid, caller_number=caller_number,
                             customer_id=customer_id, queue=queue, intent=intent, language=language,
                             waited_s=waited_s, skills=skills, live=live)).pop


@dataclass(slots=True)
class _Built:
    """A pop and what ``SqlPopSource`` keeps of it: the script as written (the card's name and tier
    filled in again when the customer changes) and whether the caller's number is the customer's
    own and no one else's (only then may it find the card during an outage)."""

    pop: dict[str, Any]
    template: str | None = None
    number_is_theirs: bool = False


async def _built_pop(*, session: AsyncSession, linkedid: str, caller_number: str, customer_id: int | None,
                     queue: str | None, intent: str | None, language: str | None, waited_s: float,
                     skills: dict[str, int] | None, live: Folded | None) -> _Built:
    fields: dict[str, Any] = dict(live.fields) if live else {}
    stored = None if live else await interaction_by_linkedid(session=session, linkedid=linkedid)
    if stored is not None:
        fields = {"customer_id": stored.customer_id, "queue": stored.queue, "ivr_flow": stored.ivr_flow,
                  "ivr_path": stored.ivr_path, "caller_number": stored.caller_number, "language": stored.language}
    customer_id = customer_id or fields.get("customer_id")
    caller_number = caller_number or fields.get("caller_number") or ""
    queue = queue or fields.get("queue")
    customer: Customer | None = None
    by_number = False
    if customer_id:
        customer = await session.get(Customer, customer_id)
    elif caller_number:
        found = await customers_by_number(session=session, number=caller_number)
        customer = found[0] if len(found) == 1 else None
        by_number = customer is not None
    path = list(fields.get("ivr_path") or [])
    intent = intent or _intent(path)
    language = language or fields.get("language") or (customer.language if customer else None)
    pop: dict[str, Any] = {
        "call_id": linkedid, "caller_number": caller_number, "customer": None, "interactions": [],
        "open_cases": [], "ivr_flow": fields.get("ivr_flow"), "intent": intent, "waited_s": waited_s,
        "queue": queue, "skills": dict(skills or {}), "script": None, "articles": [], "complete": True,
        "ivr_path": [{"node": str(s.get("node", "")), "label": s.get("label"), "input": s.get("input"),
                      "choice": s.get("choice"), "at": s.get("at")} for s in path],
    }
    built = _Built(pop, number_is_theirs=by_number)
    if customer is not None:
        pop["customer"] = customer_card(customer)
        pop["interactions"] = await customer_history(session=session, customer_id=customer.id, leave_out=linkedid)
        cases, _ = await list_cases(session=session, customer_id=customer.id, open_only=True, limit=10)
        pop["open_cases"] = [case_view(c) for c in cases]
        if not by_number and caller_number:
            built.number_is_theirs = await _only_owner(session, caller_number, customer)
    script = await suggest_script(session=session, queue=queue, intent=intent, language=language)
    if script is not None:
        pop["script"] = {"title": script.title, "body": _fill(script.body, customer)}
        built.template = script.body
    words = " ".join(w for w in (intent, queue, INTENT_WORDS.get(intent or queue or "", "")) if w)
    if words:
        articles = await search_articles(session=session, q=words, language=None, limit=3)
        pop["articles"] = [{"id": a.id, "title": a.title, "summary": a.body[:160], "url": None} for a in articles]
    return built


async def _only_owner(session: AsyncSession, number: str, customer: Customer) -> bool:
    """Whether ``number`` is one of ``customer``'s phones and no other customer's (a caller the IVR
    identified by account + PIN may call from anyone's phone, or from a number two customers share)."""
    e164 = known_e164(number)
    if e164 is None or e164 not in {p.e164 for p in customer.phones}:
        return False
    owners = await session.scalar(select(func.count()).select_from(CustomerPhone).where(CustomerPhone.e164 == e164))
    return owners == 1


# Choices in an IVR path that say how a step ended, not what the caller wants.
_STEP_RESULTS = frozenset({"ok", "invalid", "timeout", "retries_exhausted", "exhausted", "max_steps", "found",
                           "not_found", "hangup", "error", "queue", "voicemail", "callback", "transfer"})


def _intent(path: list[dict[str, Any]]) -> str | None:
    """The caller's topic: the ``intent`` the IVR gave its hand-off, else (paths stored before the IVR
    recorded one) the last menu choice."""
    given = next((s["intent"] for s in reversed(path) if s.get("intent")), None)
    if given is not None:
        return str(given)
    return next((str(s["choice"]) for s in reversed(path)
                 if s.get("input") and s.get("choice") and s["choice"] not in _STEP_RESULTS), None)


def _fill(body: str, customer: Customer | None) -> str:
    name = customer.name if customer else ""
    return body.replace("{customer_name}", name or "").replace("{tier}", customer.tier if customer else "")


@dataclass(slots=True)
class _Card:
    """The customer part of a recent pop (``_CARD_PARTS``), and its script as written."""

    parts: dict[str, Any]
    template: str | None


class SqlPopSource:
    """The console's ``PopSource`` port on the CRM database (and the logger's live calls).

    The recent cards are kept by customer id and, when the caller's number is the customer's own
    and no one else's, by that number (E.164: "138..." and "+86138..." are one caller). A saved
    change to a customer (``customer_changed``, subscribed to ``CustomerChanged`` by the
    composition root) refreshes that customer's cards from the database (name, tags..., and the
    script's filled-in name and tier) and drops the numbers no longer theirs; when the database
    cannot be read then, it drops all of them: an outage pop is never the card from before an
    edit, nor a number's former owner.
    """

    def __init__(self, db: Database, live: LiveCalls | None = None, *, cache_size: int = 5000,
                 cache_ttl_s: float = 12 * 3600.0) -> None:
        self.db = db
        self.live = live
        self.cards: RecentCache[tuple[str, Any], _Card] = RecentCache(cache_size, cache_ttl_s)
        self.changes = 0  # customer changes seen: a pop read before one of them is not kept

    async def build_pop(self, linkedid: str, agent_id: str, offer_info: dict[str, Any]) -> dict[str, Any]:
        live = self.live.live(linkedid) if self.live else None
        changes = self.changes
        try:
            async with self.db.session() as session:
                built = await _built_pop(
                    session=session, linkedid=linkedid, caller_number=offer_info.get("caller_number") or "",
                    customer_id=offer_info.get("customer_id"), queue=offer_info.get("queue"), intent=None,
                    language=None, waited_s=float(offer_info.get("waited_s") or 0.0),
                    skills=offer_info.get("skills"), live=live)
        except DatabaseUnavailable as err:
            return self._degraded(linkedid, offer_info, live, err)
        pop = built.pop
        if pop["customer"] is not None and changes == self.changes:
            card = _Card({k: pop[k] for k in _CARD_PARTS}, built.template)
            self.cards.put(("id", pop["customer"]["id"]), card)
            if pop["caller_number"] and built.number_is_theirs:
                self.cards.put(("number", known_e164(pop["caller_number"])), card)
        return {**pop, "source": "crm"}

    async def customer_changed(self, ev: CustomerChanged) -> None:
        """A customer's saved change: their kept cards get the new card, their numbers no longer theirs go."""
        self.changes += 1
        held = [(key, card) for key, card in self.cards.items() if card.parts["customer"]["id"] == ev.customer_id]
        if not held:
            return
        customer: Customer | None = None
        try:
            async with self.db.session() as session:
                customer = await session.get(Customer, ev.customer_id)
        except DatabaseUnavailable:
            log.warning("customer %d changed: the CRM is unavailable, its recent pop cards are dropped",
                        ev.customer_id)
        owned = {p.e164 for p in customer.phones} if customer is not None else set()
        for key, card in held:
            if customer is None or (key[0] == "number" and key[1] not in owned):
                self.cards.drop(key)
                continue
            card.parts["customer"] = customer_card(customer)
            if card.template is not None and card.parts.get("script"):
                card.parts["script"] = {**card.parts["script"], "body": _fill(card.template, customer)}

    def _degraded(self, linkedid: str, info: dict[str, Any], live: Folded | None,
                  err: DatabaseUnavailable) -> dict[str, Any]:
        """The pop without the database: the recent card if this caller had one, else unknown."""
        fields: dict[str, Any] = dict(live.fields) if live else {}
        number = info.get("caller_number") or fields.get("caller_number") or ""
        customer_id = info.get("customer_id") or fields.get("customer_id")
        found, card = self.cards.get(("id", customer_id)) if customer_id else (False, None)
        if not found and number:
            found, card = self.cards.get(("number", known_e164(number) or number))
            if found and card is not None and customer_id and card.parts["customer"]["id"] != customer_id:
                found, card = False, None  # the IVR named someone else: not this number's last card
        path = list(fields.get("ivr_path") or [])
        pop: dict[str, Any] = {
            "call_id": linkedid, "caller_number": number, "customer": None, "interactions": [], "open_cases": [],
            "ivr_flow": fields.get("ivr_flow"), "intent": _intent(path), "waited_s": float(info.get("waited_s") or 0.0),
            "queue": info.get("queue") or fields.get("queue"), "skills": dict(info.get("skills") or {}),
            "script": None, "articles": [], "complete": True,
            "ivr_path": [{"node": str(s.get("node", "")), "label": s.get("label"), "input": s.get("input"),
                          "choice": s.get("choice"), "at": s.get("at")} for s in path],
            "source": "cache" if found else "unavailable",
        }
        if found and card is not None:
            pop.update(card.parts)
        log.warning("screen pop of call %s without the CRM (%s): %s", linkedid, err,
                    "recent card" if found else "unknown caller")
        return pop

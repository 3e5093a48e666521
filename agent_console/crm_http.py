"""REST API of the CRM (mounted in the console app): customers, interactions, cases and screen
pops; the catalogue (dispositions, scripts, knowledge articles) is ``agent_console.catalog_http``'s,
which shares this module's parameters. Thin: validate, call a service, serialise.

The app must hold the ``crm_core.db.Database`` on ``app.state.crm_db``. Who may do what is
``agent_console.policy`` (a dependency of this router): agents read customers and cases,
create customers (with phone numbers, without a PIN or tier), edit them (not their PIN,
phone numbers or tier), create and edit cases, and see only their own interactions and their own
calls' pops; staff see everything. Errors
are ``CrmError``s (code, message, field) and the policy's ``Forbidden``, turned into statuses by
the app's CtiError handler (``install_error_handler`` for an app of its own).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from agent_console import policy, queue_scope
from agent_console.errors import Forbidden
from agent_console.queue_filter import QUEUE_FILTER, QueueNames, check_queues, configured_queues
from agent_console.queue_scope import scope_of
from agent_console.security import Principal, current_principal
from crm_core import cases, customers, interactions
from crm_core.db import Database
from crm_core.errors import NotFound
from crm_core.events import CustomerChanged, CustomerLinked
from crm_core.schemas import (
    MAX_ID,
    CaseAssign,
    CaseEscalate,
    CaseIn,
    CaseOut,
    CasePatch,
    CaseStatus,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    InteractionOut,
    LinkCustomer,
    Outcome,
    Page,
    SegmentOut,
    Tier,
)
from crm_core.screenpop import screen_pop
from cti.errors import CtiError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/crm", tags=["crm"], dependencies=[Depends(policy.enforce)])
_staff = current_principal  # the roles are policy.enforce's: the name says what the table requires
Id = Annotated[int, Path(ge=1, le=MAX_ID)]  # a database id: SQLite and PostgreSQL ids are signed 64-bit


# FastAPI keeps per-parameter state in the Query object: each parameter needs its own.
def _offset() -> Any:
    return Query(0, ge=0, le=1_000_000)


def _limit() -> Any:
    return Query(50, ge=1, le=200)


def text_query() -> Any:
    return Query(None, min_length=1, max_length=100)


def queue_query() -> Any:
    return Query(None, min_length=1, max_length=100, description=QUEUE_FILTER)


def _id_query() -> Any:
    return Query(None, ge=1, le=MAX_ID)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# A time of a query without a UTC offset is UTC (docs/api.md): the same instant on every node and
# database, whatever the server's zone. Made so here, where the rule is promised, not left to the
# column type's reading of a naive value.
UtcTime = Annotated[datetime, AfterValidator(_utc)]


def _time_query(bound: str) -> Any:
    return Query(None, description=f"{bound}: an ISO 8601 date-time or date, or epoch seconds; give its UTC offset "
                                   "(2026-12-06T00:00:00+08:00, or Z): without a UTC offset it is read as UTC, not in "
                                   "the call center's time zone")


def _callback_query() -> Any:
    return Query(None, min_length=1, max_length=64, pattern=r"^[^\s\x00-\x1f\x7f]+$",
                 description="the calls of one virtual-hold callback (its id: a web request's web-..., or the "
                             "caller's first call's linkedid)")



def get_db(request: Request) -> Database:
    return request.app.state.crm_db  # type: ignore[no-any-return]


async def announce_customer(request: Request, customer_id: int, p: Principal, fields: Any) -> None:
    """Tell the console's bus that a customer changed or was created (committed): the consoles showing
    that customer's pop refresh its card (``AgentHub``), and the caller look-ups and pop cards of every
    node (the engine's bus: Redis with several nodes) forget what they knew of the customer and their
    numbers. An app without the console (a CRM-only server) has no one to tell."""
    console = getattr(request.app.state, "console", None)
    if console is not None:
        try:  # the change is committed: a bus away must not turn it into an error the client retries
            await console.bus.publish(CustomerChanged(ts=time.time(), customer_id=customer_id, actor=p.username,
                                                      fields=tuple(sorted(fields))))
        except CtiError as err:
            log.error("customer %d changed, but the bus did not take the news (%s): other nodes' caller "
                      "look-ups may keep their old answer for it until they restart", customer_id, err)


def install_error_handler(app: FastAPI) -> None:
    """For an app without the console's CtiError handler (tests, a CRM-only server): the CRM's
    errors and the policy's refusals (403 ``forbidden``)."""

    @app.exception_handler(CtiError)
    async def _crm_error(request: Request, err: CtiError) -> JSONResponse:
        body: dict[str, Any] = {"code": err.code, "message": err.message}
        if getattr(err, "field", None):
            body["field"] = err.field  # type: ignore[attr-defined]
        return JSONResponse({"detail": body}, status_code=err.http_status)


def _actor(p: Principal) -> str:
    return p.username


# -- customers ------------------------------------------------------------------------------

@router.get("/customers", response_model=Page[CustomerOut])
async def search_customers(q: str | None = text_query(), phone: str | None = text_query(),
                           name: str | None = text_query(),
                           account_number: str | None = Query(None, min_length=1, max_length=32),
                           tier: Tier | None = None, offset: int = _offset(), limit: int = _limit(),
                           db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        items, total = await customers.search_customers(session=s, q=q, phone=phone, name=name,
                                                        account_number=account_number, tier=tier,
                                                        offset=offset, limit=limit)
        return Page(items=[CustomerOut.of(c) for c in items], total=total, offset=offset, limit=limit)


@router.post("/customers", response_model=CustomerOut, status_code=201)
async def create_customer(request: Request, data: CustomerIn, db: Database = Depends(get_db),
                          p: Principal = Depends(current_principal)) -> Any:
    """A PIN or a tier other than ``standard``: supervisors and admins only (what a new customer
    grants, as on a change); a phone number already another customer's: 409 naming it. Once saved,
    every node's caller look-ups forget what they knew of its numbers (``CustomerChanged``)."""
    policy.check_identity_change(p, data.model_dump(exclude_defaults=True), creating=True)
    async with db.session() as s:
        made = CustomerOut.of(await customers.create_customer(session=s, data=data))
    await announce_customer(request, made.id, p, data.model_fields_set)
    return made


@router.get("/customers/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: Id, db: Database = Depends(get_db),
                       p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CustomerOut.of(await customers.get_customer(session=s, customer_id=customer_id))


@router.patch("/customers/{customer_id}", response_model=CustomerOut)
async def update_customer(request: Request, customer_id: Id, patch: CustomerPatch, db: Database = Depends(get_db),
                          p: Principal = Depends(current_principal)) -> Any:
    """PIN, account number, phone numbers and tier: supervisors and admins only, each change audited. Once saved,
    live calls' pops of this customer are refreshed (``CustomerChanged``)."""
    policy.check_identity_change(p, patch.model_fields_set)
    async with db.session() as s:
        saved = CustomerOut.of(await customers.update_customer(session=s, customer_id=customer_id, patch=patch,
                                                               actor=p.username, actor_role=p.role))
    await announce_customer(request, customer_id, p, patch.model_fields_set)
    return saved


# -- interactions ---------------------------------------------------------------------------

@router.get("/interactions", response_model=Page[InteractionOut])
async def list_interactions(customer_id: int | None = _id_query(), agent_id: str | None = text_query(),
                            queue: str | None = queue_query(), outcome: Outcome | None = None,
                            since: UtcTime | None = _time_query("started at or after"),
                            until: UtcTime | None = _time_query("started before"),
                            unknown: bool = False, linkedid: str | None = text_query(),
                            callback_id: str | None = _callback_query(),
                            offset: int = _offset(), limit: int = _limit(),
                            queues: QueueNames | None = Depends(configured_queues),
                            db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    check_queues(queues, [queue])
    if not policy.sees_all_calls(p):
        agent_id = p.agent_id or f"user:{p.user_id}"  # agents see their own calls only
    scope = await scope_of(db, p)  # a supervisor with queues: the calls of those (another's: 403)
    queue_scope.check_queue_scope(scope, [queue])
    async with db.session() as s:
        items, total = await interactions.list_interactions(
            session=s, customer_id=customer_id, agent_id=agent_id, queue=queue, outcome=outcome, since=since,
            until=until, unknown_only=unknown, linkedid=linkedid, callback_id=callback_id, offset=offset, limit=limit,
            queues=scope.queues if policy.sees_all_calls(p) else None)
        return Page(items=[policy.integration_view(p, InteractionOut.model_validate(i)) for i in items],
                    total=total, offset=offset, limit=limit)


async def _visible_interaction(s: Any, interaction_id: int, p: Principal, db: Database) -> Any:
    found = await interactions.get_interaction(session=s, interaction_id=interaction_id)
    if not policy.owns_call(p, found.agent_id):
        raise NotFound("interaction", interaction_id)  # not yours: as good as absent
    await _check_call_queue(db, p, found.queue, found.agent_id, f"interaction {interaction_id}")
    return found


async def _check_call_queue(db: Database, p: Principal, queue: str | None, agent_id: str | None, what: str) -> None:
    """A supervisor with queues sees the calls of those (and their own): else 403 naming the queue."""
    if p.role != "supervisor" or (p.agent_id is not None and agent_id == p.agent_id):
        return
    scope = await scope_of(db, p)
    if not scope.sees(queue):
        raise Forbidden(f"{what} was in queue {queue or '(none)'}, not one of your queues "
                        f"(you oversee {scope.describe()})")


@router.get("/interactions/{interaction_id}", response_model=InteractionOut)
async def get_interaction(interaction_id: Id, db: Database = Depends(get_db),
                          p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        found = await _visible_interaction(s, interaction_id, p, db)
        out = InteractionOut.model_validate(found)
        segs = await interactions.segments_of(session=s, interaction_id=interaction_id)
        out.segments = [SegmentOut.model_validate(x) for x in segs]
        return out


@router.put("/interactions/{interaction_id}/customer", response_model=InteractionOut)
async def link_customer(request: Request, interaction_id: Id, body: LinkCustomer, db: Database = Depends(get_db),
                        p: Principal = Depends(current_principal)) -> Any:
    """Once saved, the consoles showing the call get the linked customer's pop (``CustomerLinked``)."""
    async with db.session() as s:
        await _visible_interaction(s, interaction_id, p, db)
        found = await interactions.link_customer(session=s, interaction_id=interaction_id,
                                                 customer_id=body.customer_id)
        linked = InteractionOut.model_validate(found)
    await _announce_link(request, linked, p)
    return linked


async def _announce_link(request: Request, linked: InteractionOut, p: Principal) -> None:
    """Tell the console's bus that a call's interaction now names another customer (committed): the
    consoles showing that call's pop show the linked customer (``agent_console.pop_refresh``)."""
    console = getattr(request.app.state, "console", None)
    if console is None or linked.customer_id is None:
        return
    try:  # the link is committed: a bus away must not turn it into an error the client retries
        await console.bus.publish(CustomerLinked(ts=time.time(), linkedid=linked.linkedid, interaction_id=linked.id,
                                                 customer_id=linked.customer_id, actor=p.username))
    except CtiError as err:
        log.error("interaction %d linked to customer %d, but the bus did not take the news (%s): the "
                  "consoles showing call %s keep its former pop", linked.id, linked.customer_id, err, linked.linkedid)


# -- cases ----------------------------------------------------------------------------------

@router.get("/cases", response_model=Page[CaseOut])
async def list_cases(customer_id: int | None = _id_query(), owner_id: int | None = _id_query(),
                     status: CaseStatus | None = Query(None), open: bool = False,
                     offset: int = _offset(), limit: int = _limit(), db: Database = Depends(get_db),
                     p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        items, total = await cases.list_cases(session=s, customer_id=customer_id, owner_id=owner_id, status=status,
                                              open_only=open, offset=offset, limit=limit)
        return Page(items=[CaseOut.model_validate(c) for c in items], total=total, offset=offset, limit=limit)


@router.post("/cases", response_model=CaseOut, status_code=201)
async def create_case(data: CaseIn, db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.create_case(session=s, data=data, actor=_actor(p)))


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: Id, db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.get_case(session=s, case_id=case_id))


@router.patch("/cases/{case_id}", response_model=CaseOut)
async def update_case(case_id: Id, patch: CasePatch, db: Database = Depends(get_db),
                      p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.update_case(session=s, case_id=case_id, patch=patch,
                                                              actor=_actor(p)))


@router.post("/cases/{case_id}/assign", response_model=CaseOut)
async def assign_case(case_id: Id, body: CaseAssign, db: Database = Depends(get_db),
                      p: Principal = Depends(_staff)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.assign_case(session=s, case_id=case_id, owner_id=body.owner_id,
                                                              actor=_actor(p)))


@router.post("/cases/{case_id}/escalate", response_model=CaseOut)
async def escalate_case(case_id: Id, body: CaseEscalate, db: Database = Depends(get_db),
                        p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.escalate_case(session=s, case_id=case_id, reason=body.reason,
                                                                actor=_actor(p)))


# -- screen pop -----------------------------------------------------------------------------

def _live_agent_of(request: Request, linkedid: str) -> str | None:
    """The agent the console hub last offered or connected this call to (None when unknown)."""
    console = getattr(request.app.state, "console", None)
    for agent_id, snap in (getattr(console.hub, "snaps", {}) if console is not None else {}).items():
        if linkedid in snap.calls or (snap.offer is not None and snap.offer.call_id == linkedid):
            return str(agent_id)
    return None


def _live_queue_of(request: Request, linkedid: str) -> str | None:
    """The queue of a call the ACD holds now (None when it holds none, or no queue had it)."""
    supervisor = getattr(request.app.state, "supervisor", None)
    return supervisor.acd.queue_of(linkedid) if supervisor is not None else None


def _logged_live(request: Request, linkedid: str) -> bool:
    """Whether the call logger holds this call in memory (live, not yet or only partly stored)."""
    console = getattr(request.app.state, "console", None)
    live = getattr(getattr(getattr(console, "hub", None), "pops", None), "live", None)
    return live is not None and live.live(linkedid) is not None


@router.get("/screenpop/{linkedid}")
async def get_screen_pop(request: Request, linkedid: str = Path(min_length=1, max_length=64),
                         customer_id: int | None = _id_query(),
                         db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    """The pop of a call: staff any call's (a supervisor with queues: of those, 403 naming the
    queue otherwise); an agent only a call offered to or handled by them. No such call (stored,
    or live in the console, the ACD or the call logger): 404 for everyone."""
    async with db.session() as s:
        stored = await interactions.interaction_by_linkedid(session=s, linkedid=linkedid)
        owner = stored.agent_id if stored is not None and stored.agent_id else _live_agent_of(request, linkedid)
        live_queue = _live_queue_of(request, linkedid)
        if stored is None and owner is None and live_queue is None and not _logged_live(request, linkedid):
            raise NotFound("call", linkedid)
        if not policy.sees_all_calls(p):
            if not policy.owns_call(p, owner):
                raise NotFound("call", linkedid)  # not yours: as good as absent
        elif p.role == "supervisor":
            queue = stored.queue if stored is not None and stored.queue else live_queue
            try:
                await _check_call_queue(db, p, queue, owner, f"call {linkedid}")
            except Forbidden:
                if queue is None:  # a call of no queue, not theirs: as an unknown one (no more said than before)
                    raise NotFound("call", linkedid) from None
                raise
        pop = await screen_pop(session=s, linkedid=linkedid, customer_id=customer_id)
        pop["interactions"] = policy.redact_history(p, pop.get("interactions") or [])
        return pop

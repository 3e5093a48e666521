"""REST API of outbound campaigns (supervisors and admins): create, upload contacts (JSON or CSV),
the do-not-call list, start / pause / resume / stop, and the progress with the dialer's live
figures. Thin: validate, call ``crm_core.campaigns`` or the dialer, serialise. The app holds the
database on ``app.state.crm_db``, the running ``CampaignDialer`` on ``app.state.dialer`` (absent:
commands change the state only, the page shows no live figures) and the ``CampaignPreview`` on
``app.state.campaign_preview`` (agents' preview routes).

A supervisor assigned queues (``queue_scope.QueueScope``) lists, reads, creates, fills and steers only
the campaigns of their queues: another team's is a 403 naming its queue (docs/security.md). The
global do-not-call list stays open to every supervisor: it only ever stops calls.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from acd.errors import UnknownQueue
from acd.pacing import DialMode
from agent_console import policy, queue_scope
from agent_console.errors import Forbidden
from agent_console.preview import acd_refusal
from agent_console.queue_scope import scope_of
from agent_console.security import Principal, current_principal
from crm_core import campaigns
from crm_core.campaign_models import Campaign
from crm_core.campaign_rules import MAX_CONTACTS_PER_UPLOAD, CampaignIn, csv_text, parse_csv
from crm_core.db import Database
from crm_core.errors import InvalidField
from crm_core.schemas import MAX_ID

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], dependencies=[Depends(policy.enforce)])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
UPLOAD_BYTES = 8 * 1024 * 1024  # a CSV of 50,000 contacts with a few columns


class ContactIn(BaseModel):
    number: str = Field(max_length=40)
    name: str = ""
    timezone: str | None = None
    customer_id: int | None = Field(None, ge=1, le=MAX_ID)
    data: dict[str, str] = {}


class ContactsIn(BaseModel):
    contacts: list[ContactIn] = Field(min_length=1, max_length=MAX_CONTACTS_PER_UPLOAD)


class DncIn(BaseModel):
    number: str = Field(max_length=40)
    reason: str = Field("", max_length=200)


def _db(request: Request) -> Database:
    return request.app.state.crm_db  # type: ignore[no-any-return]


def _view(c: Campaign) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "queue": c.queue, "skills": c.skills, "mode": c.mode, "state": c.state,
            "caller_id": c.caller_id, "script": c.script, "timezone": c.timezone, "region": c.region,
            "windows": c.windows, "retry": c.retry, "max_attempts": c.max_attempts,
            "machine_action": c.machine_action, "machine_message": c.machine_message,
            "drop_message": c.drop_message, "drop_cap": c.drop_cap, "max_lines_per_agent": c.max_lines_per_agent}


async def _scope(request: Request, who: Principal) -> queue_scope.QueueScope:
    return await scope_of(_db(request), who)


def _check(scope: queue_scope.QueueScope, c: Campaign) -> None:
    """Forbidden, naming the campaign's queue, unless ``scope`` oversees it."""
    if not scope.sees(c.queue):
        raise Forbidden(f"campaign {c.id} is of queue {c.queue!r}, not one of your queues "
                        f"(you oversee {scope.describe()})")


def _rejected(err: campaigns.ContactsRejected) -> JSONResponse:
    return JSONResponse({"detail": {"code": err.code, "message": err.message, "field": err.field,
                                    "errors": [e.as_dict() for e in err.errors[:1000]]}}, status_code=422)


@router.post("", status_code=201)
async def create(request: Request, spec: CampaignIn, who: Principal = Depends(current_principal)) -> dict[str, Any]:
    """A draft campaign; its caller ID must be one of the trunks' ``caller_ids`` (422 naming
    ``caller_id`` otherwise; with no engine's trunks at hand, no caller ID is accepted); of one of
    a supervisor's queues."""
    dialer = getattr(request.app.state, "dialer", None)
    if dialer is not None:
        try:
            dialer.acd.first_need(spec.queue, spec.skills)
        except UnknownQueue:  # a typo: the campaign would run and never dial
            raise InvalidField("queue", f"no queue {spec.queue!r} in config/queues.yaml") from None
    queue_scope.check_queue_scope(await _scope(request, who), [spec.queue])
    async with _db(request).session() as s:
        return _view(await campaigns.create_campaign(session=s, spec=spec,
                                                     trunks=dialer.routing if dialer is not None else None))


@router.get("/options")
async def options(request: Request, who: Principal = Depends(current_principal)) -> dict[str, Any]:
    """What the console's create form offers: the queues (a supervisor's own), the modes and the
    caller IDs allowed."""
    dialer = getattr(request.app.state, "dialer", None)
    scope = await _scope(request, who)
    queues = sorted(q for q in dialer.acd.queue_names() if scope.sees(q)) if dialer is not None else []
    return {"queues": queues,
            "modes": [m.value for m in DialMode],
            "caller_ids": list(dialer.routing.caller_ids()) if dialer is not None else []}


@router.get("")
async def list_all(request: Request, who: Principal = Depends(current_principal)) -> list[dict[str, Any]]:
    """Every campaign; a supervisor's: those of their queues."""
    scope = await _scope(request, who)
    async with _db(request).session() as s:
        return [_view(c) for c in await campaigns.list_campaigns(session=s) if scope.sees(c.queue)]


@router.get("/{campaign_id}")
async def progress(request: Request, campaign_id: Id, who: Principal = Depends(current_principal)) -> dict[str, Any]:
    """The campaign, its contacts by state, attempts by outcome, and the dialer's live figures."""
    now = datetime.now(UTC)
    scope = await _scope(request, who)
    async with _db(request).session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
        _check(scope, c)
        prog = await campaigns.progress(session=s, campaign_id=campaign_id, now=now)
        view = _view(c)
    dialer = getattr(request.app.state, "dialer", None)
    return {**view, "contacts": prog.contacts, "outcomes": prog.outcomes, "attempts": prog.attempts,
            "total": prog.total, "remaining": prog.remaining, "contacts_last_hour": prog.humans_last_hour,
            "live": dialer.view(campaign_id) if dialer is not None else None}


async def _add(request: Request, campaign_id: int, rows: list[tuple[int, dict[str, Any]]], who: Principal) -> Any:
    scope = await _scope(request, who)
    try:
        async with _db(request).session() as s:
            c = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
            _check(scope, c)
            return await campaigns.add_contacts(session=s, campaign=c, rows=rows)
    except campaigns.ContactsRejected as err:
        return _rejected(err)


@router.post("/{campaign_id}/contacts", status_code=201)
async def add_contacts(request: Request, campaign_id: Id, body: ContactsIn,
                       who: Principal = Depends(current_principal)) -> Any:
    """Contacts as JSON; rows are numbered from 1 in the order given."""
    rows = [(i, {"number": c.number, "name": c.name, "timezone": c.timezone or "",
                 "customer_id": str(c.customer_id or ""), **c.data}) for i, c in enumerate(body.contacts, start=1)]
    return await _add(request, campaign_id, rows, who)


CSV_COLUMNS = (
    f"A CSV file in UTF-8 (a byte-order mark is allowed), at most {MAX_CONTACTS_PER_UPLOAD:,} contacts and "
    f"{UPLOAD_BYTES // 2**20} MiB. The first line "
    "names the columns, each once: `number` (required: the phone number, E.164 or national in the "
    "campaign's region; normalised to E.164), `name` (the contact's name), `timezone` (IANA, e.g. "
    "Asia/Shanghai; empty: the number's zone when it has exactly one, else the campaign's), `customer_id` "
    "(a CRM customer's id); any other column travels to the agent's screen as the contact's data. Empty "
    "lines are skipped; lines may end in LF, CRLF or CR. A bad row refuses the whole upload: one 422 "
    "listing every bad row and field, `row` being the file's line (the header is line 1).")
CSV_EXAMPLE = ("number,name,timezone,customer_id,plan\n"
               "+8613912345678,Zhang Wei,Asia/Shanghai,42,gold\n"
               "13800138000,Li Na,,,silver\n")


@router.post("/{campaign_id}/contacts.csv", status_code=201, max_body_size=UPLOAD_BYTES,
             openapi_extra={"requestBody": {"description": CSV_COLUMNS,
                                            "content": {"text/csv": {"example": CSV_EXAMPLE}}}})
async def upload_csv(request: Request, campaign_id: Id,
                     raw: Annotated[bytes, Body(media_type="text/csv")] = b"",
                     who: Principal = Depends(current_principal)) -> Any:
    """A CSV file in UTF-8 (header line with a ``number`` column); rows are the file's line numbers."""
    try:
        rows = parse_csv(csv_text(raw))
    except ValueError as err:
        raise InvalidField("contacts", str(err)) from None
    if not rows:
        raise InvalidField("contacts", "the file holds no contact")
    return await _add(request, campaign_id, rows, who)


@router.post("/{campaign_id}/dnc", status_code=201)
async def add_dnc(request: Request, campaign_id: Id, body: DncIn,
                  who: Principal = Depends(current_principal)) -> dict[str, Any]:
    """A number this campaign never dials."""
    scope = await _scope(request, who)
    async with _db(request).session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
        _check(scope, c)
        row = await campaigns.add_dnc(session=s, number=body.number, campaign_id=c.id, reason=body.reason,
                                      region=c.region)
        return {"number": row.number, "campaign_id": row.campaign_id}


@router.post("/dnc", status_code=201)
async def add_global_dnc(request: Request, body: DncIn) -> dict[str, Any]:
    """A number no campaign dials (national numbers are read in the first campaign's region, else CN)."""
    async with _db(request).session() as s:
        first = await campaigns.list_campaigns(session=s)
        row = await campaigns.add_dnc(session=s, number=body.number, campaign_id=None, reason=body.reason,
                                      region=first[0].region if first else "CN")
        return {"number": row.number, "campaign_id": None}


def _agent(who: Principal) -> str:
    if not who.agent_id:
        raise InvalidField("agent_id", "only a user who takes calls works a preview campaign")
    return who.agent_id


@router.post("/{campaign_id}/preview")
async def preview_next(request: Request, campaign_id: Id, who: Principal = Depends(current_principal)) -> Any:
    """Preview: the next due contact, reserved for me two minutes (``{"contact": null}`` when none is due);
    403 for a campaign of a queue I am not logged in to, or needing skills I lack."""
    preview, agent = request.app.state.campaign_preview, _agent(who)
    if not preview.works(campaign_id, agent):
        raise Forbidden(f"campaign {campaign_id} is not for you (log in to its queue; it may need skills you lack)")
    return {"contact": await preview.next_contact(campaign_id, agent)}


@router.post("/{campaign_id}/preview/{contact_id}/dial")
async def preview_dial(request: Request, campaign_id: Id, contact_id: Id,
                       who: Principal = Depends(current_principal)) -> dict[str, str]:
    """Preview: dial the contact reserved for me (my phone rings, then the customer's)."""
    return {"call_id": await acd_refusal(request.app.state.campaign_preview.dial(campaign_id, contact_id, _agent(who)))}


Command = Literal["start", "pause", "resume", "stop"]


@router.post("/{campaign_id}/{command}")
async def command(request: Request, campaign_id: Id, command: Command,
                  who: Principal = Depends(current_principal)) -> dict[str, Any]:
    """start / pause / resume / stop (409 ``illegal_campaign_step`` when the state does not allow it)."""
    scope = await _scope(request, who)
    if not scope.everything:
        async with _db(request).session() as s:
            _check(scope, await campaigns.get_campaign(session=s, campaign_id=campaign_id))
    dialer = getattr(request.app.state, "dialer", None)
    if dialer is not None:
        c = await dialer.command(campaign_id, command, who.username)
        return {"id": c.id, "state": c.state}
    async with _db(request).session() as s:
        c = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
        await campaigns.change_state(session=s, campaign=c, event=command, actor=who.username)
        return {"id": c.id, "state": c.state}

"""REST API of the CRM (mounted in the console app): customers, interactions, cases, dispositions,
scripts, knowledge articles and screen pops. Thin: validate, call a service, serialise.

The app must hold the ``crm_core.db.Database`` on ``app.state.crm_db``. Roles: agents read
customers, cases, scripts and articles, create and edit customers and cases, and see only their
own interactions; supervisors and admins see everything; only admins manage dispositions,
scripts and articles. Errors are ``CrmError``s (code, message, field) turned into statuses by the
app's CtiError handler (``install_error_handler`` for an app of its own).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from agent_console.security import Principal, current_principal, require_roles
from crm_core import cases, catalog, customers, interactions
from crm_core.db import Database
from crm_core.errors import CrmError, NotFound
from crm_core.schemas import (
    ArticleIn,
    ArticleOut,
    CaseAssign,
    CaseEscalate,
    CaseIn,
    CaseOut,
    CasePatch,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    DispositionIn,
    DispositionOut,
    InteractionOut,
    LinkCustomer,
    Outcome,
    Page,
    ScriptIn,
    ScriptOut,
    SegmentOut,
    Tier,
)
from crm_core.screenpop import screen_pop

router = APIRouter(prefix="/api/crm", tags=["crm"])
_admin = require_roles("admin")
_staff = require_roles("supervisor", "admin")


# FastAPI keeps per-parameter state in the Query object: each parameter needs its own.
def _offset() -> Any:
    return Query(0, ge=0, le=1_000_000)


def _limit() -> Any:
    return Query(50, ge=1, le=200)


def _text() -> Any:
    return Query(None, min_length=1, max_length=100)



def get_db(request: Request) -> Database:
    return request.app.state.crm_db  # type: ignore[no-any-return]


def install_error_handler(app: FastAPI) -> None:
    """For an app without the console's CtiError handler (tests, a CRM-only server)."""

    @app.exception_handler(CrmError)
    async def _crm_error(request: Request, err: CrmError) -> JSONResponse:
        body: dict[str, Any] = {"code": err.code, "message": err.message}
        if getattr(err, "field", None):
            body["field"] = err.field  # type: ignore[attr-defined]
        return JSONResponse({"detail": body}, status_code=err.http_status)


def _actor(p: Principal) -> str:
    return p.username


# -- customers ------------------------------------------------------------------------------

@router.get("/customers", response_model=Page[CustomerOut])
async def search_customers(q: str | None = _text(), phone: str | None = _text(), name: str | None = _text(),
                           account_number: str | None = Query(None, min_length=1, max_length=32),
                           tier: Tier | None = None, offset: int = _offset(), limit: int = _limit(),
                           db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        items, total = await customers.search_customers(session=s, q=q, phone=phone, name=name,
                                                        account_number=account_number, tier=tier,
                                                        offset=offset, limit=limit)
        return Page(items=[CustomerOut.of(c) for c in items], total=total, offset=offset, limit=limit)


@router.post("/customers", response_model=CustomerOut, status_code=201)
async def create_customer(data: CustomerIn, db: Database = Depends(get_db),
                          p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CustomerOut.of(await customers.create_customer(session=s, data=data))


@router.get("/customers/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: int, db: Database = Depends(get_db),
                       p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CustomerOut.of(await customers.get_customer(session=s, customer_id=customer_id))


@router.patch("/customers/{customer_id}", response_model=CustomerOut)
async def update_customer(customer_id: int, patch: CustomerPatch, db: Database = Depends(get_db),
                          p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CustomerOut.of(await customers.update_customer(session=s, customer_id=customer_id, patch=patch))


# -- interactions ---------------------------------------------------------------------------

@router.get("/interactions", response_model=Page[InteractionOut])
async def list_interactions(customer_id: int | None = Query(None, ge=1), agent_id: str | None = _text(),
                            queue: str | None = _text(), outcome: Outcome | None = None,
                            since: datetime | None = None, until: datetime | None = None,
                            unknown: bool = False, offset: int = _offset(), limit: int = _limit(),
                            db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    if p.role == "agent":
        agent_id = p.agent_id or f"user:{p.user_id}"  # agents see their own calls only
    async with db.session() as s:
        items, total = await interactions.list_interactions(
            session=s, customer_id=customer_id, agent_id=agent_id, queue=queue, outcome=outcome, since=since,
            until=until, unknown_only=unknown, offset=offset, limit=limit)
        return Page(items=[InteractionOut.model_validate(i) for i in items], total=total, offset=offset,
                    limit=limit)


async def _visible_interaction(s: Any, interaction_id: int, p: Principal) -> Any:
    found = await interactions.get_interaction(session=s, interaction_id=interaction_id)
    if p.role == "agent" and found.agent_id != p.agent_id:
        raise NotFound("interaction", interaction_id)  # not yours: as good as absent
    return found


@router.get("/interactions/{interaction_id}", response_model=InteractionOut)
async def get_interaction(interaction_id: int, db: Database = Depends(get_db),
                          p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        found = await _visible_interaction(s, interaction_id, p)
        out = InteractionOut.model_validate(found)
        segs = await interactions.segments_of(session=s, interaction_id=interaction_id)
        out.segments = [SegmentOut.model_validate(x) for x in segs]
        return out


@router.put("/interactions/{interaction_id}/customer", response_model=InteractionOut)
async def link_customer(interaction_id: int, body: LinkCustomer, db: Database = Depends(get_db),
                        p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        await _visible_interaction(s, interaction_id, p)
        found = await interactions.link_customer(session=s, interaction_id=interaction_id,
                                                 customer_id=body.customer_id)
        return InteractionOut.model_validate(found)


# -- cases ----------------------------------------------------------------------------------

@router.get("/cases", response_model=Page[CaseOut])
async def list_cases(customer_id: int | None = Query(None, ge=1), owner_id: int | None = Query(None, ge=1),
                     status: str | None = Query(None, pattern=r"^[a-z_]{1,16}$"), open: bool = False,
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
async def get_case(case_id: int, db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.get_case(session=s, case_id=case_id))


@router.patch("/cases/{case_id}", response_model=CaseOut)
async def update_case(case_id: int, patch: CasePatch, db: Database = Depends(get_db),
                      p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.update_case(session=s, case_id=case_id, patch=patch,
                                                              actor=_actor(p)))


@router.post("/cases/{case_id}/assign", response_model=CaseOut)
async def assign_case(case_id: int, body: CaseAssign, db: Database = Depends(get_db),
                      p: Principal = Depends(_staff)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.assign_case(session=s, case_id=case_id, owner_id=body.owner_id,
                                                              actor=_actor(p)))


@router.post("/cases/{case_id}/escalate", response_model=CaseOut)
async def escalate_case(case_id: int, body: CaseEscalate, db: Database = Depends(get_db),
                        p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return CaseOut.model_validate(await cases.escalate_case(session=s, case_id=case_id, reason=body.reason,
                                                                actor=_actor(p)))


# -- dispositions ---------------------------------------------------------------------------

@router.get("/dispositions", response_model=list[DispositionOut])
async def list_dispositions(all: bool = False, db: Database = Depends(get_db),
                            p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return [DispositionOut.model_validate(d) for d in
                await catalog.list_dispositions(session=s, active_only=not all)]


@router.post("/dispositions", response_model=DispositionOut, status_code=201)
async def create_disposition(data: DispositionIn, db: Database = Depends(get_db),
                             p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return DispositionOut.model_validate(await catalog.create_disposition(session=s, data=data))


@router.put("/dispositions/{disposition_id}", response_model=DispositionOut)
async def update_disposition(disposition_id: int, data: DispositionIn, db: Database = Depends(get_db),
                             p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return DispositionOut.model_validate(
            await catalog.update_disposition(session=s, disposition_id=disposition_id, data=data))


@router.delete("/dispositions/{disposition_id}", status_code=204)
async def delete_disposition(disposition_id: int, db: Database = Depends(get_db),
                             p: Principal = Depends(_admin)) -> Response:
    async with db.session() as s:
        await catalog.delete_disposition(session=s, disposition_id=disposition_id)
    return Response(status_code=204)


# -- scripts --------------------------------------------------------------------------------

@router.get("/scripts", response_model=list[ScriptOut])
async def list_scripts(queue: str | None = _text(), db: Database = Depends(get_db),
                       p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return [ScriptOut.model_validate(x) for x in await catalog.list_scripts(session=s, queue=queue)]


@router.get("/scripts/suggest", response_model=ScriptOut | None)
async def suggest_script(queue: str | None = _text(), intent: str | None = _text(),
                         language: str | None = Query(None, max_length=8), db: Database = Depends(get_db),
                         p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        found = await catalog.suggest_script(session=s, queue=queue, intent=intent, language=language)
        return ScriptOut.model_validate(found) if found else None


@router.get("/scripts/{script_id}", response_model=ScriptOut)
async def get_script(script_id: int, db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return ScriptOut.model_validate(await catalog.get_script(session=s, script_id=script_id))


@router.post("/scripts", response_model=ScriptOut, status_code=201)
async def create_script(data: ScriptIn, db: Database = Depends(get_db), p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return ScriptOut.model_validate(await catalog.save_script(session=s, data=data))


@router.put("/scripts/{script_id}", response_model=ScriptOut)
async def update_script(script_id: int, data: ScriptIn, db: Database = Depends(get_db),
                        p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return ScriptOut.model_validate(await catalog.save_script(session=s, data=data, script_id=script_id))


@router.delete("/scripts/{script_id}", status_code=204)
async def delete_script(script_id: int, db: Database = Depends(get_db), p: Principal = Depends(_admin)) -> Response:
    async with db.session() as s:
        await catalog.delete_script(session=s, script_id=script_id)
    return Response(status_code=204)


# -- knowledge articles ---------------------------------------------------------------------

@router.get("/articles", response_model=list[ArticleOut])
async def search_articles(q: str = Query(..., min_length=1, max_length=200), language: str | None = Query(
                          None, max_length=8), limit: int = Query(10, ge=1, le=50), db: Database = Depends(get_db),
                          p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        found = await catalog.search_articles(session=s, q=q, language=language, limit=limit)
        return [ArticleOut.model_validate(a) for a in found]


@router.get("/articles/{article_id}", response_model=ArticleOut)
async def get_article(article_id: int, db: Database = Depends(get_db),
                      p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return ArticleOut.model_validate(await catalog.get_article(session=s, article_id=article_id))


@router.post("/articles", response_model=ArticleOut, status_code=201)
async def create_article(data: ArticleIn, db: Database = Depends(get_db), p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return ArticleOut.model_validate(await catalog.save_article(session=s, data=data))


@router.put("/articles/{article_id}", response_model=ArticleOut)
async def update_article(article_id: int, data: ArticleIn, db: Database = Depends(get_db),
                         p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return ArticleOut.model_validate(await catalog.save_article(session=s, data=data, article_id=article_id))


@router.delete("/articles/{article_id}", status_code=204)
async def delete_article(article_id: int, db: Database = Depends(get_db), p: Principal = Depends(_admin)) -> Response:
    async with db.session() as s:
        await catalog.delete_article(session=s, article_id=article_id)
    return Response(status_code=204)


# -- screen pop -----------------------------------------------------------------------------

@router.get("/screenpop/{linkedid}")
async def get_screen_pop(linkedid: str, customer_id: int | None = Query(None, ge=1),
                         db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return await screen_pop(session=s, linkedid=linkedid[:64], customer_id=customer_id)

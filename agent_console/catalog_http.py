"""REST API of the CRM's catalogue (mounted in the console app beside ``agent_console.crm_http``):
disposition codes, call scripts and knowledge articles. Thin: validate, call ``crm_core.catalog``,
serialise. Everyone signed in reads them; only admins manage them (``agent_console.policy``, a
dependency of this router). Errors are ``crm_http``'s: ``CrmError``s and the policy's ``Forbidden``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from agent_console import policy
from agent_console.crm_http import Id, get_db, queue_query, text_query
from agent_console.queue_filter import QueueNames, check_queues, configured_queues
from agent_console.security import Principal, current_principal
from crm_core import catalog
from crm_core.db import Database
from crm_core.schemas import ArticleIn, ArticleOut, DispositionIn, DispositionOut, ScriptIn, ScriptOut

router = APIRouter(prefix="/api/crm", tags=["crm"], dependencies=[Depends(policy.enforce)])
_admin = current_principal  # the roles are policy.enforce's: these names say what the table requires
BIG_BODY = 1024 * 1024  # scripts and knowledge articles are long texts


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
async def update_disposition(disposition_id: Id, data: DispositionIn, db: Database = Depends(get_db),
                             p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return DispositionOut.model_validate(
            await catalog.update_disposition(session=s, disposition_id=disposition_id, data=data))


@router.delete("/dispositions/{disposition_id}", status_code=204)
async def delete_disposition(disposition_id: Id, db: Database = Depends(get_db),
                             p: Principal = Depends(_admin)) -> Response:
    async with db.session() as s:
        await catalog.delete_disposition(session=s, disposition_id=disposition_id)
    return Response(status_code=204)


# -- scripts --------------------------------------------------------------------------------

@router.get("/scripts", response_model=list[ScriptOut])
async def list_scripts(queue: str | None = queue_query(), db: Database = Depends(get_db),
                       queues: QueueNames | None = Depends(configured_queues),
                       p: Principal = Depends(current_principal)) -> Any:
    check_queues(queues, [queue])
    async with db.session() as s:
        return [ScriptOut.model_validate(x) for x in await catalog.list_scripts(session=s, queue=queue)]


@router.get("/scripts/suggest", response_model=ScriptOut | None)
async def suggest_script(queue: str | None = queue_query(), intent: str | None = text_query(),
                         language: str | None = Query(None, max_length=8), db: Database = Depends(get_db),
                         queues: QueueNames | None = Depends(configured_queues),
                         p: Principal = Depends(current_principal)) -> Any:
    check_queues(queues, [queue])
    async with db.session() as s:
        found = await catalog.suggest_script(session=s, queue=queue, intent=intent, language=language)
        return ScriptOut.model_validate(found) if found else None


@router.get("/scripts/{script_id}", response_model=ScriptOut)
async def get_script(script_id: Id, db: Database = Depends(get_db), p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return ScriptOut.model_validate(await catalog.get_script(session=s, script_id=script_id))


@router.post("/scripts", response_model=ScriptOut, status_code=201, max_body_size=BIG_BODY)
async def create_script(data: ScriptIn, db: Database = Depends(get_db), p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return ScriptOut.model_validate(await catalog.save_script(session=s, data=data))


@router.put("/scripts/{script_id}", response_model=ScriptOut, max_body_size=BIG_BODY)
async def update_script(script_id: Id, data: ScriptIn, db: Database = Depends(get_db),
                        p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return ScriptOut.model_validate(await catalog.save_script(session=s, data=data, script_id=script_id))


@router.delete("/scripts/{script_id}", status_code=204)
async def delete_script(script_id: Id, db: Database = Depends(get_db), p: Principal = Depends(_admin)) -> Response:
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
async def get_article(article_id: Id, db: Database = Depends(get_db),
                      p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        return ArticleOut.model_validate(await catalog.get_article(session=s, article_id=article_id))


@router.post("/articles", response_model=ArticleOut, status_code=201, max_body_size=BIG_BODY)
async def create_article(data: ArticleIn, db: Database = Depends(get_db), p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return ArticleOut.model_validate(await catalog.save_article(session=s, data=data))


@router.put("/articles/{article_id}", response_model=ArticleOut, max_body_size=BIG_BODY)
async def update_article(article_id: Id, data: ArticleIn, db: Database = Depends(get_db),
                         p: Principal = Depends(_admin)) -> Any:
    async with db.session() as s:
        return ArticleOut.model_validate(await catalog.save_article(session=s, data=data, article_id=article_id))


@router.delete("/articles/{article_id}", status_code=204)
async def delete_article(article_id: Id, db: Database = Depends(get_db), p: Principal = Depends(_admin)) -> Response:
    async with db.session() as s:
        await catalog.delete_article(session=s, article_id=article_id)
    return Response(status_code=204)



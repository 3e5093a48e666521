"""REST of the agent's preview panel (``agent_console.preview``): the next customer to call, from
due callbacks or preview campaigns, then Dial or Skip with a reason. Thin: who acts, validate, call
the ``PreviewDesk``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from agent_console import policy
from agent_console.preview import PreviewDesk, PreviewItem, SkipReason, SourceName
from agent_console.security import Principal, current_principal
from agent_console.service import agent_of
from crm_core.schemas import MAX_ID

ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]


class PreviewNext(BaseModel):
    item: PreviewItem | None


class PreviewDialed(BaseModel):
    call_id: str


class SkipIn(BaseModel):
    reason: SkipReason


class Skipped(BaseModel):
    skipped: bool = True


def build_preview_router(panel: PreviewDesk) -> APIRouter:
    r = APIRouter(prefix="/api/preview", tags=["preview"], dependencies=[Depends(policy.enforce)])

    @r.post("/next", response_model=PreviewNext)
    async def next_item(who: Principal = Depends(current_principal)) -> PreviewNext:
        """The next customer for me to call (a due callback first, then a preview campaign's
        contact), held for me: claimed, or reserved two minutes. ``{"item": null}``: nothing due."""
        return PreviewNext(item=await panel.next(agent_of(who)))

    @r.post("/{source}/{item_id}/dial", response_model=PreviewDialed)
    async def dial(source: SourceName, item_id: ItemId, who: Principal = Depends(current_principal)) -> PreviewDialed:
        """Call the item held for me: my phone rings, then the customer's (one interaction per attempt)."""
        return PreviewDialed(call_id=await panel.dial(agent_of(who), source, item_id))

    @r.post("/{source}/{item_id}/skip", response_model=Skipped)
    async def skip(source: SourceName, item_id: ItemId, body: SkipIn,
                   who: Principal = Depends(current_principal)) -> Skipped:
        """Pass on the item held for me: ``not_now`` (due again later), ``wrong_number``, ``do_not_call``."""
        await panel.skip(agent_of(who), source, item_id, body.reason)
        return Skipped()

    return r

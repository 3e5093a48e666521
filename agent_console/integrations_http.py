"""Administrators' named integration tokens (docs/api.md, "Integration tokens"): issue one (the
token shown once), list them (never the token), revoke one. Who: ``agent_console.policy``
("integrations.manage"); the tokens themselves: ``agent_console.integrations``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent_console import policy
from agent_console.integrations import IntegrationTokens
from agent_console.security import Principal, current_principal
from crm_core.schemas import MAX_ID, no_control_characters

Id = Annotated[int, Path(ge=1, le=MAX_ID)]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, description="what the token is for, e.g. the warehouse")
    audio: bool = Field(False, description="may download recordings' audio (GET /api/recordings/{id}/audio)")

    @field_validator("name")
    @classmethod
    def _plain(cls, value: str) -> str:
        return no_control_characters(value.strip()) or _empty()


def _empty() -> str:
    raise ValueError("must not be blank")


def _tokens(request: Request) -> IntegrationTokens:
    found = getattr(request.app.state, "integrations", None)
    if not isinstance(found, IntegrationTokens) or found.db is None:
        raise RuntimeError("app.state.integrations (with a database) is not set")
    return found


def integrations_router() -> APIRouter:
    r = APIRouter(prefix="/api/admin/integration-tokens", tags=["admin"], dependencies=[Depends(policy.enforce)])

    @r.get("")
    async def list_tokens(request: Request, _who: Principal = Depends(current_principal)) -> list[dict[str, Any]]:
        return await _tokens(request).listed()

    @r.post("", status_code=201)
    async def issue_token(body: TokenIn, request: Request,
                          who: Principal = Depends(current_principal)) -> dict[str, Any]:
        view, token = await _tokens(request).issue(name=body.name, audio=body.audio, by=who)
        return {**view, "token": token}  # the only time the token is shown

    @r.delete("/{token_id}")
    async def revoke_token(token_id: Id, request: Request, who: Principal = Depends(current_principal)) -> Any:
        return await _tokens(request).revoke(token_id, by=who)

    return r

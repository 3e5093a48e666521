"""The console on in-memory fakes: for ``cti console-demo``, the web and browser tiers and the
benchmark. ``DemoConsole`` holds the app and the fakes; ``serve`` runs it under uvicorn in the
current event loop until the context exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field

from agent_console import policy
from agent_console.app import create_app
from agent_console.crm_http import announce_customer
from agent_console.fake_preview import FakeCampaignContacts
from agent_console.fakes import FakeCrm, FakeDesk, FakeUserStore
from agent_console.hub import PER_MESSAGE_DEFLATE
from agent_console.phone import MemoryPhoneSecrets, PhoneService, install_phone
from agent_console.preview import CallbackSource, CampaignSource, PreviewDesk
from agent_console.preview_http import build_preview_router
from agent_console.security import ConsoleAuth, LoginThrottle, Principal, current_principal
from crm_core.schemas import CustomerPatch
from crm_core.users import hash_secret
from cti.bus import InProcessBus

DEMO_PASSWORD = "demo-pass-1"
DEMO_AGENTS = (("alice", "a1001", "Alice Wang 王丽"), ("bob", "a1002", "Bob Li 李博"))


class DemoOfferBody(BaseModel):
    caller_number: str = Field("+8613800138000", pattern=r"^\+?[0-9]{3,20}$")
    customer_id: int | None = None
    queue: str = "support"
    agent_id: str | None = Field(None, description="Default: the caller's own agent id.")


class DemoOfferResult(BaseModel):
    call_id: str


@dataclass
class DemoConsole:
    app: FastAPI
    bus: InProcessBus
    desk: FakeDesk
    crm: FakeCrm
    users: FakeUserStore
    auth: ConsoleAuth
    contacts: FakeCampaignContacts  # preview campaign contacts for the preview panel


_DEMO_IVR = [
    {"node": "welcome", "label": "Welcome / language", "choice": "1 中文"},
    {"node": "identify", "label": "Account number", "input": "******4821"},
    {"node": "pin", "label": "PIN", "input": "****"},
    {"node": "menu", "label": "Main menu", "choice": "2 Technical support"},
]


def demo_router(desk: FakeDesk) -> APIRouter:
    """``POST /api/demo/offer``: play the ACD and offer a call (demo and tests only)."""
    r = APIRouter(tags=["demo"])

    @r.post("/api/demo/offer", response_model=DemoOfferResult)
    async def offer(body: DemoOfferBody, who: Principal = Depends(current_principal)
                    ) -> DemoOfferResult:
        agent = body.agent_id if who.role != "agent" and body.agent_id else who.agent_id
        call_id = await desk.offer_call(agent or "", caller_number=body.caller_number, customer_id=body.customer_id,
                                        queue=body.queue, ivr_path=_DEMO_IVR, intent=body.queue)
        return DemoOfferResult(call_id=call_id)

    return r


def customer_router(crm: FakeCrm) -> APIRouter:
    """``GET`` and ``PATCH /api/crm/customers/{id}`` on the fake book: the console's customer editing
    (the engine serves the CRM's own routes, ``agent_console.crm_http``), with the same validation
    (``CustomerPatch``) and the same rule on identity fields (``policy.check_identity_change``)."""
    r = APIRouter(tags=["crm"])

    @r.get("/api/crm/customers/{customer_id}")
    async def read(customer_id: int, who: Principal = Depends(current_principal)) -> dict[str, Any]:
        return crm.customer_record(customer_id)

    @r.patch("/api/crm/customers/{customer_id}")
    async def update(request: Request, customer_id: int, patch: CustomerPatch,
                     who: Principal = Depends(current_principal)) -> dict[str, Any]:
        policy.check_identity_change(who, patch.model_fields_set)
        saved = crm.update_customer(customer_id, patch.model_dump(exclude_unset=True))
        await announce_customer(request, customer_id, who, patch.model_fields_set)  # as the CRM's route
        return saved

    return r


class RecordingOff(BaseModel):
    linkedid: str
    state: str = "off"


def unrecorded_router() -> APIRouter:
    """``GET /api/calls/{linkedid}/recording``, which the console asks of every live call: the demo
    records nothing (the engine's answer for a call it does not record). Pausing is the engine's only."""
    r = APIRouter(tags=["recordings"])

    @r.get("/api/calls/{linkedid}/recording", response_model=RecordingOff)
    async def recording_status(linkedid: str, who: Principal = Depends(current_principal)) -> RecordingOff:
        return RecordingOff(linkedid=linkedid)

    return r


def _simulated_phones(settings: Any) -> PhoneService:
    """Every agent's phone is the simulated one (``kind: sim``, nothing to register); staff have none."""

    async def no_extension(agent_id: str) -> str | None:
        return None

    async def sim(agent_id: str) -> str:
        return "sim"

    return PhoneService(settings, MemoryPhoneSecrets(), no_extension, kind_of=sim)


@functools.cache
def _demo_hash() -> str:
    return hash_secret(DEMO_PASSWORD)


def build_demo(settings: Any, *, answer_after_s: float | None = 1.5, agents: int = 0,
               throttle: LoginThrottle | None = None, demo_routes: bool = True, supervisor: bool = True,
               phone: bool = True, **app_kw: Any) -> DemoConsole:
    """The app on fakes with demo users (password ``DEMO_PASSWORD``): alice, bob (agents), with
    ``supervisor`` sue (a supervisor, for the tests of who may do what: the fakes serve no
    supervisor pages, so a supervisor's login lands on a /wallboard that is not there), and
    ``agents`` more named agent0001... (for the benchmark). ``phone``: the agents' phones are
    simulated (``GET /api/phone/credentials`` says ``sim``); False for a test that installs its own
    ``agent_console.phone.PhoneService``."""
    bus = InProcessBus()
    crm = FakeCrm()
    desk = FakeDesk(bus, crm, answer_after_s=answer_after_s)
    users = FakeUserStore()
    hashed = _demo_hash()
    for username, agent_id, name in DEMO_AGENTS:
        users.add(username, DEMO_PASSWORD, agent_id=agent_id, display_name=name, password_hash=hashed)
    if supervisor:
        users.add("sue", DEMO_PASSWORD, role="supervisor", display_name="Sue Supervisor", password_hash=hashed)
    for i in range(agents):
        users.users[f"agent{i:04d}"] = ("!", Principal(10_000 + i, f"agent{i:04d}", "agent", f"b{i:04d}"))
    auth = ConsoleAuth.from_settings(settings, throttle=throttle)
    contacts = FakeCampaignContacts(desk)
    routers = [build_preview_router(PreviewDesk(desk, [CallbackSource(desk), CampaignSource(contacts)]))]
    routers += [demo_router(desk)] if demo_routes else []
    routers += [unrecorded_router(), customer_router(crm)]
    app = create_app(settings, users=users, desk=desk, pops=crm, search=crm, bus=bus, extra_routers=routers,
                     auth=auth, manage_bus=True, demo=demo_routes, **app_kw)
    if phone:
        install_phone(app, _simulated_phones(settings))
    return DemoConsole(app, bus, desk, crm, users, auth, contacts)


@contextlib.asynccontextmanager
async def serve(app: FastAPI, host: str, port: int, *, ws_max_size: int = 1024 * 1024) -> AsyncIterator[None]:
    """Run ``app`` under uvicorn in this loop; frames over ``ws_max_size`` are closed with 1009."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", ws="websockets-sansio",
                            ws_max_size=ws_max_size, ws_per_message_deflate=PER_MESSAGE_DEFLATE, lifespan="on",
                            access_log=False, proxy_headers=False)
    server = uvicorn.Server(config)

    async def run() -> None:
        # uvicorn ends a failed start (its port taken) with SystemExit, which an asyncio task re-raises
        # through the event loop itself: every later test of a pytest worker then failed at set-up.
        try:
            await server.serve()
        except SystemExit as err:
            raise RuntimeError(f"uvicorn could not start on {host}:{port} (exit {err.code})") from None

    task = asyncio.create_task(run())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        await task

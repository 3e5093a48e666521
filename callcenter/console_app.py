"""The console's web app as the engine builds it: the console over the engine's desk, the CRM's,
recordings', campaigns', feed's, integrations', users', web callback requests' and preview's
routers, the app state those routers read, and the supervisor's pages. ``Engine.__init__``
(callcenter/engine.py) calls it when it serves the web console, then installs the browser
softphone's routes on the app.

    engine.app = build_console_app(engine)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from acd.model import AgentState
from agent_console.app import create_app
from agent_console.callback_request_http import SlidingLimit, build_callback_request_router
from agent_console.campaigns_http import router as campaigns_router
from agent_console.catalog_http import router as catalog_router
from agent_console.crm_adapters import SqlCustomerSearch, SqlSessionStore, SqlUserStore
from agent_console.crm_http import router as crm_router
from agent_console.feed_http import build_feed_router
from agent_console.integrations import IntegrationTokens
from agent_console.integrations_http import integrations_router
from agent_console.preview_http import build_preview_router
from agent_console.recordings_http import router as recordings_router
from agent_console.supervisor.install import install_supervisor
from agent_console.users_http import users_router
from crm_core.events import CustomerChanged
from crm_core.screenpop import SqlPopSource
from cti.errors import CtiError
from cti.trunks import public_callback_refusal

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from acd.config import AcdConfig
    from acd.delivery import AcdService
    from acd.virtual_hold_pbx import VirtualHold
    from agent_console.desk import EngineDesk
    from agent_console.desk_phones import DeskPhoneLocks
    from agent_console.metrics import EngineMetrics
    from agent_console.preview import PreviewDesk
    from agent_console.supervisor.install import SupervisorParts
    from crm_core.calllog import CallLogger
    from crm_core.campaign_preview import CampaignPreview
    from crm_core.db import Database
    from crm_core.dialer import CampaignDialer
    from crm_core.directory import SqlCustomerDirectory
    from crm_core.feed_ring import Feed
    from crm_core.recorder import Recorder
    from crm_core.webhooks import WebhookDispatcher
    from cti.bus import EventBus
    from cti.settings import Settings

log = logging.getLogger(__name__)
OFFBOARDED = "offboarded"  # the not-ready reason of an agent deactivated or demoted during a call


class ConsoleEngine(Protocol):
    """What the web app's building reads of ``callcenter.engine.Engine`` (a protocol: the engine
    imports this module)."""

    settings: Settings
    acd_config: AcdConfig
    bus: EventBus
    db: Database
    logger: CallLogger
    feed: Feed
    webhooks: WebhookDispatcher
    acd: AcdService
    recorder: Recorder
    dialer: CampaignDialer
    campaign_preview: CampaignPreview
    virtual_hold: VirtualHold
    directory: SqlCustomerDirectory
    desk: EngineDesk
    preview: PreviewDesk
    desk_phones: DeskPhoneLocks
    metrics: EngineMetrics
    _closing_streams: asyncio.Event

    def supervisor_parts(self) -> SupervisorParts: ...


def build_console_app(engine: ConsoleEngine) -> FastAPI:
    """The console app over the engine's parts (its softphone routes are the engine's to install)."""
    settings = engine.settings
    pops = SqlPopSource(engine.db, engine.logger)
    # An edited customer's recent cards (what outage pops show) are read again.
    engine.bus.subscribe(CustomerChanged, pops.customer_changed, name="crm.pop_cards")
    engine.acd.pop_builder = pops.build_pop  # a transferred call's pop: the customer and the note
    logins = SqlUserStore(engine.db)
    app = create_app(settings, users=logins, desk=engine.desk,
                     pops=pops, search=SqlCustomerSearch(engine.db),
                     bus=engine.bus, extra_routers=[
                         crm_router, catalog_router, recordings_router, campaigns_router,
                         build_feed_router(engine.feed, engine.webhooks, closing=engine._closing_streams),
                         integrations_router(),
                         users_router(engine.db, forget=logins.forget,
                                      skills=lambda: set(engine.acd_config.skills),
                                      offboard=lambda agent_id: offboard_agent(engine.acd, agent_id),
                                      desk_phones=engine.desk_phones),
                         _callback_request_router(engine, settings),
                         build_preview_router(engine.preview)],
                     metrics=engine.metrics, metrics_token=settings.metrics.token,
                     sessions=SqlSessionStore(engine.db, logins))
    app.state.crm_db = engine.db
    app.state.queue_names = engine.acd.queue_names  # the CRM's and recordings' ?queue= filters
    # Integrations' bearer tokens: named ones (read only) and the settings' (the feed alone).
    app.state.integrations = IntegrationTokens(engine.db, settings.feed.integration_tokens)
    app.state.dialer, app.state.campaign_preview = engine.dialer, engine.campaign_preview
    app.state.recorder = engine.recorder
    app.state.recordings_dir = engine.recorder.store.store
    install_supervisor(app, engine.supervisor_parts())
    return app


def _callback_request_router(engine: ConsoleEngine, settings: Settings) -> APIRouter:
    """Web callback requests, throttled by ``settings.callbacks`` (docs/callbacks.md)."""
    cb, window_s = settings.callbacks, settings.callbacks.requests_window_min * 60
    regions = cb.request_regions or (engine.acd.actions.routing.default_region,)

    return build_callback_request_router(
        engine.virtual_hold, secret=settings.web.session_secret.get_secret_value().encode(),
        lookup=engine.directory.lookup_by_number, per_address=SlidingLimit(cb.requests_per_address, window_s),
        per_number=SlidingLimit(cb.requests_per_number, window_s),
        refusal=lambda e164: public_callback_refusal(e164, regions))


async def offboard_agent(acd: AcdService, agent_id: str) -> None:
    """A deactivated or demoted user's agent leaves the ACD: logged out at once, or, during an
    offer, a call or its wrap-up, not ready (``offboarded``) so that nothing more is offered; a
    supervisor logs them out once the call is over."""
    state = acd.agent_state(agent_id)
    if state is AgentState.LOGGED_OUT:
        return
    try:
        if state in (AgentState.AVAILABLE, AgentState.NOT_READY):
            await acd.agent_logout(agent_id)
        else:
            await acd.set_not_ready(agent_id, OFFBOARDED)
    except CtiError:  # the router refused (the agent's state moved meanwhile): say so, the change stands
        log.exception("users: agent %s not taken out of the ACD", agent_id)
    else:
        log.info("users: agent %s taken out of the ACD (was %s)", agent_id, state.value)

"""The composition root: every adapter is built here, from settings loaded once, and nowhere else.

    engine = Engine(settings)
    await engine.start()   # bus, CRM logger, AMI bridge, ACD, FastAGI (IVR + announcements), web app
    ...
    await engine.stop()

Start order follows the call's journey backwards, so nothing is published before its consumers
listen: subscriptions first, then the bus, the call logger (which replays its outbox), the AMI
bridge, the ACD ticker, the FastAGI server that lets calls in, and the web console last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI

from acd.announce import announce_route
from acd.config import load_queues
from acd.delivery import AcdService
from acd.routing import Router
from agent_console.app import create_app
from agent_console.crm_adapters import SqlCustomerSearch, SqlUserStore
from agent_console.crm_http import router as crm_router
from agent_console.desk import EngineDesk
from agent_console.phone import (
    AstDbPhoneSecrets,
    CrmPhoneKinds,
    PhoneService,
    crm_extension_of,
    crm_kind_of,
    install_phone,
)
from agent_console.supervisor.install import SupervisorParts, install_supervisor
from crm_core.callback_intake import CallbackIntake
from crm_core.callbacks import Policy
from crm_core.calllog import CallLogger
from crm_core.db import Database
from crm_core.directory import SqlCustomerDirectory
from crm_core.screenpop import SqlPopSource
from cti.agi.fastagi import FastAgiServer
from cti.ami.bridge import AmiBridge
from cti.bus import EventBus, InProcessBus
from cti.errors import ConfigError
from cti.settings import Settings
from ivr.config import load_flows
from ivr.driver import make_ivr_route

if TYPE_CHECKING:  # redis is imported only when the redis bus is configured
    from cti.redis_bus import RoutingLease

log = logging.getLogger(__name__)


def make_bus(settings: Settings) -> EventBus:
    if settings.bus == "redis":
        if not settings.redis_url:
            raise ConfigError("bus: 'redis' needs redis_url (CTI_REDIS_URL)")
        from cti.redis_bus import RedisStreamsBus

        return RedisStreamsBus(settings.redis_url, group=settings.node_id, consumer=settings.node_id)
    return InProcessBus()


def make_routing_lease(settings: Settings, on_lost: Callable[[str | None], None]) -> RoutingLease | None:
    """Several nodes on one Redis: only one may route (see ``cti.redis_bus.RoutingLease``)."""
    if settings.bus != "redis" or not settings.redis_url:
        return None
    from cti.redis_bus import RedisLease, RoutingLease

    return RoutingLease(RedisLease(settings.redis_url), settings.node_id, on_lost=on_lost)


class Engine:
    """The whole engine in one process."""

    def __init__(self, settings: Settings, *, phone_kind: str = "sim", answer_after_s: float = 2.0,
                 web: bool = True) -> None:
        self.settings = settings
        # Configuration first: the engine never starts half-configured.
        self.acd_config = load_queues(settings)
        flows = load_flows(settings)
        self.bus = make_bus(settings)
        self.routing_lease = make_routing_lease(settings, self._lease_lost)
        self.fenced = asyncio.Event()  # set when another node took the routing lease: stop
        self.db = Database.from_settings(settings)
        # "interval": the outbox is written before each event is acknowledged and flushed to disk every
        # 10 ms, so a crashed or restarted engine loses nothing (a power cut, at most 10 ms); the
        # stricter "complete" caps the logger near 500 calls/s on SQLite (bench/RESULTS.md).
        self.logger = CallLogger(self.db, settings.state_dir, sync="interval")
        self.ami = AmiBridge(settings, self.bus)
        # Held callers hear music in cti-hold; their agent's leg waits silently in cti-park-agent.
        self.ami.control.hold_context, self.ami.control.park_context = "cti-hold", "cti-park-agent"
        self.router = Router(self.acd_config.queues)
        self.acd = AcdService(self.router, self.ami.control, self.bus, live_channels=self._live_channels,
                              device_state=self.ami.model.device_state)
        self.agi = FastAgiServer(settings, routes={
            "ivr": make_ivr_route(flows, SqlCustomerDirectory(self.db), self.bus),
            "announce": announce_route,
        })
        cb = settings.callbacks
        self.callback_policy = Policy(retry_delay=timedelta(minutes=cb.retry_delay_min),
                                      claim_timeout=timedelta(minutes=cb.claim_timeout_min),
                                      call_timeout=timedelta(minutes=cb.call_timeout_min),
                                      max_attempts=cb.max_attempts)
        # Callbacks the ACD's queue limits (and the IVR) ask for become pending callbacks in the CRM.
        self.callback_intake = CallbackIntake(self.db, max_attempts=cb.max_attempts,
                                              journal=settings.state_dir / "callback-outbox.jsonl")
        self.desk = EngineDesk(self.acd, self.db, self.bus, phone_kind=phone_kind, answer_after_s=answer_after_s,
                               callback_policy=self.callback_policy)
        self.app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        if web:
            self.app = create_app(settings, users=SqlUserStore(self.db), desk=self.desk,
                                  pops=SqlPopSource(self.db, self.logger), search=SqlCustomerSearch(self.db),
                                  bus=self.bus, extra_routers=[crm_router])
            self.app.state.crm_db = self.db
            install_supervisor(self.app, self.supervisor_parts())
        # The browser softphone's per-login SIP passwords (docs/softphone.md).
        self.phone = PhoneService(settings, AstDbPhoneSecrets(self.ami.client), crm_extension_of(self.db),
                                  kind_of=crm_kind_of(self.db, self.desk))
        if self.app is not None:
            install_phone(self.app, self.phone, kinds=CrmPhoneKinds(self.db))

    def supervisor_parts(self) -> SupervisorParts:
        """The wallboard, alerts, interventions and reports are built from these."""
        return SupervisorParts(settings=self.settings, acd=self.acd, db=self.db, bus=self.bus,
                               queues=self.acd_config.queues, callback_policy=self.callback_policy,
                               control=lambda: self.ami.control, phone_kind=lambda: self.desk.phone_kind)

    def _lease_lost(self, holder: str | None) -> None:
        """Another node routes now (this one stalled past the lease): stop offering calls at once;
        ``cti run`` sees ``fenced`` and stops the engine."""
        self.fenced.set()
        task = asyncio.get_running_loop().create_task(self.acd.stop(), name="acd.fence")
        task.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                               or log.error("stopping the ACD after the lease was lost failed", exc_info=t.exception()))

    def _live_channels(self) -> list[str]:
        return [ch.name for call in self.ami.model.calls() for ch in call.live]

    async def start(self) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        if self.routing_lease is not None:
            # Before any event is read: a standby waits here; refused, nothing ran.
            await self.routing_lease.acquire(wait=self.settings.routing_standby)
        self.logger.subscribe(self.bus)
        self.callback_intake.subscribe(self.bus)
        self.acd.subscribe()
        await self.callback_intake.start()
        await self.bus.start()
        await self.logger.start()
        await self.ami.start()
        await self.ami.wait_connected(self.settings.ami.connect_timeout_s * 3)
        await self.acd.start()
        await self.phone.revoke_all()
        await self.agi.start()
        if self.app is not None:
            config = uvicorn.Config(self.app, host=self.settings.web.host, port=self.settings.web.port,
                                    log_level="warning", lifespan="on", ws_max_size=64 * 1024)
            self._server = uvicorn.Server(config)
            self._server_task = asyncio.create_task(self._server.serve(), name="web")
            while not self._server.started:
                if self._server_task.done():
                    await self._server_task
                    raise ConfigError(f"web: could not listen on {self.settings.web.host}:{self.settings.web.port}")
                await asyncio.sleep(0.05)
        # Long-lived start-up objects never die: keep them out of the collector's way, which cuts
        # the long GC pauses seen with a thousand live sessions (bench/fastagi.py).
        # A larger young generation keeps collections out of the router's p99 (bench/routing.py).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 10, 10)
        log.info("engine started")

    @property
    def url(self) -> str:
        return self.settings.web.public_url or f"http://{self.settings.web.host}:{self.settings.web.port}"

    async def stop(self) -> None:
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._server_task
        await self.agi.stop()
        await self.acd.stop()
        with contextlib.suppress(Exception):  # AMI may already be gone; the next start clears them too
            await self.phone.revoke_all()
        await self.ami.stop()
        with contextlib.suppress(Exception):
            await self.logger.stop()
        await self.bus.stop()
        await self.callback_intake.stop()
        if self.routing_lease is not None:
            await self.routing_lease.release()
        await self.db.dispose()
        log.info("engine stopped")

    def summary(self) -> dict[str, Any]:
        """Live counters for the terminal: calls in IVR, waiting, talking."""
        waiting = sum(1 for c in self.acd.calls.values() if c.status in ("queued", "ringing"))
        talking = sum(1 for c in self.acd.calls.values() if c.status in ("talking", "held"))
        return {"in_ivr": self.agi.open_sessions, "waiting": waiting, "talking": talking}

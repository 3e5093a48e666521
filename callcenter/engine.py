"""The composition root: every adapter is built here, from settings loaded once, and nowhere else.
Its helpers in this package: ``callcenter.adapters`` (the adapters the settings choose: bus, feed
store, routing lease, recording store), ``callcenter.handoff`` (the IVR's hand-off to the ACD) and
``callcenter.listeners`` (the web and /metrics HTTP listeners), ``callcenter.console_app`` (the web
console's app over the engine's parts), ``callcenter.standby`` (what a node serves on its web port
before it routes) and ``callcenter.stopping`` (the stop's steps, in order).

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
import logging
import time
from datetime import timedelta
from typing import Any

from acd.announce import make_announce_route
from acd.config import load_queues
from acd.delivery import AcdService
from acd.fallback import FallbackMembers
from acd.routing import Router
from acd.survey import SurveyInvites, make_survey_route
from acd.virtual_hold_pbx import VirtualHold
from agent_console.desk import EngineDesk
from agent_console.desk_phones import CrmLockStore, DeskPhoneLocks, share_locks
from agent_console.hub import PER_MESSAGE_DEFLATE
from agent_console.metrics import EngineMetrics, LiveSources
from agent_console.phone import (
    CrmPhoneKinds,
    PhoneService,
    crm_extension_of,
    crm_kind_of,
    crm_staff_phone,
    install_phone,
)
from agent_console.preview import CallbackSource, CampaignSource, PreviewDesk
from agent_console.supervisor.install import SupervisorParts
from callcenter.adapters import expected_contexts, make_bus, make_feed, make_routing_lease, recording_store
from callcenter.console_app import build_console_app
from callcenter.handoff import IvrHandoff
from callcenter.listeners import HttpListener, metrics_listener
from callcenter.recovery import Recovery, RecoveryReport
from callcenter.standby import StandbyWeb
from callcenter.stopping import FALLBACK_SETTLE_S as FALLBACK_SETTLE_S  # its home now
from callcenter.stopping import stop_listener, stop_steps
from crm_core.callback_intake import CallbackIntake
from crm_core.callbacks import Policy
from crm_core.calllog import CallLogger
from crm_core.campaign_preview import CampaignPreview
from crm_core.case_feed import CaseHistoryFollower
from crm_core.db import Database
from crm_core.dialer import CampaignDialer, make_campaign_route
from crm_core.directory import SqlCustomerDirectory
from crm_core.events import CustomerChanged
from crm_core.recorder import Recorder
from crm_core.sealed import SecretBox
from crm_core.virtual_holds import SqlVirtualHoldStore
from crm_core.webhooks import WebhookDispatcher
from cti import sip_credentials
from cti.agi.fastagi import FastAgiServer
from cti.ami.bridge import AmiBridge
from cti.ami.callmodel import CallModel
from cti.ami.dialplan import DialplanWatch
from cti.ami.phone_secrets import AstDbDeskLocks, AstDbPhoneSecrets
from cti.ami.queue_members import AmiFallbackQueues
from cti.credentials import check_secrets, webhook_keys, with_installation_secrets
from cti.files import private_dir
from cti.heap import settle_heap
from cti.heartbeat import Heartbeat, last_beat
from cti.security import watch_auth_failures
from cti.settings import Settings
from cti.tasks import TaskSet
from cti.trunks import load_trunks
from ivr.config import load_flows
from ivr.driver import make_ivr_route

log = logging.getLogger(__name__)
CALLER_FRESH_S = 30.0
CALLLOG_FLUSH_GAP_S = 0.1  # at most ~10 journal flushes a second (bench/RESULTS.md, issue 19 fourth and 24th rounds)


class Engine:
    """The whole engine in one process."""

    def __init__(self, settings: Settings, *, phone_kind: str = "sim", answer_after_s: float = 2.0,
                 web: bool = True) -> None:
        # Secrets first: generated per installation when unset, and a published one refused.
        settings = with_installation_secrets(settings, session=web)
        check_secrets(settings, web=web)
        self.settings = settings
        # Configuration first: the engine never starts half-configured.
        self.acd_config = load_queues(settings)
        flows = load_flows(settings)
        self.bus = make_bus(settings)
        self.routing_lease = make_routing_lease(settings, self._lease_lost)
        self.fenced = asyncio.Event()  # set when another node took the routing lease: stop
        # The stops the fence starts at once (_lease_lost); the engine's own stop runs them again.
        self._fencing = TaskSet(log, "%s (a stop after the routing lease was lost) failed")
        self.db = Database.from_settings(settings)
        # "group": each batch the bus hands over is in the outbox and flushed to disk before it is
        # acknowledged (one flush per batch), so neither a crash nor a power cut loses an
        # acknowledged event; the flushes no longer bound the rate (bench/call_logging.py). A batch
        # within 100 ms of the last flush waits for the rest of that gap (what arrives meanwhile
        # joins the next batch; live() still shows it): ~1.6 flushes a call instead of ~6 at 10 calls/s.
        self.logger = CallLogger(self.db, settings.state_dir, sync="group", group_gap_s=CALLLOG_FLUSH_GAP_S)
        fs = settings.feed  # the public event feed and its webhooks (docs/event-feed.md)
        self.feed = make_feed(settings, self.db)
        self.webhooks = WebhookDispatcher(self.db, self.feed, box=SecretBox(*webhook_keys(settings)),
                                          networks=fs.webhook_networks,
                                          max_attempts=fs.webhook_max_attempts,
                                          backoff_s=fs.webhook_backoff_s, backoff_max_s=fs.webhook_backoff_max_s,
                                          timeout_s=fs.webhook_timeout_s)
        self.case_changes = CaseHistoryFollower(self.db, self.bus.publish)  # case.changed, from the history
        # A call's end names the queue, agent and customer the ACD knows for it (the public feed's
        # call.ended); the ACD is made below, and asked only once calls end.
        self.ami = AmiBridge(settings, self.bus, on_connected=self._ami_connected,
                             model=CallModel(queue_of=lambda linkedid: self.acd.queue_of(linkedid),
                                             handling_of=lambda linkedid: self.acd.handling_of(linkedid)))
        # The contexts of config/asterisk/extensions.conf Asterisk lacks: asked at every AMI connection.
        self.dialplan = DialplanWatch(self.ami.client.send_action, expected_contexts(settings))
        self.metrics = EngineMetrics()  # its own registry: several engines in one process never clash
        self.ami.pump.on_lag = self.metrics.event_lag.observe
        self.metrics.watch_database(*self.db.statement_engines)
        self.router = Router(self.acd_config.queues)
        self.acd = AcdService(self.router, self.ami.control, self.bus, live_channels=self._live_channels,
                              call_channels=self._call_channels, device_state=self.ami.model.device_state,
                              softphone_requeue_s=settings.pbx.softphone_requeue_s)
        # Recording and the caller's survey (docs/recording.md).
        rec = settings.recordings
        self.recorder = Recorder(self.db, self.bus, lambda: self.ami.control, self.acd_config.recording,
                                 store=recording_store(settings), retention_days=rec.retention_days,
                                 retention_check_s=rec.retention_check_s, call_of=self._call_of,
                                 journal=settings.state_dir / "recordings-journal.jsonl")
        self.survey_invites = SurveyInvites(self.bus, lambda: self.ami.control, self.acd_config.surveys)
        self.acd.actions.survey_queues = frozenset(self.acd_config.surveys)
        self.acd.actions.routing = load_trunks(settings)  # outbound calls leave by config/trunks.yaml
        # Outbound campaigns (docs/outbound.md): paced dialling through the same trunks.
        self.dialer = CampaignDialer(self.db, self.acd, lambda: self.ami.control, self.bus,
                                     routing=self.acd.actions.routing,
                                     dial_timeout_s=self.acd.actions.routing.outbound.dial_timeout_s,
                                     grace_s=self.acd.actions.routing.outbound.drop_grace_s,
                                     pbx_up=lambda: self.ami.client.connected)
        self.campaign_preview = CampaignPreview(self.dialer)
        # Refused SIP logins -> alarm; not those of the desk phones we locked (their users deactivated).
        self.auth_failures = watch_auth_failures(self.bus, settings.sip, locked=lambda: self.desk_phones.locked)
        # Virtual hold: callers keep their place without staying on the line (docs/callbacks.md).
        self.vhold_store = SqlVirtualHoldStore(self.db, journal=settings.state_dir / "virtual-hold-journal.jsonl")
        self.virtual_hold = VirtualHold(self.acd, self.acd_config.virtual_hold, self.vhold_store)
        # Callers by number: a look-up younger than CALLER_FRESH_S is answered from memory (any
        # customer write on this node forgets them all; another node's is seen that much later).
        self.directory = SqlCustomerDirectory(self.db, fresh_s=CALLER_FRESH_S)
        self.bus.subscribe(CustomerChanged, self.directory.customer_changed, name="crm.caller_ids")
        self.handoff = IvrHandoff(self.acd, self.recorder, self.dialplan)  # the IVR's hand-off to a queue
        self.agi = FastAgiServer(settings, routes={
            # The ACD's queue entry and the recording's file ride in the IVR's hand-off: one action per
            # call; an agent free then is rung through the IVR's session (callcenter/handoff.py).
            "ivr": make_ivr_route(flows, self.directory, self.bus, handoff_vars=self.handoff.vars,
                                  hold=self.handoff.hold_line),
            "announce": make_announce_route(self.acd.floor),
            "survey": make_survey_route(self.bus, self.acd_config.surveys, time.time, on_start=self._survey_started),
            **self.virtual_hold.routes(),
            "campaign": make_campaign_route(self.dialer),
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
                               callback_policy=self.callback_policy,
                               journal=settings.state_dir / "wrapup-journal.jsonl")
        self.desk.subscribe(self.bus)  # a call linked to another customer: the ACD's call names them
        # The console's preview panel: due callbacks, then preview campaigns' contacts (docs/outbound.md).
        self.preview = PreviewDesk(self.desk, [CallbackSource(self.desk), CampaignSource(self.campaign_preview)])
        self.metrics.sources = self._metric_sources()
        # After a crash or restart the engine takes back what Asterisk kept (docs/resilience.md), and
        # tells the dialplan it is alive: without a heartbeat, waiting callers go to the fallback.
        self.heartbeat = Heartbeat(self.ami.client.send_action, settings.resilience,
                                   connection=lambda: self.ami.client.connects,
                                   lost_queue=self.acd_config.ivr_lost_queue)
        self.recovery = Recovery(acd=self.acd, model=self.ami.model, control=self.ami.control, db=self.db,
                                 bus=self.bus, login=lambda agent_id: self.desk.login_queues(agent_id, []),
                                 send=self.ami.client.send_action)
        self.recovery_report: RecoveryReport | None = None
        # While no engine runs, app_queue rings these agents' phones (acd/fallback.py).
        self.fallback_members = FallbackMembers(AmiFallbackQueues(self.ami.client), self.bus, self.acd.phones,
                                                self.acd_config.app_queue_fallback)
        # Deactivated users' SIP desk phones locked in AstDB (agent_console/desk_phones.py).
        self.desk_phones = DeskPhoneLocks(AstDbDeskLocks(self.ami.client), CrmLockStore(self.db),
                                          settings.pbx.agent_endpoints,
                                          issued=lambda ep, pw: sip_credentials.issued(settings.state_dir, ep, pw))
        if settings.bus == "redis":  # every node's view of the locks follows a change on any node
            share_locks(self.desk_phones, self.bus, settings.node_id)
        self._web: HttpListener | None = None  # the listeners, from the start on (callcenter/listeners.py)
        self._metrics_listener: HttpListener | None = None
        # Several nodes: the web port answers /healthz 503 naming the role until the console's binds it.
        self._standby_web = StandbyWeb(settings, self.metrics, self.routing_lease, routes=self.routes) if (
            web and self.routing_lease is not None) else None
        self._closing_streams = asyncio.Event()  # set at the stop: the feed's streams end (feed_http)
        self.app = build_console_app(self) if web else None  # callcenter/console_app.py
        # The browser softphone's per-login SIP passwords (docs/softphone.md).
        # With several nodes (bus: redis) a revocation reaches the node that issued the password.
        self.phone = PhoneService(settings, AstDbPhoneSecrets(self.ami.client), crm_extension_of(self.db),
                                  kind_of=crm_kind_of(self.db, self.desk), staff_phone=crm_staff_phone(self.db),
                                  bus=self.bus if settings.bus == "redis" else None)
        if self.app is not None:
            install_phone(self.app, self.phone, kinds=CrmPhoneKinds(self.db))

    async def _survey_started(self, linkedid: str) -> None:
        """The caller reached the survey: its agent's part is over (they may have hung up their phone)."""
        call = self.acd.calls.get(linkedid)
        if call is not None:
            await self.acd.release_agent(call)

    def supervisor_parts(self) -> SupervisorParts:
        """The wallboard, alerts, interventions and reports are built from these."""
        return SupervisorParts(settings=self.settings, acd=self.acd, db=self.db, bus=self.bus,
                               queues=self.acd_config.queues, callback_policy=self.callback_policy,
                               control=lambda: self.ami.control, phone_kind=lambda: self.desk.phone_kind)

    async def _ami_connected(self) -> None:
        """AMI is back (not its first connection, which ``start`` follows): Asterisk may have
        restarted, which forgets app_queue's fallback members and may have loaded another dialplan,
        or actions failed while it was away."""
        if self.ami.client.connects > 1:
            try:  # awaited by the AMI client's supervisor: a failure here must not end its reconnects
                self.fallback_members.resync(self.acd.agents)
            except Exception:
                log.exception("fallback queue members not resynced after AMI came back")
            try:
                await self.dialplan.check()
            except Exception:
                log.exception("the dialplan's contexts not checked after AMI came back")
            await self._sync_desk_phones()

    async def _sync_desk_phones(self) -> None:
        """The desk phones' locks as the CRM says; what fails is logged (the locks already in AstDB
        stay) and done again when AMI next comes back."""
        try:
            await self.desk_phones.sync()
        except Exception:
            log.exception("desk phones: locks not synced with the CRM")

    def _lease_lost(self, holder: str | None) -> None:
        """Another node routes now (this one stalled past the lease): stop at once what only the
        routing node does -- offering calls, campaign dials, webhook deliveries and the case feed's
        follower (the other node started its own) -- then ``cti run`` sees ``fenced`` and stops the
        engine."""
        self.fenced.set()
        self.dialer.fence()  # no more campaign dials from this node
        for name, stop in (("the ACD", self.acd.stop), ("webhooks", self.webhooks.stop),
                           ("the case follower", self.case_changes.stop)):
            self._fencing.spawn(stop(), f"fence: {name}")

    def _metric_sources(self) -> LiveSources:
        """What /metrics reads at scrape time (agent_console.metrics)."""
        client, pump, logger = self.ami.client, self.ami.pump, self.logger
        bus_stats = getattr(self.bus, "stats", None)
        return LiveSources(
            routing=self.routes,
            ami_connected=lambda: client.connected,
            dialplan_missing=lambda: None if self.dialplan.missing is None else len(self.dialplan.missing),
            ami_counts=lambda: {"connects": client.connects, "resyncs": client.resyncs,
                                "events": pump.published, "backlog": len(pump.inbox)},
            bus_stats=bus_stats,
            calls_in_ivr=lambda: self.agi.open_sessions,
            queues=lambda: self.acd.queue_snapshots(time.time()),
            agents=self.acd.agents,
            calllog=lambda: {"pending": logger.pending, "outbox_bytes": logger.outbox.bytes,
                             "db_up": 1.0 if logger.db_available else 0.0,
                             "write_failures": logger.stats["write_failures"]})

    def _call_of(self, linkedid: str) -> str | None:
        """The linkedid a call goes by now (the call model folds calls bridged together)."""
        call = self.ami.model.call(linkedid)
        return call.linkedid if call is not None else None

    def _live_channels(self) -> list[str]:
        return [ch.name for call in self.ami.model.calls() for ch in call.live]

    def _call_channels(self, linkedid: str) -> list[str]:
        call = self.ami.model.call(linkedid)
        return [ch.name for ch in call.live] if call is not None else []

    async def start(self) -> None:
        # Secrets, the call-log journal, the SQLite database.
        private_dir(self.settings.state_dir, setting="state_dir (CTI_STATE_DIR)")
        # /metrics from the start on: a standby waiting below is seen (cti_routing 0), not taken for dead.
        self._metrics_listener = await metrics_listener(self.settings, self.metrics)
        if self._standby_web is not None:
            await self._standby_web.start()
        if self.routing_lease is not None:
            # Before any event is read: a standby waits here; refused, nothing ran.
            await self.routing_lease.acquire(wait=self.settings.routing_standby)
        self.logger.subscribe(self.bus)
        self.feed.subscribe(self.bus)
        self.callback_intake.subscribe(self.bus)
        self.acd.subscribe()
        self.dialer.subscribe()
        self.recorder.subscribe()
        self.survey_invites.subscribe()
        self.metrics.subscribe(self.bus)
        self.fallback_members.subscribe()
        await self.callback_intake.start()
        await self.desk.journal.start()  # wrap-ups journaled during a database outage are written now
        await self.bus.start()
        await self.logger.start()
        await self.feed.start()
        await self.webhooks.start()
        await self.case_changes.start()
        await self.ami.start()
        await self.ami.wait_connected(self.settings.ami.connect_timeout_s * 3)
        beat = await last_beat(self.ami.control.get_var)  # before ours: the previous engine's
        self.heartbeat.start()
        await self._resynced(self.settings.ami.connect_timeout_s * 3)
        await self.dialplan.check()
        self.dialplan.start()
        if self.app is not None:  # before the recovery logs agents in again (docs/kpis.md, "Agent time")
            await self.app.state.supervisor.close_downtime(last_beat=beat)
        self.recovery_report = await self.recovery.run()
        await self.virtual_hold.recover()
        await self.fallback_members.reconcile(self.acd.agents())
        await self.acd.start()
        await self.virtual_hold.start()
        await self.dialer.start()
        await self.phone.revoke_all()
        await self._sync_desk_phones()
        await self.recorder.start()
        await self.agi.start()
        await stop_listener(self._standby_web)  # its port is the console's now
        if self.app is not None:
            self._web = HttpListener(self.app, "web", "web.port (CTI_WEB__PORT)", host=self.settings.web.host,
                                     port=self.settings.web.port, lifespan="on", ws_max_size=64 * 1024,
                                     ws_per_message_deflate=PER_MESSAGE_DEFLATE,
                                     proxy_headers=False)  # X-Forwarded-For: only settings.web.trusted_proxies
            await self._web.start()
        settle_heap()  # the collector leaves start-up objects alone; a larger young generation
        log.info("engine started")

    @property
    def metrics_port(self) -> int | None:
        """The metrics listener's bound port (settings may ask for 0: any free port)."""
        listener = self._metrics_listener
        return self.settings.metrics.port if listener is None else listener.port

    def routes(self) -> bool:
        """Whether this node routes calls: it runs alone, or holds the routing lease and was not fenced."""
        return self.routing_lease is None or (self.routing_lease.held and not self.fenced.is_set())

    async def _resynced(self, timeout_s: float) -> None:
        """Wait until the AMI resync after connecting is folded into the call model: recovery reads it."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.ami.client.resyncs < 1:  # noqa: ASYNC110 - the AMI client has no event for it
                    await asyncio.sleep(0.01)
        except TimeoutError:
            log.warning("no AMI resync within %.0f s: recovery works from what the call model has", timeout_s)
        await self.ami.settle()

    @property
    def url(self) -> str:
        return self.settings.web.public_url or f"http://{self.settings.web.host}:{self.settings.web.port}"

    async def stop(self) -> None:
        """Stop every part, in the order docs/resilience.md ("A clean stop") explains (the steps:
        callcenter/stopping.py). A part whose stop fails is logged and the stop goes on: the parts
        after it still close what they hold (the call log its journal, the recorder its filings, the
        database its file)."""
        for name, step in stop_steps(self):
            try:
                await step()
            except Exception:
                log.exception("stopping the engine: %s failed; the stop goes on", name)
        log.info("engine stopped")

    def summary(self) -> dict[str, Any]:
        """Live counters for the terminal: calls in IVR, waiting, talking."""
        waiting = sum(1 for c in self.acd.calls.values() if c.status in ("queued", "ringing"))
        talking = sum(1 for c in self.acd.calls.values() if c.status in ("talking", "held"))
        return {"in_ivr": self.agi.open_sessions, "waiting": waiting, "talking": talking}

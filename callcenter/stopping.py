"""The engine's stop, step by step: which part stops when, in the order docs/resilience.md ("A clean
stop") explains, and the steps that are more than one part's own ``stop``. ``Engine.stop``
(callcenter/engine.py) runs them in turn; a step that fails is logged there and the stop goes on.

    for name, step in stop_steps(engine):
        await step()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from acd.model import AgentState
from callcenter.listeners import HttpListener
from callcenter.standby import StandbyWeb

if TYPE_CHECKING:
    from fastapi import FastAPI

    from acd.delivery import AcdService
    from acd.fallback import FallbackMembers
    from acd.survey import SurveyInvites
    from acd.virtual_hold_pbx import VirtualHold
    from agent_console.desk import EngineDesk
    from agent_console.phone import PhoneService
    from crm_core.callback_intake import CallbackIntake
    from crm_core.calllog import CallLogger
    from crm_core.case_feed import CaseHistoryFollower
    from crm_core.db import Database
    from crm_core.dialer import CampaignDialer
    from crm_core.feed_ring import Feed
    from crm_core.recorder import Recorder
    from crm_core.virtual_holds import SqlVirtualHoldStore
    from crm_core.webhooks import WebhookDispatcher
    from cti.agi.fastagi import FastAgiServer
    from cti.ami.bridge import AmiBridge
    from cti.ami.dialplan import DialplanWatch
    from cti.bus import EventBus
    from cti.heartbeat import Heartbeat
    from cti.redis_lease import RoutingLease

log = logging.getLogger(__name__)
FALLBACK_SETTLE_S = 5.0  # at a stop, how long the last fallback-queue member updates may take


class StoppingEngine(Protocol):
    """What the stop reads of ``callcenter.engine.Engine`` (a protocol: the engine imports this module)."""

    _web: HttpListener | None
    _standby_web: StandbyWeb | None
    _metrics_listener: HttpListener | None
    _closing_streams: asyncio.Event
    fenced: asyncio.Event
    app: FastAPI | None
    routing_lease: RoutingLease | None
    agi: FastAgiServer
    heartbeat: Heartbeat
    dialplan: DialplanWatch
    acd: AcdService
    virtual_hold: VirtualHold
    dialer: CampaignDialer
    phone: PhoneService
    fallback_members: FallbackMembers
    survey_invites: SurveyInvites
    ami: AmiBridge
    webhooks: WebhookDispatcher
    case_changes: CaseHistoryFollower
    bus: EventBus
    logger: CallLogger
    recorder: Recorder
    feed: Feed
    callback_intake: CallbackIntake
    desk: EngineDesk
    vhold_store: SqlVirtualHoldStore
    db: Database


async def stop_listener(listener: HttpListener | StandbyWeb | None) -> None:
    if listener is not None:
        await listener.stop()


def stop_steps(engine: StoppingEngine) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    """The engine's parts to stop, each named for the log, in order."""
    return [
        # An event stream never ends on its own, and the web server's stop waits for every
        # response: an integration's reader held the stop until it went away.
        ("the event streams", lambda: end_streams(engine)),
        ("the web server", lambda: stop_listener(engine._web)),
        ("the standby's web listener", lambda: stop_listener(engine._standby_web)),
        ("the metrics server", lambda: stop_listener(engine._metrics_listener)),
        ("FastAGI", engine.agi.stop),
        ("the heartbeat", engine.heartbeat.stop),
        ("the dialplan watch", engine.dialplan.stop),
        ("the ACD", engine.acd.stop),  # first of the services: it offers nothing more
        # The consoles are gone (the web server first): a wrap-up under way ends now, in the call
        # log's after-call work and in the agent state history alike (docs/kpis.md).
        ("the agents' wrap-ups", lambda: end_wrap_ups(engine)),
        ("virtual hold", engine.virtual_hold.stop),
        ("the dialer", engine.dialer.stop),
        ("the console phones' credentials", lambda: revoke_phones(engine)),
        # The last logouts (a shift ending with the stop) leave app_queue's fallback queues before
        # AMI closes: app_queue must not ring them while no engine runs.
        ("the fallback queues' members", lambda: settle_fallback(engine)),
        ("the survey invitations", engine.survey_invites.stop),  # their Setvars, before AMI closes
        ("AMI", engine.ami.stop),
        ("webhooks", engine.webhooks.stop),
        ("the case follower", engine.case_changes.stop),
        ("the bus", engine.bus.stop),
        # After the bus, whose last agent states (the wrap-ups ended above) are recorded then.
        ("the agents' time", lambda: agents_time_ends(engine)),
        # After the bus, which hands them whatever it still holds (a wrap-up made as the demo
        # stopped): the call log writes it, the feed stores it.
        ("the call log", engine.logger.stop),
        # After AMI and the bus too: a recorded call that ended while the engine stopped is filed
        # (moved, listed with its pauses), and after the call log, so its interaction is there.
        ("the recorder", engine.recorder.stop),
        ("the event feed", engine.feed.stop),
        ("the callback intake", engine.callback_intake.stop),
        ("the wrap-up journal", engine.desk.journal.stop),
        ("the virtual-hold journal", engine.vhold_store.stop),
        ("the routing lease", lambda: release_lease(engine)),
        ("the database", engine.db.dispose),
    ]


async def end_streams(engine: StoppingEngine) -> None:
    engine._closing_streams.set()


async def end_wrap_ups(engine: StoppingEngine) -> None:
    if engine.fenced.is_set():
        log.info("wrap-ups under way left to the node that routes now")
        return
    await engine.acd.end_wrap_ups()


async def agents_time_ends(engine: StoppingEngine) -> None:
    """No engine counts the agents' time from now on: the state history says so (docs/kpis.md)."""
    if engine.fenced.is_set() or engine.app is None:  # the node that routes now owns the agents
        return
    svc = engine.app.state.supervisor
    await svc.engine_stopping([a.agent_id for a in engine.acd.agents() if a.state is not AgentState.LOGGED_OUT])
    await svc.rows.stop()


async def revoke_phones(engine: StoppingEngine) -> None:
    if engine.routing_lease is not None and not engine.routing_lease.held:
        return  # a standby that never took over issued none; those in AstDB are the routing node's
    if engine.fenced.is_set():
        # Another node routes and serves the consoles now, and the passwords in AstDB are the ones
        # it issued (it cleared this node's at its start): clearing the family would log its
        # agents' browser phones out at their next REGISTER.
        log.info("console phone credentials left to the node that routes now")
        return
    try:
        await engine.phone.revoke_all()
    except Exception as err:  # AMI may be gone already; the next start revokes them too
        log.warning("console phone credentials not revoked at the stop (%s); the next start revokes them",
                    type(err).__name__)


async def settle_fallback(engine: StoppingEngine) -> None:
    with contextlib.suppress(TimeoutError):  # bounded: AMI may be gone
        async with asyncio.timeout(FALLBACK_SETTLE_S):
            await engine.fallback_members.wait_synced()


async def release_lease(engine: StoppingEngine) -> None:
    if engine.routing_lease is not None:
        await engine.routing_lease.release()

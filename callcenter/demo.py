"""The live demo: demo callers through the real Asterisk and bot agents that answer and wrap up.

    demo = Demo(engine, callers_per_minute=6, bot_agents=6)
    await demo.start()      # bots log in and go ready, callers start arriving
    demo.summary()          # {"in_ivr": .., "waiting": .., "talking": .., "handled": .., "abandoned": ..}
    await demo.stop()       # no new callers, demo calls hung up, bots logged out

Callers are Local channels ``Local/5002@cti-inbound/n`` (the always-open demo line) whose other
half waits in ``cti-sim-caller``; their keys go in as AMI PlayDTMF on that half, so the IVR hears
real DTMF. Most callers use a seeded customer's number (identified by caller ID, straight to the
menu); some call from unknown numbers and key a demo account and PIN. Bot agents are ordinary
agents acting through the engine's desk (the same API the console uses): log in, ready, talk,
hang up, wrap up with a disposition and notes, now and then a break, and now and then a callback
due a few minutes later (so the callback list and the wallboard's callback tiles fill as in a
real centre). Agents above the bots are left for a person to log in as.

The counters come from the bus only (``DemoCounts``, a pure state machine per call), so they count
every call the engine sees, the person's own included.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from acd.events import AgentCallUpdate
from agent_console.ports import WrapUpInput
from cti.errors import CtiError
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, IvrFinished, QueueEntered, QueueLeft, WrapUpDone
from cti.tasks import TaskSet, cancel_and_wait

log = logging.getLogger(__name__)

DEMO_CAMPAIGN = "demo-renewals"  # the preview campaign the demo starts (the console's Next customer card)

DEMO_DNIS = "5002"  # config/ivr/demo.yaml: always open
# Demo accounts for unknown callers (crm_core.seed): 100001/1234, 100002..100010/1002..1010.
DEMO_ACCOUNTS = (("100001", "1234"), *((f"1000{n:02d}", f"10{n:02d}") for n in range(2, 11)))
MENU_KEYS = (("1", 5), ("2", 3), ("3", 2), ("0", 1))  # support, billing, sales, operator; weights
NOTES = ("Answered the question", "Explained the invoice", "Reset the password", "Sent the brochure",
         "Customer will call back", "Escalated to second level", "Updated the address")
# Waiting that long and nobody answered: the caller gives up even when patient.
MAX_CALL_S = 600.0
# What callers say once an agent answers: spoken by `cti ivr prompts` (config/ivr/prompts.tsv).
DEMO_PHRASES = tuple(f"cti/demo_caller_{n}" for n in range(1, 5))


class Phase(enum.Enum):
    IVR = "in_ivr"
    WAITING = "waiting"
    TALKING = "talking"
    AFTER = "after"  # ended or left the queue; kept until CallEnded


# (phase before, event kind) -> phase after; any other step is ignored (events of calls the demo
# did not see from the start, e.g. after a restart), never an error: the counters are a display.
_STEPS: dict[tuple[Phase | None, str], Phase] = {
    (None, "arrived"): Phase.IVR,
    (Phase.IVR, "queue"): Phase.WAITING,
    (None, "queue"): Phase.WAITING,
    (Phase.IVR, "ivr_done"): Phase.AFTER,
    (Phase.WAITING, "connected"): Phase.TALKING,
    (None, "connected"): Phase.TALKING,
    (Phase.WAITING, "left"): Phase.AFTER,
    (Phase.TALKING, "connected"): Phase.TALKING,  # a transfer connects the call again
    # Back in a queue while it talked: its agent's softphone was lost (acd.reconnect puts it back),
    # or a transfer to a queue. It waits again.
    (Phase.TALKING, "queue"): Phase.WAITING,
}


class DemoCounts:
    """Calls in IVR / waiting / talking now, and handled / abandoned so far, from journey events.
    Each call counts once (docs/kpis.md): answered at its first answer, handled at its first
    wrap-up, whatever the number of agents it reached (a put-back call, a transfer); outbound calls
    are neither."""

    def __init__(self) -> None:
        self.phase: dict[str, Phase] = {}
        self.totals: Counter[str] = Counter()
        self._abandoned: set[str] = set()  # the ACD's QueueLeft and the model's CallEnded race
        # Inbound calls seen arriving or queued, until they are handled or end unanswered; those
        # answered among them, until their first wrap-up.
        self._inbound: set[str] = set()
        self._answered: set[str] = set()
        self._handled: set[str] = set()  # handled while the call goes on (put back, transferred)

    def _abandon(self, linkedid: str) -> None:
        if linkedid not in self._abandoned:
            self._abandoned.add(linkedid)
            self.totals["abandoned"] += 1

    def _step(self, linkedid: str, kind: str) -> None:
        after = _STEPS.get((self.phase.get(linkedid), kind))
        if after is not None:
            self.phase[linkedid] = after

    def apply(self, ev: Event) -> None:
        if isinstance(ev, CallArrived):
            if ev.direction == "inbound":
                self.totals["calls"] += 1
                self._inbound.add(ev.linkedid)
                self._step(ev.linkedid, "arrived")
        elif isinstance(ev, IvrFinished):
            if ev.outcome == "queue":
                self._step(ev.linkedid, "queue")
            else:
                if ev.outcome == "abandoned":
                    self._abandon(ev.linkedid)
                self._step(ev.linkedid, "ivr_done")
        elif isinstance(ev, QueueEntered):
            if ev.linkedid not in self._handled:  # a caller queued while no engine ran arrived unseen
                self._inbound.add(ev.linkedid)
            self._step(ev.linkedid, "queue")
        elif isinstance(ev, CallConnected):
            if ev.linkedid in self._inbound and ev.linkedid not in self._answered:
                self._answered.add(ev.linkedid)
                self.totals["answered"] += 1
            self._step(ev.linkedid, "connected")
        elif isinstance(ev, QueueLeft):
            if ev.reason == "abandoned":
                self._abandon(ev.linkedid)
            self._step(ev.linkedid, "left")
        elif isinstance(ev, WrapUpDone):
            if ev.linkedid in self._answered:  # its first wrap-up: the call is done with
                self._answered.discard(ev.linkedid)
                self._inbound.discard(ev.linkedid)
                self.totals["handled"] += 1
                if ev.linkedid in self.phase:
                    self._handled.add(ev.linkedid)
        elif isinstance(ev, CallEnded):
            self._handled.discard(ev.linkedid)
            if ev.linkedid not in self._answered:
                self._inbound.discard(ev.linkedid)
            if self.phase.pop(ev.linkedid, None) in (Phase.IVR, Phase.WAITING):
                self._abandon(ev.linkedid)  # the caller hung up before an agent answered

    def summary(self) -> dict[str, int]:
        now = Counter(p.value for p in self.phase.values())
        return {"in_ivr": now["in_ivr"], "waiting": now["waiting"], "talking": now["talking"],
                "handled": self.totals["handled"], "abandoned": self.totals["abandoned"]}


@dataclass
class _Caller:
    number: str
    known: bool
    account: tuple[str, str] | None
    key: str
    patience_s: float
    channel: str | None = None
    linkedid: str | None = None


class Demo:
    """Demo callers and bot agents on a started ``callcenter.engine.Engine``."""

    def __init__(self, engine: Any, *, callers_per_minute: float = 6.0, bot_agents: int = 6,
                 talk_s: tuple[float, float] = (20.0, 60.0), wrap_s: tuple[float, float] = (3.0, 10.0),
                 abandon_ratio: float = 0.15, patience_s: tuple[float, float] = (10.0, 40.0),
                 unknown_ratio: float = 0.2, break_ratio: float = 0.1, break_s: tuple[float, float] = (10.0, 30.0),
                 callback_ratio: float = 0.1, callback_in_s: tuple[float, float] = (60.0, 300.0),
                 max_callers: int = 50, seed: int | None = None, phrases: tuple[str, ...] = DEMO_PHRASES) -> None:
        if callers_per_minute < 0 or bot_agents < 0:
            raise ValueError("callers_per_minute and bot_agents must not be negative")
        self.engine = engine
        self.callers_per_minute = callers_per_minute
        self.bot_agents = bot_agents
        self.talk_s, self.wrap_s, self.break_s, self.patience_s = talk_s, wrap_s, break_s, patience_s
        self.abandon_ratio, self.unknown_ratio, self.break_ratio = abandon_ratio, unknown_ratio, break_ratio
        self.callback_ratio, self.callback_in_s = callback_ratio, callback_in_s
        self.max_callers = max_callers
        self.phrases = phrases
        self.rng = random.Random(seed)
        self.counts = DemoCounts()
        self.bots = [str(1001 + n) for n in range(bot_agents)]
        self.placed = 0
        self.failed = 0
        self._numbers: list[str] = []
        self._dispositions: list[str] = []
        self._waiters: dict[tuple[str, str], list[asyncio.Future[Event]]] = {}
        # Tracked until they end, a failure logged with the task's name (cti.tasks).
        self._callers = TaskSet(log, "demo: %s failed")
        self._bots = TaskSet(log, "demo: %s failed")
        self._bot_tasks: dict[str, asyncio.Task[None]] = {}  # each bot's current work (a new one replaces it)
        self._demo_calls: dict[str, _Caller] = {}
        self._placed_ids: set[str] = set()
        self._arrivals: asyncio.Task[None] | None = None
        self._running = False

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        eng = self.engine
        for kind in (CallArrived, IvrFinished, QueueEntered, CallConnected, QueueLeft, WrapUpDone, CallEnded):
            eng.bus.subscribe(kind, self._on_journey, name=f"demo.{kind.__name__}")
        eng.bus.subscribe(AgentCallUpdate, self._on_agent_call, name="demo.bots")
        self._numbers = await self._customer_numbers()
        await self._preview_campaign()
        self._running = True
        if self.bots:
            self._dispositions = [c.code for c in (await eng.desk.catalog(self.bots[0])).dispositions] or ["resolved"]
        for agent in self.bots:
            try:
                eng.desk.phone_overrides[agent] = "sim"  # bots answer on the simulated phone
                await eng.desk.login_queues(agent, [])
                await eng.desk.set_ready(agent)
            except CtiError as err:
                log.warning("demo: bot %s could not log in: %s", agent, err.message)
        if self.callers_per_minute > 0:
            self._arrivals = asyncio.create_task(self._arrive(), name="demo-arrivals")

    async def stop(self) -> None:
        """No new callers; every demo call hung up; bots logged out. Waits for Asterisk to confirm."""
        self._running = False
        await cancel_and_wait(self._arrivals)
        # Cancelled at once, as before; a cancellation of stop() itself propagates (cti.tasks).
        await self._bots.stop()
        await self._callers.stop()
        # Each caller's own task hung its channel up; whatever is left (a call answered while
        # stopping, an agent leg) goes now, checked against Asterisk's view through the call model.
        # An offer made just before the stop may not have its agent leg yet: its ring ends first
        # (the bot answers, or the ACD hangs the leg up as its caller is gone).
        for attempt in range(200):
            names = self._leftover_channels()
            if not names and not self.engine.acd.rings_in_flight():
                break
            if attempt % 10 == 0:
                for name in names:
                    with contextlib.suppress(CtiError):
                        await self.engine.ami.control.hangup(name)
            await asyncio.sleep(0.1)
        # A bot still in wrap-up finishes it (the CRM gets its disposition), then logs out.
        drain = getattr(self.engine.bus, "drain", None)
        if drain is not None:
            await drain()
        for agent, call_id in [k for k in self.engine.acd.wrapups if k[0] in self.bots]:
            with contextlib.suppress(CtiError):
                await self.engine.desk.wrap_up(agent, call_id, WrapUpInput(
                    disposition=self.rng.choice(self._dispositions), notes="Demo stopped during wrap-up"))
        for agent in self.bots:
            with contextlib.suppress(CtiError):
                await self.engine.desk.logout_queues(agent, [])

    def summary(self) -> dict[str, Any]:
        return {**self.counts.summary(), "demo_placed": self.placed}

    # -- bus ------------------------------------------------------------------------------------------
    async def _on_journey(self, ev: Event) -> None:
        self.counts.apply(ev)
        linkedid = getattr(ev, "linkedid", None)
        if linkedid is None:
            return
        for fut in self._waiters.pop((type(ev).__name__, linkedid), []):
            if not fut.done():
                fut.set_result(ev)

    def _wait_for(self, kind: type[Event], linkedid: str) -> asyncio.Future[Event]:
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault((kind.__name__, linkedid), []).append(fut)
        return fut

    async def _on_agent_call(self, ev: AgentCallUpdate) -> None:
        if ev.agent_id not in self.bots or not self._running:
            return
        if ev.status == "talking":
            self._bot_task(ev.agent_id, self._talk(ev.agent_id, ev.linkedid))
        elif ev.status == "ended":
            self._bot_task(ev.agent_id, self._wrap_up(ev.agent_id, ev.linkedid))

    def _bot_task(self, agent: str, work: Any) -> None:
        old = self._bot_tasks.get(agent)
        if old is not None and not old.done():
            old.cancel()
        self._bot_tasks[agent] = self._bots.spawn(work, f"demo-bot-{agent}")

    # -- bots -----------------------------------------------------------------------------------------
    async def _talk(self, agent: str, call_id: str) -> None:
        await asyncio.sleep(self.rng.uniform(*self.talk_s))
        with contextlib.suppress(CtiError):  # the caller may have hung up first
            await self.engine.desk.hangup(agent, call_id)

    async def _wrap_up(self, agent: str, call_id: str) -> None:
        await asyncio.sleep(self.rng.uniform(*self.wrap_s))
        pause = self.rng.random() < self.break_ratio
        callback_at = time.time() + self.rng.uniform(*self.callback_in_s) \
            if self.rng.random() < self.callback_ratio else None
        wrap = WrapUpInput(disposition=self.rng.choice(self._dispositions), notes=self.rng.choice(NOTES),
                           resolved=self.rng.random() < 0.7, not_ready_reason="break" if pause else None,
                           callback_at=callback_at)
        try:
            await self.engine.desk.wrap_up(agent, call_id, wrap)
        except CtiError as err:
            log.warning("demo: bot %s could not wrap up %s: %s", agent, call_id, err.message)
            return
        if pause:
            await asyncio.sleep(self.rng.uniform(*self.break_s))
            with contextlib.suppress(CtiError):
                await self.engine.desk.set_ready(agent)

    # -- callers --------------------------------------------------------------------------------------
    async def _preview_campaign(self) -> None:
        """A running preview campaign of the general queue (agents 7 and 8 are in it) with a dozen
        demo customers to call back, so the console's Next customer card has contacts (once: a
        database that has the campaign keeps it, worked or not)."""
        from sqlalchemy import select

        from acd.pacing import DialMode
        from crm_core import campaigns
        from crm_core.campaign_models import Campaign
        from crm_core.campaign_rules import CampaignIn, Window
        from crm_core.models import Customer, CustomerPhone

        if "general" not in self.engine.acd.queue_names():  # a configuration of one's own
            return
        async with self.engine.db.session() as s:
            if await s.scalar(select(Campaign.id).where(Campaign.name == DEMO_CAMPAIGN)) is not None:
                return
            found = (await s.execute(select(CustomerPhone.e164, Customer.id, Customer.name)
                                     .join(Customer, Customer.id == CustomerPhone.customer_id)
                                     .where(CustomerPhone.e164.like("+861%")).order_by(Customer.id).limit(12))).all()
            if not found:
                return
            campaign = await campaigns.create_campaign(session=s, spec=CampaignIn(
                name=DEMO_CAMPAIGN, queue="general", mode=DialMode.PREVIEW, timezone="Asia/Shanghai",
                windows=(Window.model_validate({"days": list(range(7)), "start": "00:00", "end": "24:00"}),),
                script="Hello, this is the demo company calling: your plan renews next month. "
                       "May I tell you about this year's offer?"))
            await campaigns.add_contacts(session=s, campaign=campaign, rows=[
                (n, {"number": number, "name": name, "customer_id": str(cid)})
                for n, (number, cid, name) in enumerate(found, start=1)])
            await campaigns.change_state(session=s, campaign=campaign, event="start", actor="demo")
        log.info("demo: preview campaign %s started with %d contacts", DEMO_CAMPAIGN, len(found))

    async def _customer_numbers(self) -> list[str]:
        from sqlalchemy import select

        from crm_core.models import CustomerPhone

        async with self.engine.db.session() as s:
            found = (await s.scalars(select(CustomerPhone.e164).limit(500))).all()
        # Mobile numbers only: they are what a caller ID carries.
        return sorted({n for n in found if n and n.startswith("+861")}) or sorted(set(found))

    def _new_caller(self) -> _Caller:
        rng = self.rng
        known = bool(self._numbers) and rng.random() >= self.unknown_ratio
        number = rng.choice(self._numbers) if known else f"+8617{rng.randrange(10**9):09d}"
        keys, weights = [key for key, _ in MENU_KEYS], [weight for _, weight in MENU_KEYS]
        abandons = rng.random() < self.abandon_ratio
        return _Caller(number=number, known=known, account=None if known else rng.choice(DEMO_ACCOUNTS),
                       key=rng.choices(keys, weights)[0],
                       patience_s=rng.uniform(*self.patience_s) if abandons else MAX_CALL_S)

    async def _arrive(self) -> None:
        """A Poisson process: exponential gaps at the configured rate."""
        rate_per_s = self.callers_per_minute / 60.0
        while self._running:
            await asyncio.sleep(self.rng.expovariate(rate_per_s))
            if len(self._callers) >= self.max_callers:
                continue
            self._callers.spawn(self._call(self._new_caller()), "demo-caller")

    async def _call(self, caller: _Caller) -> None:
        control = self.engine.ami.control
        result = await control.originate(f"Local/{DEMO_DNIS}@cti-inbound/n", context="cti-sim-caller", exten="s",
                                         caller_id=f"<{caller.number}>", timeout_ms=10000)
        self.placed += 1
        if not result.success or not result.channel or not result.linkedid:
            self.failed += 1
            log.warning("demo: caller %s not placed: %s", caller.number, result.reason)
            return
        caller.channel, caller.linkedid = result.channel, result.linkedid
        self._placed_ids.add(result.linkedid)
        self._demo_calls[result.linkedid] = caller
        ended = self._wait_for(CallEnded, result.linkedid)
        try:
            await self._through_ivr(caller, ended)
            await self._wait_and_talk(caller, ended)
        finally:
            if not ended.done():
                with contextlib.suppress(CtiError):
                    await control.hangup(caller.channel)
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(ended), 5.0)
            self._demo_calls.pop(result.linkedid, None)
            for key in [k for k in self._waiters if k[1] == result.linkedid]:
                for fut in self._waiters.pop(key):
                    fut.cancel()

    async def _keys(self, caller: _Caller, digits: str, gap_s: float = 0.25) -> None:
        assert caller.channel is not None
        for digit in digits:
            await self.engine.ami.control.play_dtmf(caller.channel, digit)
            await asyncio.sleep(gap_s)

    async def _through_ivr(self, caller: _Caller, ended: asyncio.Future[Event]) -> None:
        """Key what the IVR asks until it lets go of the call.

        The driver only hears keys while a prompt or GET DATA listens, and the demo cannot see
        which node is running, so keys are sent in rounds: the whole account, the whole PIN, the
        menu choice. A round that lands in the wrong place costs one retry of that node (login
        failed -> ask again, or the operator after the retries: a real caller's path too)."""
        assert caller.linkedid is not None
        finished = self._wait_for(IvrFinished, caller.linkedid)
        arrived = self._wait_for(CallArrived, caller.linkedid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(arrived), 10.0)
        # The greeting plays first; keys during it would be lost or cut the greeting short.
        await asyncio.sleep(2.5)
        rounds = 0
        while not finished.done() and not ended.done() and rounds < 40:
            rounds += 1
            with contextlib.suppress(CtiError):
                if caller.account is not None and rounds % 4 == 1:
                    account, pin = caller.account
                    await self._keys(caller, account)
                    await asyncio.sleep(1.0)
                    await self._keys(caller, pin)
                    await asyncio.sleep(1.0)
                await self._keys(caller, caller.key, gap_s=0)
            await asyncio.wait({finished, ended}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)

    async def _wait_and_talk(self, caller: _Caller, ended: asyncio.Future[Event]) -> None:
        assert caller.linkedid is not None
        if ended.done():
            return
        connected = self._wait_for(CallConnected, caller.linkedid)
        await asyncio.wait({connected, ended}, timeout=caller.patience_s, return_when=asyncio.FIRST_COMPLETED)
        if not connected.done():
            return  # out of patience: the finally of _call hangs up (an abandoned call)
        await self._speak(caller)
        # Talking: the agent normally ends the call; a caller does after a while anyway.
        await asyncio.wait({ended}, timeout=max(self.talk_s[1] * 2, 30.0))

    async def _speak(self, caller: _Caller) -> None:
        """The caller talks to whoever answered: its own half leaves the silent cti-sim-caller for
        cti-demo-caller-talk, which says two of the phrases, pauses and says them again."""
        if not self.phrases or caller.channel is None:
            return
        said = "&".join(self.rng.sample(self.phrases, min(2, len(self.phrases))))
        control = self.engine.ami.control
        with contextlib.suppress(CtiError):  # the caller may have hung up meanwhile
            await control.set_var(caller.channel, "CTI_SAY", said)
            await control.redirect(caller.channel, "cti-demo-caller-talk", "s")

    # -- cleanup --------------------------------------------------------------------------------------
    def _leftover_channels(self) -> list[str]:
        phones = self.engine.acd.phones
        prefixes = [f"Local/{DEMO_DNIS}@cti-inbound-"] + [phones[b].channel_prefix for b in self.bots if b in phones]
        return [ch.name for call in self.engine.ami.model.calls() for ch in call.live
                if call.linkedid in self._placed_ids or ch.name.startswith(tuple(prefixes))]

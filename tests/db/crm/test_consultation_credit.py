"""A consulted agent's consultation in the reports' per-agent rows (docs/kpis.md, *Transferred calls*).

Agent 1001 answers a caller and consults 1002 (attended transfer to an agent, through the ACD), the
caller on hold. 1002's talk with 1001 (and with the caller in a conference) is work on this caller's
call: their talk, as the agent state history counts them on call. The ACD (``AcdService`` with a
fake PBX, its router steps carried out) publishes the consultation, the call logger stores it, the
reports read it back and the supervisor's agent clock counts the same agents' states: each agent's
AHT x handled calls is their on-call and wrap-up time. Before, 1002's consultation was in no
figure but occupancy (the call log had no segment of it).

The call's own figures count the caller's time once: the consultation is 1001's hold (the caller's),
a conference 1001's talk; the call's handle time is the agents' parts less the consultation's
seconds, which two agents worked at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.events import AgentStateChanged
from acd.kpis import interval_report
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.supervisor.agents import AgentClock
from agent_console.supervisor.records import load_records
from crm_core.calllog import CallLogger
from crm_core.db import Database
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.journey import CallArrived, CallEnded
from tests.helpers import until

T0 = 1_790_000_000.0
L = "consult.1"
WRAP_UP_S = 10.0


class _Phones(FakeCallControl):
    """Each agent's phone answers when the test says so (``answer``), at the test's clock."""

    def __init__(self) -> None:
        super().__init__()
        self.ringing: dict[str, asyncio.Future[None]] = {}

    async def originate(self, channel: str, **kw: object) -> OriginateResult:
        self.ringing[channel] = asyncio.get_running_loop().create_future()
        await self.ringing[channel]
        await super().originate(channel, **kw)  # type: ignore[arg-type]
        return OriginateResult(True, 4, channel=f"{channel}-leg")

    async def answer(self, agent: str) -> None:
        channel = await until(lambda: next((c for c, f in self.ringing.items() if agent in c and not f.done()), None))
        self.ringing[channel].set_result(None)


class _Rig:
    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.now = T0
        self.control = _Phones()
        self.bus = InProcessBus()
        self.acd = AcdService(Router([QueueConfig("support", wrap_up_s=WRAP_UP_S)]), self.control, self.bus,
                              clock=lambda: self.now)
        self.logger = CallLogger(db, tmp_path)
        self.clock = AgentClock()

    async def on_state(self, ev: AgentStateChanged) -> None:
        self.clock.changed(ev.agent_id, ev.state, ev.since, ev.phone_reachable)

    def at(self, ts: float) -> None:
        self.now = T0 + ts

    async def hang_up(self) -> None:
        """The caller hangs up now: the ACD (its follower) ends the agents' parts at this time."""
        await self.bus.publish(CallEnded(ts=self.now, linkedid=L))
        await self.bus.drain()


async def _transfer_started(rig: _Rig) -> None:
    """1001 answers at 15 (5 s in queue), puts the caller on hold at 60 to consult 1002, who answers at 65."""
    acd = rig.acd
    await acd.agent_login("1001", {}, ["support"], ready=True)
    await rig.bus.publish(CallArrived(ts=rig.now, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"))
    rig.at(10.0)
    await acd.enqueue(LiveCall(linkedid=L, caller_channel="PJSIP/trunk-1", caller_number="13800138000",
                               queue="support"))
    rig.at(15.0)
    await rig.control.answer("1001")
    await until(lambda: acd.calls[L].status == "talking")
    rig.at(20.0)
    await acd.agent_login("1002", {}, ["support"], ready=True)
    rig.at(60.0)
    await acd.actions.transfer(L, target_kind="agent", target="1002", kind="attended", note="refund")
    rig.at(65.0)
    await rig.control.answer("1002")
    await until(lambda: (c := acd.agent_call("1002", L)) is not None and c.status == "consulting")


async def _completed(rig: _Rig) -> None:
    """1001 completes the transfer at 90; the caller talks with 1002 until 200."""
    rig.at(90.0)
    await rig.acd.actions.hangup(L)
    rig.at(200.0)
    await rig.hang_up()


async def _conference(rig: _Rig) -> None:
    """A conference at 80; 1001 leaves it at 100, 1002 keeps the caller until 200."""
    rig.at(80.0)
    await rig.acd.actions.conference(L)
    rig.at(100.0)
    await rig.acd.actions.hangup(L)
    rig.at(200.0)
    await rig.hang_up()


async def _caller_left(rig: _Rig) -> None:
    """The caller hangs up at 90, during the consultation: both agents wrap up."""
    rig.at(90.0)
    await rig.hang_up()


async def _cancelled(rig: _Rig) -> None:
    """1001 cancels the consultation at 75 (1002 is available at once) and talks with the caller until 120."""
    rig.at(75.0)
    await rig.acd.actions.cancel_consult(L)
    rig.at(120.0)
    await rig.hang_up()


Part = tuple[float, float, float]  # talk, hold, ACW
# scenario -> (what happens after the consultation began, 1001's part, 1002's part, the call's talk and hold)
CASES: Mapping[str, tuple[Callable[[_Rig], Awaitable[None]], Part, Part, tuple[float, float]]] = {
    # 1001: talk 15..90 less the hold 60..90; 1002: the consultation 65..90, then the caller 90..200.
    "completed": (_completed, (45.0, 30.0, 10.0), (25.0 + 110.0, 0.0, 10.0), (45.0 + 110.0, 30.0)),
    # 1001: talk 15..100 less the hold 60..80; 1002: the consultation and conference 65..100, then 100..200.
    "conference": (_conference, (65.0, 20.0, 10.0), (35.0 + 100.0, 0.0, 10.0), (65.0 + 100.0, 20.0)),
    # 1001: talk 15..90 less the hold 60..90; 1002: the consultation 65..90, then wraps up 90..100.
    "caller left": (_caller_left, (45.0, 30.0, 10.0), (25.0, 0.0, 10.0), (45.0, 30.0)),
    # 1001: talk 15..120 less the hold 60..75; 1002: the consultation 65..75, available at once.
    "cancelled": (_cancelled, (90.0, 15.0, 10.0), (10.0, 0.0, 0.0), (90.0, 15.0)),
}


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_the_consulted_agents_consultation_is_their_talk(db: Database, tmp_path: Path, kind: str) -> None:
    then, first, second, (talk, hold) = CASES[kind]
    rig = _Rig(db, tmp_path)
    rig.acd.subscribe()
    rig.logger.subscribe(rig.bus)
    rig.bus.subscribe(AgentStateChanged, rig.on_state, name="test.agent_clock")
    await rig.logger.start()
    await rig.bus.start()
    try:
        await _transfer_started(rig)
        await then(rig)
        for ts in range(210, 310, 10):  # every wrap-up runs out on its timer
            rig.at(float(ts))
            await rig.acd.decide(rig.acd.router.tick)
        for agent in ("1001", "1002"):
            await rig.acd.set_not_ready(agent, "lunch")
        await rig.bus.drain()
        await rig.logger.flush()
    finally:
        await rig.bus.stop()
        await rig.logger.stop()

    records = await load_records(db, T0 - 3600, T0 + 3600)
    (call,) = records
    # The call counts the caller's time once: the consultation is the caller's hold (1001's).
    assert (call.talk_s, call.hold_s, call.wait_s) == (pytest.approx(talk), pytest.approx(hold), pytest.approx(5.0))
    by_agent = {row.key: row.kpis for row in interval_report(records, interval="day", tz="UTC", group_by="agent")}
    assert set(by_agent) == {"1001", "1002"}
    assert (by_agent["1001"].handled, by_agent["1001"].aht_s) == (1, pytest.approx(sum(first)))
    assert (by_agent["1002"].handled, by_agent["1002"].aht_s) == (1, pytest.approx(sum(second)))
    assert (by_agent["1001"].answered, by_agent["1002"].answered) == (1, 0)  # the queue's answer is 1001's
    # Each agent's handle time in the reports is their on-call and wrap-up time in the state history.
    times: dict[str, float] = {}
    for t in rig.clock.times(T0 + 300.0, since=T0):  # per 15-minute bucket
        times[t.agent] = times.get(t.agent, 0.0) + t.handle_s
    assert times == {"1001": pytest.approx(sum(first)), "1002": pytest.approx(sum(second))}
    # The call's handle time: every agent's part, the consultation's seconds (two agents at once) once.
    (total,) = [row.kpis for row in interval_report(records, interval="day", tz="UTC")]
    assert (total.handled, total.aht_s) == (1, pytest.approx(talk + hold + first[2] + second[2]))

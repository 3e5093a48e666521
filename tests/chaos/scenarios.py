"""Faults under Local-channel traffic through the real engine, a real Asterisk and a real
PostgreSQL: the PBX killed with SIGKILL and restarted; PostgreSQL stopped for ~20 s. Each scenario
places calls (Local/5002@cti-inbound through the IVR into the queue, answered by simulated agent
phones), injects its fault while calls are live, lets the system recover, ends every call, and
counts: calls placed at Asterisk, interactions written, lost, duplicated, channels stranded.
Used by tests/chaos and bench/chaos.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from acd.events import AgentStateChanged
from agent_console.errors import IllegalAgentAction
from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from crm_core.agent_log import AgentStateRow
from crm_core.errors import DatabaseUnavailable
from crm_core.models import Interaction
from cti.events import Event
from cti.journey import CallConnected, QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.db.crm.pg import ControlledPostgres
from tests.helpers import running_engine, until

NUMBER = "+8613800138000"  # a seeded customer


@dataclass
class ChaosResult:
    fault: str
    recovery_s: float  # fault repaired (Asterisk restarted, PostgreSQL started) -> engine back, all logged
    calls_live: int  # calls up at Asterisk when the fault hit
    expected: int  # calls placed at Asterisk
    written: int  # interactions in the database
    lost: int
    duplicated: int
    stranded: int  # channels left at Asterisk + calls left in the engine after recovery
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def report(result: ChaosResult) -> None:
    """Print the row; with CTI_CHAOS_RESULTS (bench/chaos.py), append it there as a JSON line."""
    print(f"\n{result.fault}: recovery {result.recovery_s:.2f} s, {result.calls_live} calls live, "
          f"{result.expected} placed, {result.written} written, {result.lost} lost, {result.duplicated} duplicated, "
          f"{result.stranded} stranded {result.detail}")
    out = os.environ.get("CTI_CHAOS_RESULTS")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(result.as_dict()) + "\n")


@asynccontextmanager
async def chaos_engine(pbx: ManagedPbx, settings: Settings, pg: ControlledPostgres,
                       tmp: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    s = settings.model_copy(update={"database_url": pg.url, "state_dir": tmp / "state"})
    subscribe = lambda eng: eng.bus.subscribe(Event, record, name="chaos.recorder")  # noqa: E731
    async with running_engine(pbx, s, before_start=subscribe, answer_after_s=0.3) as eng:
        yield eng, seen


async def place(eng: Engine, seen: list[Event], timeout_s: float = 30.0) -> str:
    """One caller through the IVR into the queue; returns the call's linkedid."""
    result = await eng.ami.control.originate("Local/5002@cti-inbound/n", context="cti-sim-caller", exten="s",
                                             caller_id=f"<{NUMBER}>", timeout_ms=10000)
    assert result.success, result
    lid = result.linkedid or result.uniqueid
    deadline = time.monotonic() + timeout_s
    while not any(isinstance(e, QueueEntered) and e.linkedid == lid for e in seen):
        assert time.monotonic() < deadline, f"call {lid} never reached the queue"
        await eng.ami.control.play_dtmf(str(result.channel), "1")
        await asyncio.sleep(0.7)
    assert lid is not None
    return lid


async def _login(eng: Engine, agents: list[str]) -> None:
    for a in agents:
        await eng.desk.login_queues(a, ["support", "general"])
        # Both take any support call (the demo's 1002 is a billing agent, and callers ask for a language).
        await eng.acd.set_skills(a, {**dict(eng.router.agent(a).skills), "support": 5, "zh": 5, "en": 5})
        await eng.desk.set_ready(a)


def _connected(seen: list[Event], n: int) -> bool:
    return len({e.linkedid for e in seen if isinstance(e, CallConnected)}) >= n


def journey(seen: list[Event]) -> str:
    """The calls' journey so far (for a failure message)."""
    return "\n".join(f"{e.ts:.2f} {e.name} {getattr(e, 'linkedid', '')} "
                     f"{getattr(e, 'reason', '') or getattr(e, 'cause_text', '') or getattr(e, 'agent_id', '')}"
                     for e in seen if e.name.startswith(("call.", "acd.")))


async def finish_agents(eng: Engine, agents: list[str]) -> None:
    """Hang up the agents' calls and wrap every one of them up."""
    hung: list[tuple[str, str]] = []
    for agent in agents:
        for c in list(eng.acd.agent_calls(agent)):
            if c.status in ("talking", "held"):
                with contextlib.suppress(IllegalAgentAction):  # it ended meanwhile
                    await eng.desk.hangup(agent, c.linkedid)
                    hung.append((agent, c.linkedid))
    # Each hung-up call ends (and its wrap-up begins) when the ACD hears Asterisk's hang-up: waited
    # for, where a fixed 0.5 s was slept (a wrap-up not begun yet was left out, its call stranded).
    await until(lambda: all((c := eng.acd.agent_call(a, lid)) is None or c.status == "ended" for a, lid in hung),
                10, "the hung-up calls ended")
    for (agent, lid) in list(eng.acd.wrapups):
        if agent in agents:
            await eng.desk.wrap_up(agent, lid, WrapUpInput(disposition="resolved", notes=f"chaos {lid}"))


async def count(eng: Engine, placed: list[str]) -> tuple[int, int, int]:
    """(written, lost, duplicated) interactions of the placed calls."""
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush(timeout_s=30)
    async with eng.db.session() as s:
        rows = (await s.execute(select(Interaction.linkedid, func.count()).where(Interaction.linkedid.in_(placed))
                                .group_by(Interaction.linkedid))).all()
    counts = {lid: n for lid, n in rows}
    return sum(counts.values()), sum(1 for lid in placed if lid not in counts), \
        sum(n - 1 for n in counts.values() if n > 1)


async def count_stranded(eng: Engine, pbx: ManagedPbx, settle_s: float = 10.0) -> int:
    """Channels, modelled calls and ACD calls left once the last hang-ups have had ``settle_s`` to
    land: polled until none are left (a single look after a fixed 1 s counted calls still ending on
    a loaded machine as stranded)."""
    deadline = time.monotonic() + settle_s
    while True:
        out = pbx.cli("core show channels count")
        active = int(out.split(" active channel")[0].split()[-1]) if " active channel" in out else -1
        left = max(active, 0) + len(eng.ami.model.calls()) + len(eng.acd.calls)
        if left == 0 or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)


async def pbx_kill(pbx: ManagedPbx, settings: Settings, pg: ControlledPostgres, tmp: Path) -> ChaosResult:
    """Two calls talking and one waiting when Asterisk is killed with SIGKILL; it is restarted; two
    more calls after the recovery."""
    agents = ["1001", "1002"]
    async with chaos_engine(pbx, settings, pg, tmp) as (eng, seen):
        await _login(eng, agents)
        placed = list(await asyncio.gather(*(place(eng, seen) for _ in range(3))))
        try:
            await until(lambda: _connected(seen, 2), 45)
        except AssertionError:
            raise AssertionError(journey(seen)) from None
        live = len(eng.ami.model.calls())
        pid = pbx.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(2.0)
        restart = time.monotonic()
        connects = eng.ami.client.connects
        await asyncio.to_thread(pbx.up, progress=False)
        await until(lambda: eng.ami.client.connected and eng.ami.client.connects > connects, 10, "AMI reconnected")
        recovery = time.monotonic() - restart  # Asterisk's own boot included
        await until(lambda: all(eng.router.agent(a).state.value == "wrap_up" for a in agents), 10,
                    "the cut calls' agents in wrap-up")
        await finish_agents(eng, agents)  # the cut calls' agents wrap up
        placed.extend(await asyncio.gather(place(eng, seen), place(eng, seen)))
        # 45 s: the IVR takes ~15 s, and a caller of the same customer waits for their last agent first
        # (the queue's preferred_agent_s) before any other agent is offered the call.
        await until(lambda: _connected(seen, 4), 45)
        await asyncio.sleep(1.0)
        await finish_agents(eng, agents)
        written, lost, dup = await count(eng, placed)
        async with eng.db.session() as s:
            cut = int(await s.scalar(select(func.count()).select_from(Interaction).where(
                Interaction.linkedid.in_(placed), Interaction.outcome == "system_failure")) or 0)
        stranded = await count_stranded(eng, pbx)
        return ChaosResult("pbx kill -9 + restart", recovery, live, len(placed), written, lost, dup, stranded,
                           detail=f"system_failure={cut}")


async def pg_outage(pbx: ManagedPbx, settings: Settings, pg: ControlledPostgres, tmp: Path,
                    down_s: float = 20.0) -> ChaosResult:
    """PostgreSQL stopped for ``down_s`` while calls come in, are answered and end."""
    agents = ["1001", "1002"]
    async with chaos_engine(pbx, settings, pg, tmp) as (eng, seen):
        await _login(eng, agents)
        placed = [await place(eng, seen)]
        await until(lambda: any(isinstance(e, CallConnected) for e in seen), 45)
        live = len(eng.ami.model.calls())
        stopped = time.monotonic()
        await asyncio.to_thread(pg.stop)
        await finish_agents(eng, agents[:0])  # nothing: the talking call goes on through the outage
        placed.append(await place(eng, seen))
        await until(lambda: _connected(seen, 2), 45)
        await asyncio.sleep(1.0)
        for agent in agents:  # the calls end during the outage (wrap-ups wait for the database)
            for c in list(eng.acd.agent_calls(agent)):
                if c.status in ("talking", "held"):
                    await eng.desk.hangup(agent, c.linkedid)
        placed.append(await place(eng, seen))  # a caller who waits through the rest of the outage
        await asyncio.sleep(max(0.0, down_s - (time.monotonic() - stopped)))
        await asyncio.to_thread(pg.start)
        started = time.monotonic()

        async def reachable() -> bool:
            try:
                async with eng.db.session() as s:
                    await s.scalar(select(func.count()).select_from(Interaction))
                return True
            except DatabaseUnavailable:
                return False

        while not await reachable():  # noqa: ASYNC110 (polls the database)
            await asyncio.sleep(0.1)
        await eng.logger.flush(timeout_s=60)
        recovery = time.monotonic() - started
        await until(lambda: _connected(seen, 3), 45)
        await asyncio.sleep(1.0)
        await finish_agents(eng, agents)
        written, lost, dup = await count(eng, placed)
        stranded = await count_stranded(eng, pbx)
        changes = sum(1 for e in seen if isinstance(e, AgentStateChanged))
        deadline = time.monotonic() + 20  # the supervisor's journal retries at its own pace
        while (rows := await _state_rows(eng)) != changes and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        return ChaosResult(f"postgresql down {down_s:.0f} s", recovery, live, len(placed), written, lost, dup,
                           stranded, detail=f"agent_state_rows={rows}/{changes}")


async def _state_rows(eng: Engine) -> int:
    async with eng.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(AgentStateRow)) or 0)

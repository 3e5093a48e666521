"""Occupancy on the real Asterisk: agent 1001's SIP desk phone (sipp) registers, unregisters
(REGISTER with Expires: 0) and registers again while the agent is ready. Asterisk's device state
makes the ACD say the phone became unreachable and reachable again; the supervisor's agent clock
counts that time as logged in but not available idle, and the recorded history says the same."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

from sqlalchemy import select

from acd.events import AgentPhoneReachability
from bench.e2e_sipp import sipp_auth
from crm_core.agent_log import AgentStateRow
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.settings import Settings
from cti.sip_credentials import passwords
from tests.helpers import engine_settings, running_engine, until
from tests.servers import free_port

SIPP = Path(__file__).resolve().parents[3] / "bench" / "sipp"


async def _register(pbx: ManagedPbx, work: Path, port: int, expires: int) -> None:
    """One REGISTER of 1001 with its generated password; ``expires`` 0 removes the contact."""
    secret = passwords(pbx.settings.state_dir, ["1001"])["1001"]
    inf = work / "agent.csv"
    inf.write_text(f"SEQUENTIAL\n1001;{sipp_auth('1001', secret)}\n")
    scenario = work / f"register-{expires}.xml"
    scenario.write_text((SIPP / "register.xml").read_text().replace("Expires: 3600", f"Expires: {expires}"))
    cmd = ["sipp", f"127.0.0.1:{pbx.settings.pbx.sip_port}", "-sf", str(scenario), "-i", "127.0.0.1",
           "-p", str(port), "-mi", "127.0.0.1", "-mp", str(free_port(socket.SOCK_DGRAM)), "-nostdin",
           "-timeout_error", "-inf", str(inf), "-m", "1", "-timeout", "20s"]
    reg = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, cwd=work, timeout=40, check=False)
    assert reg.returncode == 0, reg.stderr.decode()[-400:]


async def test_time_with_the_phone_unregistered_is_not_available_idle(pbx: ManagedPbx, pbx_settings: Settings,
                                                                      tmp_path: Path) -> None:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    settings = engine_settings(pbx_settings, tmp_path)
    port = free_port(socket.SOCK_DGRAM)
    async with running_engine(pbx, settings, phone_kind="sip",
                              before_start=lambda e: e.bus.subscribe(Event, record, name="test.recorder")) as eng:
        assert eng.app is not None
        svc = eng.app.state.supervisor
        await _register(pbx, tmp_path, port, 3600)
        await eng.desk.login_queues("1001", ["support"])
        # The registration can reach the engine after the login (seen in a run: a reachable event
        # before the test's own): ready only once it is known, and count from there.
        await until(lambda: eng.router.agent("1001").registered)
        await eng.desk.set_ready("1001")
        t0 = time.time()
        await asyncio.sleep(1.0)
        await _register(pbx, tmp_path, port, 0)  # the phone goes away
        await until(lambda: not eng.router.agent("1001").registered)
        off = time.time()
        await asyncio.sleep(2.0)
        await _register(pbx, tmp_path, port, 3600)  # and comes back
        await until(lambda: eng.router.agent("1001").registered)
        on = time.time()
        await asyncio.sleep(1.0)
        await eng.desk.logout_queues("1001", [])
        end = time.time()
        await eng.bus.drain()  # type: ignore[attr-defined]

        reach = [(e.reachable, e.state) for e in seen if isinstance(e, AgentPhoneReachability) and e.agent_id == "1001"
                 and e.ts >= t0]
        assert reach == [(False, "available"), (True, "available")]
        mine = [t for t in svc.agent_clock.times(end + 1, since=t0 - 60) if t.agent == "1001"]
        logged_in = sum(t.logged_in_s for t in mine)
        idle = sum(t.available_idle_s for t in mine)
        assert logged_in >= end - t0 - 0.5
        # Ready throughout, but the phone was unreachable for (about) on - off seconds: not idle.
        assert abs((logged_in - idle) - (on - off)) < 1.0, (logged_in, idle, on - off)
        # The recorded history says the same (a report of this period, or the clock after a restart).
        await svc.rows.drain()
        async with eng.db.session() as s:
            rows = (await s.scalars(select(AgentStateRow).where(AgentStateRow.agent_id == "1001")
                                    .order_by(AgentStateRow.at, AgentStateRow.id))).all()
        assert [(r.state, r.phone_reachable) for r in rows if r.state == "available"] == [
            ("available", True), ("available", False), ("available", True)]
        past = [t for t in await svc._report_agent_times(t0 - 60, end + 1) if t.agent == "1001"]
        assert abs(sum(t.available_idle_s for t in past) - idle) < 0.5

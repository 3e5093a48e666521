"""While no engine runs, Asterisk's own app_queue rings the agents' real SIP phones (agent 1001's
PJSIP endpoint, registered and answered by sipp), one call at a time per phone; the next engine
takes the fallback's calls back: a call app_queue connected stays with its agent, a caller still
waiting in app_queue is pulled back into the engine's queue, and the calls that ended meanwhile
(answered through app_queue) are in the CRM with their agent and real times."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from acd.events import AgentOffer
from bench.e2e_sipp import sipp_auth
from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid
from cti.events import Event
from cti.journey import CallConnected, CallEnded, QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from cti.sip_credentials import passwords
from tests.asterisk.recovery.restarts import Restarts
from tests.helpers import channels, engine_settings, english_customer_number, place_call, seed, until
from tests.servers import free_port

SIPP = Path(__file__).resolve().parents[3] / "bench" / "sipp"
TALK_MS = 6000  # how long the SIP phone talks before it hangs up (BYE)


def _sipp(pbx: ManagedPbx, scenario: str, port: int, work: Path, *extra: str) -> list[str]:
    return ["sipp", f"127.0.0.1:{pbx.settings.pbx.sip_port}", "-sf", str(SIPP / scenario), "-i", "127.0.0.1",
            "-p", str(port), "-mi", "127.0.0.1", "-mp", str(free_port(socket.SOCK_DGRAM)), "-nostdin",
            "-timeout_error", *extra]


@contextlib.asynccontextmanager
async def sip_phone(pbx: ManagedPbx, work: Path) -> AsyncIterator[None]:
    """Agent 1001's desk phone: registered with its generated password, answers every call after
    300 ms and hangs up after TALK_MS."""
    port = free_port(socket.SOCK_DGRAM)
    secret = passwords(pbx.settings.state_dir, ["1001"])["1001"]
    inf = work / "agent.csv"
    inf.write_text(f"SEQUENTIAL\n1001;{sipp_auth('1001', secret)}\n")
    reg = await asyncio.to_thread(subprocess.run, _sipp(pbx, "register.xml", port, work, "-inf", str(inf), "-m", "1",
                                                         "-timeout", "20s"),
                                  capture_output=True, cwd=work, timeout=40, check=False)
    assert reg.returncode == 0, reg.stderr.decode()[-400:]
    uas = subprocess.Popen(  # noqa: ASYNC220 - a long-running server process, not awaited
        _sipp(pbx, "agent_uas.xml", port, work, "-d", str(TALK_MS), "-timeout", "300s"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    try:
        yield
    finally:
        uas.terminate()
        await asyncio.to_thread(uas.wait, 10)


def _phone_legs(pbx: ManagedPbx) -> int:
    return sum(1 for c in channels(pbx) if c.name.startswith("PJSIP/1001-"))


async def test_app_queue_serves_callers_while_no_engine_runs(pbx: ManagedPbx, restarts: Restarts,
                                                             tmp_path: Path) -> None:
    await restarts.seed(away=True)
    seen = restarts.seen

    def queued() -> list[Event]:
        return [e for e in seen if isinstance(e, QueueEntered)]

    async with sip_phone(pbx, tmp_path):
        first = restarts.engine(web=True)  # web: the supervisor service records agent states
        first.desk.phone_overrides["1001"] = "sip"
        await first.start()
        number = await english_customer_number(first)
        # 1001 is logged in and ready on its SIP phone, but lacks the support skill the engine's
        # first routing step asks for: the engine lets the callers wait; app_queue ignores skills.
        await first.desk.login_queues("1001", ["support"])
        await first.acd.set_skills("1001", {"general": 1})
        await first.desk.set_ready("1001")
        await until(lambda: "1001" in pbx.cli("queue show cti-fallback-support"), what="1001 a fallback member")
        callers = [(await place_call(first, queued, number)).linkedid for _ in range(3)]
        assert not [e for e in seen if isinstance(e, AgentOffer)]
        await first.bus.drain()  # type: ignore[attr-defined]
        await first.stop()  # no engine: the heartbeat stops

        # app_queue rings 1001's phone for the first caller, then (when that call ends) the second;
        # never two calls at once on the phone (ringinuse = no, the phone's device state).
        most = 0
        deadline = time.monotonic() + 40
        first_over: float | None = None  # when the first call was seen over (it ended before)
        while True:
            over = _answered(pbx) >= 1
            if over and first_over is None:
                first_over = time.time()
            if over and _phone_up(pbx):  # the first call over, the second connected
                break
            most = max(most, _phone_legs(pbx))
            assert time.monotonic() < deadline, pbx.cli("core show channels concise")
            await asyncio.sleep(0.2)
        most = max(most, _phone_legs(pbx))
        assert most == 1, most
        assert "cti-voicemail" not in pbx.cli("core show channels concise")

        second = restarts.engine()
        second.desk.phone_overrides["1001"] = "sip"
        back = time.time()
        await second.start()
        try:
            report = second.recovery_report
            assert report is not None
            # app_queue serves callers in the order they reach it (each within check_every_s of the
            # heartbeat's timeout; QUEUE_PRIO orders those waiting together by their entry time).
            [(talking, agent)] = report.attached.items()  # app_queue connected it: it stays with 1001
            [pulled] = report.pulled_back  # still waiting in app_queue: back in the engine's queue
            [done] = [c for c in callers if c in report.closed]  # answered and ended while no engine ran
            assert agent == "1001" and {talking, pulled, done} == set(callers), report
            assert report.waiting == [pulled], report
            # When it ended (by the time it was seen over, give or take the hang-up handler's few ms),
            # not when the engine came back. app_queue may connect the next caller within a second of
            # that end, so no fixed margin before `back` tells them apart.
            assert first_over is not None, "the first call was never seen over"
            ended_s = report.ended_at[done]
            assert ended_s < back and ended_s <= first_over + 0.2, (report, first_over, back)
            assert second.router.agent("1001").state.value == "on_call"
            await second.desk.login_queues("1002", ["support"])
            await second.desk.set_ready("1002")
            await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == pulled for e in seen),
                        what="the pulled-back caller connected by the engine")
            offers = [(e.agent_id, e.linkedid) for e in seen if isinstance(e, AgentOffer)]
            assert offers == [("1002", pulled)], offers
            await until(lambda: second.router.agent("1001").state.value == "wrap_up", timeout_s=15,
                        what="1001 wrapping up the call app_queue gave it")
            pbx.cli("channel request hangup all")
            await until(lambda: not [c for c in second.ami.model.calls() if c.live], what="every channel gone")
            await second.bus.drain()  # type: ignore[attr-defined]
            await second.logger.flush()
            async with second.db.session() as s:
                a = await interaction_by_linkedid(session=s, linkedid=done)
                b = await interaction_by_linkedid(session=s, linkedid=talking)
            assert a is not None and b is not None
            assert (a.agent_id, a.outcome) == ("1001", "answered"), (a.agent_id, a.outcome)
            assert a.answered_at is not None and a.ended_at is not None
            talked = (a.ended_at - a.answered_at).total_seconds()
            assert abs(talked - TALK_MS / 1000) < 1.5, talked  # the real call, not the time to the recovery
            # the call's real end, as in the report above (not a margin before `back`: see there)
            assert _epoch(a.ended_at) <= first_over + 0.2, (a.ended_at, first_over, back)
            assert (b.agent_id, b.outcome) == ("1001", "answered")
            # The recovery's call.ended of the call app_queue served names its agent (the away record's)
            # and its customer (the IVR recognised the number), as the live path's call.ended does.
            [ended] = [e for e in seen if isinstance(e, CallEnded) and e.linkedid == done]
            assert a.customer_id is not None, a
            assert (ended.agent_id, ended.customer_id) == ("1001", a.customer_id), ended
            assert b.answered_at is not None and _epoch(b.answered_at) < back  # when app_queue's agent answered
        finally:
            await restarts.close()  # before the SIP phone goes


def _epoch(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _phone_up(pbx: ManagedPbx) -> bool:
    return any(c.name.startswith("PJSIP/1001-") and c.state == "Up" for c in channels(pbx))


def _answered(pbx: ManagedPbx) -> int:
    """How many calls agent 1001 has finished through the fallback queue."""
    found = re.search(r"has taken (\d+) call", pbx.cli("queue show cti-fallback-support"))
    return int(found.group(1)) if found else 0



async def test_agents_logged_out_just_before_a_stop_leave_the_fallback_queues(pbx: ManagedPbx, pbx_settings: Settings,
                                                                             tmp_path: Path) -> None:
    """A shift ends: every agent logs out and the engine is stopped at once. The fallback queues
    must not keep them, or app_queue would ring logged-out agents while no engine runs. Before, the
    stop closed AMI under the member updates still under way ("AMI is not connected")."""
    settings = engine_settings(pbx_settings, tmp_path)
    await seed(settings)
    eng = Engine(settings, answer_after_s=0.5, web=False)
    await eng.start()
    agents = [str(n) for n in range(1001, 1009)]
    try:
        for agent in agents:
            await eng.desk.login_queues(agent, [])  # their own queues (config/queues.yaml)
        await eng.fallback_members.wait_synced()
        assert "1008" in pbx.cli("queue show cti-fallback-sales")
        for agent in agents:
            await eng.desk.logout_queues(agent, [])
    finally:
        await eng.stop()  # in the same step as the last logout
    shown = "".join(pbx.cli(f"queue show cti-fallback-{q}") for q in ("support", "general", "billing", "sales"))
    assert not [a for a in agents if a in shown], shown

"""An engine restart while an agent who dialled from a break talks to the customer, on the real
Asterisk: the restarted engine gives them back as the dial left them, not ready "outbound" (handling
time) with the break pending (read back from the agent-state rows: the one before "outbound" holds
the break), and takes the call back as their outbound call, so its wrap-up puts them back on the
break as without the restart. A call gone by the restart gives them back at once: to the break they
dialled from, or ready if they dialled from ready (as the no-restart path's wrap-up does).

Before (on the code before this test), the restarted engine restored the last row only: "outbound"
with nothing pending, and the call was not the ACD's, so it was never wrapped up and the agent
stayed not ready "outbound" after it: the break was lost; a call gone by the restart left them
"outbound" too.

The same through a crash (SIGKILL, ``crashing_dialler``): the call's interaction is the one the dead
engine opened, closed by the restarted engine's wrap-up."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from crm_core.models import Interaction
from cti.journey import CallEnded, FarEndResult
from tests.asterisk.recovery import crashing_engine
from tests.asterisk.recovery.restarts import Restarts
from tests.helpers import until

NUMBER = "8613800138000"  # cti-sim-customer answers after 1 s


def _agent(eng: Engine) -> tuple[str, str | None, str | None]:
    view = eng.router.agent("1002")
    return view.state.value, view.reason, view.not_ready_after_call


async def _dial_then_stop(restarts: Restarts, before: str | None) -> tuple[Engine, str]:
    """1002 logged in, on ``before`` (a break; None: ready), dials; the customer answers; the engine
    stops with the call up (a clean stop leaves calls in Asterisk)."""
    await restarts.seed()
    first = await restarts.start(web=True)  # web: the supervisor records the agents' states
    await first.desk.login_queues("1002", ["support"])
    if before is None:
        await first.desk.set_ready("1002")
    else:
        await first.desk.set_not_ready("1002", before)
    linkedid = await first.desk.dial("1002", NUMBER, None)
    await until(lambda: any(isinstance(e, FarEndResult) and e.linkedid == linkedid and e.result == "answered"
                            for e in restarts.seen), what="the customer answered")
    assert _agent(first) == ("not_ready", "outbound", before)
    await first.bus.drain()  # type: ignore[attr-defined]
    await first.logger.flush()
    await first.stop()
    return first, linkedid


async def test_a_restart_during_a_dial_from_a_break_keeps_the_break_for_after_the_call(
        restarts: Restarts) -> None:
    _, linkedid = await _dial_then_stop(restarts, "lunch")
    second = await restarts.start()
    report = second.recovery_report
    assert report is not None and report.agents.get("1002") == "not_ready", report
    assert _agent(second) == ("not_ready", "outbound", "lunch")  # was ("not_ready", "outbound", None)
    call = second.acd.calls.get(linkedid)
    assert call is not None, "the own call was not taken back"
    assert (call.direction, call.agent_id, call.status, call.caller_number) == ("outbound", "1002", "talking", NUMBER)
    await asyncio.sleep(1)
    await second.desk.hangup("1002", linkedid)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in restarts.seen),
                what="the call ended")
    await until(lambda: _agent(second)[0] == "wrap_up", what="1002 wraps the call up")
    await second.desk.wrap_up("1002", linkedid, WrapUpInput(disposition="info_given"))
    assert _agent(second) == ("not_ready", "lunch", None)


@pytest.mark.parametrize(("before", "after"), [("lunch", ("not_ready", "lunch", None)),
                                               (None, ("available", None, None))])
async def test_an_own_call_gone_by_the_restart_gives_the_agent_back(
        restarts: Restarts, before: str | None, after: tuple[str, str | None, str | None]) -> None:
    _, linkedid = await _dial_then_stop(restarts, before)
    restarts.pbx.cli("channel request hangup all")  # the call ends while no engine runs
    await asyncio.sleep(1)
    second = await restarts.start()
    assert linkedid not in second.acd.calls
    assert _agent(second) == after  # was ("not_ready", "outbound", None): stuck on a call long gone


async def test_a_crash_during_a_dial_from_a_break_keeps_the_break_for_after_the_call(
        restarts: Restarts, tmp_path: Path) -> None:
    await restarts.seed()
    proc, did = await crashing_engine.start(restarts.settings, tmp_path, "tests.asterisk.recovery.crashing_dialler")
    assert did["agent"] == ["not_ready", "outbound", "lunch"]
    linkedid = did["linkedid"]
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    second = await restarts.start(web=True)
    assert _agent(second) == ("not_ready", "outbound", "lunch")
    call = second.acd.calls.get(linkedid)
    assert call is not None and (call.direction, call.caller_number) == ("outbound", NUMBER)
    await second.desk.hangup("1002", linkedid)
    await until(lambda: _agent(second)[0] == "wrap_up", what="1002 wraps the call up")
    await second.desk.wrap_up("1002", linkedid, WrapUpInput(disposition="info_given"))
    assert _agent(second) == ("not_ready", "lunch", None)
    await second.bus.drain()  # type: ignore[attr-defined]
    await second.logger.flush()
    async with second.db.session() as s:
        rows = (await s.execute(select(Interaction.direction, Interaction.agent_id, Interaction.outcome,
                                       Interaction.disposition, Interaction.ended_at.is_not(None))
                                .where(Interaction.linkedid == linkedid))).all()
    assert [tuple(r) for r in rows] == [("outbound", "1002", "answered", "info_given", True)], rows


async def test_an_own_call_whose_agent_chose_another_break_is_taken_back_and_the_break_kept(
        restarts: Restarts) -> None:
    """During the call the agent chose "training" (not ready now: the history's last row); the
    restarted engine keeps them on it and still takes their call back, so it can be hung up and
    wrapped up from the console, which leaves them on training, as without the restart. Before, the
    call was not the restarted engine's: the console could neither hang it up nor wrap it up."""
    await restarts.seed()
    first = await restarts.start(web=True)
    await first.desk.login_queues("1002", ["support"])
    await first.desk.set_not_ready("1002", "lunch")
    linkedid = await first.desk.dial("1002", NUMBER, None)
    await until(lambda: any(isinstance(e, FarEndResult) and e.linkedid == linkedid and e.result == "answered"
                            for e in restarts.seen), what="the customer answered")
    await first.desk.set_not_ready("1002", "training")
    assert _agent(first) == ("not_ready", "training", None)
    await first.bus.drain()  # type: ignore[attr-defined]
    await first.logger.flush()
    await first.stop()
    second = await restarts.start()
    assert _agent(second) == ("not_ready", "training", None)
    call = second.acd.calls.get(linkedid)
    assert call is not None and (call.direction, call.agent_id) == ("outbound", "1002"), "the call was not taken back"
    await second.desk.hangup("1002", linkedid)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in restarts.seen),
                what="the call ended")
    await second.desk.wrap_up("1002", linkedid, WrapUpInput(disposition="info_given"))
    assert _agent(second) == ("not_ready", "training", None)

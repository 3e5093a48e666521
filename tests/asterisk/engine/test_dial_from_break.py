"""An agent on a break dials a customer, on the real Asterisk: while the call is up they are not ready
"outbound" with the break pending (the supervisor sees the outbound call, and its time is handling:
docs/kpis.md); its wrap-up puts them back on the same break. Before, the dial kept the break's
reason: the call's talk counted as the break, not as handling."""

from __future__ import annotations

import asyncio
import time

from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallEnded, FarEndResult
from tests.helpers import until


async def test_a_dial_from_a_break_is_handling_then_the_break_again(engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    assert eng.app is not None
    svc = eng.app.state.supervisor
    await eng.desk.login_queues("1002", ["support"])
    await eng.desk.set_not_ready("1002", "lunch")
    dialled_at = time.time()
    linkedid = await eng.desk.dial("1002", "8613800138000", None)  # cti-sim-customer answers after 1 s
    await until(lambda: any(isinstance(e, FarEndResult) and e.linkedid == linkedid and e.result == "answered"
                            for e in seen), what="the customer answered")
    view = eng.router.agent("1002")
    assert (view.state.value, view.reason, view.not_ready_after_call) == ("not_ready", "outbound", "lunch")
    board = await until(lambda: (b := svc.wallboard.latest) and any(
        a["agent_id"] == "1002" and a["reason"] == "outbound" for a in b["agents"]) and b, what="the board")
    assert next(a for a in board["agents"] if a["agent_id"] == "1002")["state"] == "not_ready"
    await asyncio.sleep(2)
    await eng.desk.hangup("1002", linkedid)
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), what="the call ended")
    await until(lambda: eng.router.agent("1002").state.value == "wrap_up", what="1002 wraps the call up")
    await eng.desk.wrap_up("1002", linkedid, WrapUpInput(disposition="info_given"))
    view = eng.router.agent("1002")
    assert (view.state.value, view.reason, view.not_ready_after_call) == ("not_ready", "lunch", None)
    await eng.bus.drain()
    since_dial = [t for t in svc.agent_clock.window(time.time(), since=dialled_at) if t.agent == "1002"]
    assert len(since_dial) == 1, since_dial
    assert since_dial[0].handle_s > 2.0, since_dial  # the call and its wrap-up; was ~0 (the break's)

"""Trunks against a real carrier (a second Asterisk on its own ports): the carrier's calls to our
DIDs open the IVR flow each DID names, and our outbound calls leave by the routed trunk with the
presented caller ID; the carrier answers, rings out or is busy by number, and the CRM records
answered / no_answer / busy. The trunk's concurrency limit holds and the registration trunk
registers with the account from the environment."""

from __future__ import annotations

import re

from sqlalchemy import select

from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from crm_core.models import Interaction
from cti.events import Event
from cti.journey import CallArrived, FarEndResult, IvrFinished
from tests.asterisk.trunks.rig import CALLER_ID, DID_HOTLINE, DID_REG, DID_SALES, Rig
from tests.helpers import until


def _carrier_got(rig: Rig) -> list[tuple[str, str]]:
    """(number, caller id) of every call the carrier received from us, in order."""
    return re.findall(r"CARRIER-GOT ([^\s\")]+) from ([^\s\")]*)", rig.carrier_log())


def _far_end(seen: list[Event], linkedid: str) -> str | None:
    return next((e.result for e in seen if isinstance(e, FarEndResult) and e.linkedid == linkedid), None)


async def _outcome(eng: Engine, linkedid: str) -> str | None:
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        row = await s.scalar(select(Interaction).where(Interaction.linkedid == linkedid))
        assert row is not None and row.direction == "outbound"
        return row.outcome


async def _ended(eng: Engine, agent: str, linkedid: str) -> None:
    await until(lambda: (c := eng.acd.agent_call(agent, linkedid)) is not None and c.status == "ended",
                timeout_s=30, what=f"call {linkedid} ended")


async def test_each_did_opens_its_ivr_flow(rig: Rig, engine: tuple[Engine, list[Event]]) -> None:
    _, seen = engine
    for did in (DID_SALES, DID_HOTLINE):
        rig.carrier.cli(f"channel originate Local/{did}@carrier-subscriber extension s@carrier-phone")
    finished = await until(lambda: {e.flow: e for e in seen if isinstance(e, IvrFinished)}
                           if sum(isinstance(e, IvrFinished) for e in seen) >= 2 else None,
                           timeout_s=30, what="both DIDs' IVR sessions")
    arrived = {e.linkedid: e for e in seen if isinstance(e, CallArrived)}
    assert set(finished) == {"sales-line", "hotline"}
    assert arrived[finished["sales-line"].linkedid].dnis == "7001"
    assert arrived[finished["hotline"].linkedid].dnis == "7002"
    for ev in finished.values():
        assert arrived[ev.linkedid].caller_number == "+8613800000001"
        assert arrived[ev.linkedid].channel.startswith("PJSIP/carrier-ip-")  # identified as the trunk


async def test_outbound_answered_no_answer_and_busy_reach_the_crm(
        rig: Rig, engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    for agent in ("1001", "1002", "1003"):
        await eng.desk.login_queues(agent, [])  # their own queues (1003 has no support skill)
        await eng.desk.set_ready(agent)

    # Answered: a national number, normalised to E.164, leaves by carrier-ip with our caller ID.
    answered = await eng.desk.dial("1001", "013912345678", None)
    assert await until(lambda: _far_end(seen, answered), what="the carrier answering") == "answered"
    assert ("+8613912345678", CALLER_ID) in _carrier_got(rig)

    # carrier-ip allows one call at a time: a second call while the first is up never reaches it.
    before = len(_carrier_got(rig))
    limited = await eng.desk.dial("1002", "8613955556666", None)
    await _ended(eng, "1002", limited)
    assert len(_carrier_got(rig)) == before
    assert "trunk carrier-ip is at its limit of 1 calls" in rig.ours.logs(400)
    await eng.desk.wrap_up("1002", limited, WrapUpInput(disposition="info_given", notes=""))

    await eng.desk.hangup("1001", answered)
    await _ended(eng, "1001", answered)
    await eng.desk.wrap_up("1001", answered, WrapUpInput(disposition="info_given", notes=""))
    assert await _outcome(eng, answered) == "answered"

    # Rings out: our Dial gives up after dial_timeout_s (6 s), NOANSWER.
    rang = await eng.desk.dial("1001", "+8613911100001", None)
    assert await until(lambda: _far_end(seen, rang), timeout_s=20, what="the ring-out") == "no_answer"
    await _ended(eng, "1001", rang)
    await eng.desk.wrap_up("1001", rang, WrapUpInput(disposition="info_given", notes=""))
    assert await _outcome(eng, rang) == "no_answer"

    # Busy: the carrier answers the INVITE with 486.
    busy = await eng.desk.dial("1003", "13922200002", None)
    assert await until(lambda: _far_end(seen, busy), what="the busy signal") == "busy"
    await _ended(eng, "1003", busy)
    await eng.desk.wrap_up("1003", busy, WrapUpInput(disposition="info_given", notes=""))
    assert await _outcome(eng, busy) == "busy"
    got = _carrier_got(rig)
    assert ("+8613911100001", CALLER_ID) in got and ("+8613922200002", CALLER_ID) in got


async def test_registration_trunk_registers_and_carries_its_route(
        rig: Rig, engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    await until(lambda: "Registered" in rig.ours.cli("pjsip show registrations"), what="the registration")
    assert "ccreg" in rig.carrier.cli("pjsip show contacts")
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    call = await eng.desk.dial("1001", "+33612345678", None)  # prefix 33 -> carrier-reg
    assert await until(lambda: _far_end(seen, call), what="the carrier answering") == "answered"
    assert ("+33612345678", CALLER_ID) in _carrier_got(rig)
    assert "PJSIP/ccreg-" in rig.carrier.cli("core show channels")  # authenticated as our account

    # The carrier delivers a call to the registered contact: the DID opens its flow.
    rig.carrier.cli(f"channel originate Local/{DID_REG}@carrier-subscriber-reg extension s@carrier-phone")
    done = await until(lambda: next((e for e in seen if isinstance(e, IvrFinished)), None),
                       what="the IVR session of the registration trunk's DID")
    arrived = next(e for e in seen if isinstance(e, CallArrived) and e.linkedid == done.linkedid)
    assert (done.flow, arrived.dnis, arrived.caller_number) == ("sales-line", "7001", "+8613800000002")
    assert arrived.channel.startswith("PJSIP/carrier-reg-")

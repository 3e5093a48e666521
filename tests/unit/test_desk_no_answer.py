"""A phone or a number that did not answer is no fault: the desk says so with codes of their own
(``target_no_answer``: an attended transfer's number, the caller back with the agent;
``phone_no_answer``: the agent's own phone a dial rang first), 409 over REST, where every other ACD
refusal is ``illegal_agent_action``. The real desk over the real ACD, a fake PBX."""

from __future__ import annotations

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.app import status_of
from agent_console.desk import EngineDesk
from agent_console.errors import PhoneNoAnswer, TargetNoAnswer
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus


@pytest.fixture
def desk() -> tuple[EngineDesk, FakeCallControl]:
    control = FakeCallControl()
    acd = AcdService(Router([QueueConfig(name="support")]), control, InProcessBus())
    return EngineDesk(acd, db=None, bus=acd.bus), control  # type: ignore[arg-type]


async def test_a_consulted_number_that_did_not_answer_is_its_own_409(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    d, control = desk
    await d.acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001"), ready=False)
    d.acd.calls["L1"] = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138",
                                 queue="support", status="talking", agent_id="1001", agent_channel="PJSIP/1001-1")
    control.originate_result = OriginateResult(False, 3)  # Asterisk: rang out
    with pytest.raises(TargetNoAnswer) as err:
        await d.transfer("1001", "L1", kind="attended", target_kind="number", target="86950001")
    assert (err.value.code, err.value.target, status_of(err.value)) == ("target_no_answer", "86950001", 409)
    assert err.value.message == "transfer target 86950001 did not answer; the caller is back with the agent"
    assert d.acd.calls["L1"].status == "talking"  # back with the agent, as the message says


async def test_a_dial_whose_phone_did_not_answer_is_its_own_409(desk: tuple[EngineDesk, FakeCallControl]) -> None:
    d, control = desk
    await d.acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001"), ready=True)
    control.originate_result = OriginateResult(False, 3)
    with pytest.raises(PhoneNoAnswer) as err:
        await d.dial("1001", "13800138000", None)
    assert (err.value.code, status_of(err.value)) == ("phone_no_answer", 409)
    assert "the phone of agent 1001 did not answer" in err.value.message

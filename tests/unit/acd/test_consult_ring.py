"""How long a consulted number rings, and what its not answering leaves: the Originate's timeout is
the trunks' ``dial_timeout_s`` (the same limit cti-trunk-<name>'s Dial has: it used to be 30 s
whatever the trunks said), and a number that never answers puts the caller back with the agent."""

from __future__ import annotations

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.errors import AcdError, TargetNoAnswer
from acd.routing import Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.journey import HoldEnded, HoldStarted
from cti.trunks import TrunksConfig

CALLER, AGENT_LEG = "Local/s@cti-queue-00000001;2", "Local/1001@cti-sim-phone-00000002;1"
SIMULATOR = {"trunks": [{"name": "sim", "kind": "simulator"}], "outbound": {"routes": [{"trunk": "sim"}]}}


@pytest.fixture
async def acd() -> AcdService:
    bus = InProcessBus()
    service = AcdService(Router([]), FakeCallControl(), bus, clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel=CALLER, caller_number="13800000001",
                                    queue="support", status="talking", agent_id="1001", agent_channel=AGENT_LEG)
    return service


def _originates(acd: AcdService) -> list[dict[str, object]]:
    assert isinstance(acd.control, FakeCallControl)
    return [kw for method, kw in acd.control.calls if method == "originate"]


@pytest.mark.parametrize(("dial_timeout_s", "timeout_ms"), [(None, 30000), (12, 12000), (90, 90000)])
async def test_the_number_rings_as_long_as_the_trunks_let_any_number_ring(
        acd: AcdService, dial_timeout_s: int | None, timeout_ms: int) -> None:
    outbound = {**SIMULATOR["outbound"], **({"dial_timeout_s": dial_timeout_s} if dial_timeout_s else {})}
    acd.actions.routing = TrunksConfig.model_validate({**SIMULATOR, "outbound": outbound})
    await acd.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    [originate] = _originates(acd)
    assert originate["timeout_ms"] == timeout_ms and originate["context"] == "cti-consult-connect"
    assert acd.calls["c.1"].status == "consulting"


async def test_a_number_that_never_answers_puts_the_caller_back_with_the_agent(acd: AcdService) -> None:
    events: list[object] = []
    acd.bus.subscribe(HoldStarted, events.append, name="t.hold")  # type: ignore[arg-type]
    acd.bus.subscribe(HoldEnded, events.append, name="t.unhold")  # type: ignore[arg-type]
    assert isinstance(acd.control, FakeCallControl)
    acd.control.originate_result = OriginateResult(False, 3)  # Asterisk's "no answer"
    with pytest.raises(TargetNoAnswer, match="transfer target 8610557 did not answer; the caller is back") as err:
        await acd.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    assert (err.value.code, err.value.target) == ("acd_target_no_answer", "8610557")
    call = acd.calls["c.1"]
    assert (call.status, call.consult_ring, call.consult_target, call.consult_channel) == ("talking", None, None, None)
    assert [m for m, _ in acd.control.calls if m in ("hold", "originate", "unhold")] == ["hold", "originate", "unhold"]
    await acd.bus.drain()  # type: ignore[attr-defined]
    assert [type(e) for e in events] == [HoldStarted, HoldEnded]


async def test_only_a_number_is_rung_by_consult(acd: AcdService) -> None:
    with pytest.raises(AcdError, match="target_kind"):
        await acd.actions.consults.consult(acd.calls["c.1"], "queue", "support")
    assert not _originates(acd) and acd.calls["c.1"].status == "talking"

"""Click-to-dial and transfers to numbers leave by the trunk the number routes to: normalised to
E.164, the trunk and the presented caller ID named to the dialplan; an unroutable number is a 422
naming the field and nothing is dialled."""

from __future__ import annotations

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.errors import AcdError, InvalidRequest
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.trunks import TrunksConfig

ROUTES = TrunksConfig.model_validate({
    "default_region": "CN",
    "trunks": [{"name": "cn", "kind": "ip", "host": "192.0.2.10"}, {"name": "sim", "kind": "simulator"}],
    "outbound": {"routes": [{"prefix": "86", "trunk": "cn"}, {"prefix": "8699", "trunk": "sim"}],
                 "caller_id": {"default": "+861058880000", "queues": {"sales": "+861058880001"}}},
})


@pytest.fixture
async def acd() -> AcdService:
    bus = InProcessBus()
    service = AcdService(Router([]), FakeCallControl(), bus, clock=lambda: 1000.0)
    service.actions.routing = ROUTES
    service.subscribe()
    await bus.start()
    return service


def _control(acd: AcdService) -> FakeCallControl:
    assert isinstance(acd.control, FakeCallControl)
    return acd.control


async def test_click_to_dial_normalises_and_names_the_trunk(acd: AcdService) -> None:
    await acd.actions.dial("1001", "013912345678")
    (orig,) = _control(acd).called("originate")
    assert (orig["context"], orig["exten"]) == ("cti-external", "8613912345678")
    assert orig["variables"]["CTI_TRUNK"] == "cn" and orig["variables"]["CTI_CALLER_ID"] == "+861058880000"
    await acd.actions.dial("1002", "86990001", queue="sales")
    second = _control(acd).called("originate")[1]
    assert second["variables"]["CTI_TRUNK"] == "sim" and second["variables"]["CTI_CALLER_ID"] == "+861058880001"


async def test_unroutable_number_is_a_422_naming_the_field_and_dials_nothing(acd: AcdService) -> None:
    with pytest.raises(InvalidRequest) as err:
        await acd.actions.dial("1001", "+33612345678")  # France: no route
    assert err.value.field == "number" and err.value.http_status == 422 and "+33612345678" in str(err.value)
    with pytest.raises(InvalidRequest, match="not a phone number"):
        await acd.actions.dial("1001", "12")
    assert not _control(acd).called("originate")


async def test_a_dial_asterisk_refused_says_so_not_that_the_phone_did_not_answer(
        acd: AcdService, caplog: pytest.LogCaptureFixture) -> None:
    """Asterisk's own words go to the engine's log, as for every step it refuses (docs/api.md)."""
    from acd.errors import DialRefused, PhoneDidNotAnswer
    from cti.ami.control import OriginateResult

    _control(acd).originate_result = OriginateResult(False, "Originate: Extension does not exist.")
    with caplog.at_level("WARNING", logger="acd.call_actions"), pytest.raises(DialRefused) as err:
        await acd.actions.dial("1001", "013912345678")
    assert not isinstance(err.value, PhoneDidNotAnswer) and "did not answer" not in str(err.value)
    assert str(err.value) == ("the phone system refused to call the phone of agent 1001 "
                              "(the details are in the engine's log)")
    assert "agent 1001: Originate: Extension does not exist." in caplog.text
    _control(acd).originate_result = OriginateResult(False, 3)  # rang out: that one did not answer
    with pytest.raises(PhoneDidNotAnswer, match="did not answer"):
        await acd.actions.dial("1001", "013912345678")


async def test_a_dial_asterisk_never_answered_may_have_rung_the_customer(acd: AcdService) -> None:
    """The Originate was written and Asterisk said nothing within its wait (the engine's own timeout):
    the agent's phone, and then the customer's, may have rung. Not "the phone did not answer"."""
    from acd.errors import DialUnconfirmed, PhoneDidNotAnswer
    from cti.ami.control import OriginateResult
    from cti.errors import AmiNoReply

    _control(acd).originate_result = OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s",
                                                     timed_out=True)
    with pytest.raises(AmiNoReply) as err:
        await acd.actions.dial("1001", "013912345678")
    assert not isinstance(err.value, PhoneDidNotAnswer)
    assert "agent 1001" in str(err.value) and "no answer from Asterisk within 45.0 s" in str(err.value)
    assert acd.calls == {}  # no call known: nothing is shown as connected
    # The call it may have placed is known by name: the ChannelId the dial gave the agent's leg.
    (orig,) = _control(acd).called("originate")
    assert isinstance(err.value, DialUnconfirmed) and err.value.linkedid == orig["channel_id"]
    assert orig["channel_id"].startswith("cti-")


async def test_a_dial_names_its_call_before_it_exists(acd: AcdService) -> None:
    """The agent's leg gets the ChannelId the caller chose (a preview attempt's linkedid), which is
    then the call's linkedid; a value Asterisk would read as more headers is refused, nothing sent."""
    from cti.ami.control import OriginateResult
    from cti.errors import UnsafeValue

    _control(acd).originate_result = OriginateResult(True, 4)  # Asterisk's answer names no uniqueid
    assert await acd.actions.dial("1001", "013912345678", channel_id="pv3-abc") == "pv3-abc"
    assert _control(acd).called("originate")[0]["channel_id"] == "pv3-abc" and "pv3-abc" in acd.calls
    first = await acd.actions.dial("1002", "013912345678")
    second = await acd.actions.dial("1003", "013912345678")
    assert first.startswith("cti-") and second.startswith("cti-") and first != second
    with pytest.raises(UnsafeValue) as err:
        await acd.actions.dial("1004", "013912345678", channel_id="pv3-x\r\nAction: Hangup")
    assert err.value.field == "ChannelId" and len(_control(acd).called("originate")) == 3


async def test_blind_transfer_to_a_number_sets_the_route_then_redirects(acd: AcdService) -> None:
    acd.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel="PJSIP/lan-1", caller_number="+8613800000001",
                                queue="sales", status="talking", agent_id="1001", agent_channel="Local/1001@x;1")
    with pytest.raises(InvalidRequest) as err:
        await acd.actions.transfer("c.1", target_kind="number", target="33612345678")
    assert err.value.field == "target" and not _control(acd).called("redirect")
    await acd.actions.transfer("c.1", target_kind="number", target="13912345678")
    assert [(c["name"], c["value"]) for c in _control(acd).called("set_var") if c["channel"] == "PJSIP/lan-1"] == [
        ("CTI_TRUNK", "cn"), ("CTI_CALLER_ID", "+861058880001")]
    (redirect,) = _control(acd).called("redirect")
    assert (redirect["channel"], redirect["context"], redirect["exten"]) == ("PJSIP/lan-1", "cti-external",
                                                                            "8613912345678")
    # Then the agent's leg is released: a parked one (after a hold) ends (cti-park-agent).
    steps = [(m, k.get("channel"), k.get("name")) for m, k in _control(acd).calls if m in ("redirect", "set_var")]
    assert steps[-2:] == [("redirect", "PJSIP/lan-1", None), ("set_var", "Local/1001@x;1", "CTI_RELEASED")]


async def test_an_action_the_call_s_state_refuses_is_a_409_not_a_500(acd: AcdService) -> None:
    """The call actions' refusals (hold a call on hold, conference without a consultation) are plain
    AcdErrors: the console's desk turned them into 409s, but any other route calling the actions
    answered 500 (AcdError's status)."""
    acd.calls["c.2"] = LiveCall(linkedid="c.2", caller_channel="PJSIP/lan-2", caller_number="+8613800000002",
                                queue="sales", status="held", agent_id="1001", agent_channel="Local/1001@x;1")
    with pytest.raises(AcdError) as err:
        await acd.actions.hold("c.2")
    assert err.value.http_status == 409 and "not talking" in err.value.message

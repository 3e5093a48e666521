"""The call model's FarEndResult: a Dial() from the dialplan that ends says how its far end
answered; an Originate's own leg (the agent's phone) says nothing."""

from __future__ import annotations

import pytest

from cti.ami import events as ev
from cti.ami.callmodel import CallModel
from cti.journey import AgentDialEnded, FarEndResult


def _agent_leg(model: CallModel) -> None:
    model.apply(ev.Newchannel(ts=1.0, channel="Local/1001@cti-sim-phone-00000001;1", uniqueid="a.1",
                              linkedid="a.1", state=0, caller_num="", caller_name="", context="cti-external",
                              exten="86990001"))


@pytest.mark.parametrize(("status", "result"), [
    ("ANSWER", "answered"), ("NOANSWER", "no_answer"), ("BUSY", "busy"), ("CONGESTION", "congestion"),
    ("CHANUNAVAIL", "unavailable"), ("CANCEL", "cancelled")])
def test_dial_end_from_a_channel_publishes_the_far_end_result(status: str, result: str) -> None:
    model = CallModel()
    _agent_leg(model)
    channel, dest = "Local/1001@cti-sim-phone-00000001;1", "Local/86990001@cti-sim-customer-00000002;1"
    model.apply(ev.Newchannel(ts=2.0, channel=dest, uniqueid="c.1", linkedid="a.1", state=0))
    out = model.apply(ev.DialEnd(ts=32.0, channel=channel, uniqueid="a.1", dest_channel=dest,
                                 dest_uniqueid="c.1", linkedid="a.1", dial_status=status))
    assert out == [FarEndResult(ts=32.0, linkedid="a.1", channel=channel, dest_channel=dest, result=result)]


def test_an_originates_dial_end_is_not_a_far_end() -> None:
    model = CallModel()
    out = model.apply(ev.DialEnd(ts=3.0, channel="", uniqueid="", dest_channel="Local/1001@cti-sim-phone-1;1",
                                 dest_uniqueid="a.1", linkedid="a.1", dial_status="NOANSWER"))
    assert out == []


def test_unknown_dial_status_publishes_nothing() -> None:
    model = CallModel()
    _agent_leg(model)
    out = model.apply(ev.DialEnd(ts=3.0, channel="Local/1001@cti-sim-phone-00000001;1", uniqueid="a.1",
                                 dest_channel="", dest_uniqueid="", linkedid="a.1", dial_status="INVALIDARGS"))
    assert out == []


def test_the_far_end_result_names_the_dialling_channels_call_after_a_merge() -> None:
    model = CallModel()
    _agent_leg(model)
    # The calling channel's Linkedid wins over the (stale) one a DialEnd carries.
    out = model.apply(ev.DialEnd(ts=3.0, channel="Local/1001@cti-sim-phone-00000001;1", uniqueid="a.1",
                                 dest_channel="x", dest_uniqueid="c.9", linkedid="other", dial_status="BUSY"))
    assert [(e.linkedid, e.result) for e in out if isinstance(e, FarEndResult)] == [("a.1", "busy")]


@pytest.mark.parametrize(("status", "result"), [("ANSWER", "answered"), ("NOANSWER", "no_answer"),
                                                ("CANCEL", "cancelled"), ("INVALIDARGS", "invalidargs")])
def test_the_callers_dial_of_an_agents_phone_is_the_acds_ring_not_a_far_end(status: str, result: str) -> None:
    """A Dial() in cti-inbound is the ACD's ring from the caller's IVR session: its end is an
    AgentDialEnded, for any status (the ring must end), and no FarEndResult (no customer was dialled)."""
    model = CallModel()
    caller, leg = "PJSIP/trunk-00000001", "PJSIP/1001-00000002"
    model.apply(ev.Newchannel(ts=1.0, channel=caller, uniqueid="c.1", linkedid="c.1", state=6))
    out = model.apply(ev.DialEnd(ts=5.0, channel=caller, uniqueid="c.1", dest_channel=leg, dest_uniqueid="a.2",
                                 linkedid="c.1", dial_status=status, context="cti-inbound"))
    assert out == [AgentDialEnded(ts=5.0, linkedid="c.1", channel=caller, dest_channel=leg, result=result)]

"""Recorded click-to-dial traces (tests/fixtures/ami/record_far_end.py) through the call model: the
customer's Dial() end becomes one FarEndResult on the outbound call, before its CallEnded; the
agent phone's own Originate leg says nothing."""

from __future__ import annotations

import pytest

from cti.ami import events as ev
from cti.journey import CallEnded, FarEndResult
from tests.replay.cti.test_ami_traces import replay


@pytest.mark.parametrize(("name", "status", "result", "customer"), [
    ("far_end_busy", "BUSY", "busy", "Local/86980001@cti-sim-customer-"),
    ("far_end_cancel", "CANCEL", "cancelled", "Local/86990002@cti-sim-customer-")])
def test_the_customers_dial_end_is_the_outbound_calls_far_end(name: str, status: str, result: str,
                                                               customer: str) -> None:
    model, typed, journey = replay(name)
    assert [type(e) for e in journey] == [FarEndResult, CallEnded]
    far, ended = journey
    assert isinstance(far, FarEndResult) and isinstance(ended, CallEnded)
    assert far.result == result and far.linkedid == ended.linkedid
    assert far.channel.startswith("Local/1001@cti-sim-phone-") and far.channel.endswith(";1")
    assert far.dest_channel.startswith(customer)
    # The Originate's own DialEnd (the agent's phone, ANSWER) has no calling channel.
    dial_ends = [e for e in typed if isinstance(e, ev.DialEnd)]
    assert [(bool(e.channel), e.dial_status) for e in dial_ends] == [(False, "ANSWER"), (True, status)]
    call = model.call(ended.linkedid)
    assert call is not None and any(c.name.startswith(customer) and c.answered_at is None for c in call.channels)


def test_busy_is_known_before_the_originate_response() -> None:
    """Asterisk can run the dialplan (and a busy Dial) before it answers the Originate: the far end
    may be known before AcdService.dial has registered its call (it keeps such early results)."""
    _, typed, _ = replay("far_end_busy")
    customer = next(i for i, e in enumerate(typed) if isinstance(e, ev.Newchannel)
                    and e.channel.startswith("Local/86980001@cti-sim-customer-"))
    assert customer < next(i for i, e in enumerate(typed) if isinstance(e, ev.OriginateResponse))

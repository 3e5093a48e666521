"""The public feed over a recorded Asterisk 22 trace (tests/fixtures/ami/bridge.txt) in which
Asterisk folds one call into another: the folded call ends in the feed under its own call_id."""

from __future__ import annotations

from crm_core.feed_events import public_events
from cti.journey import CallEnded
from tests.replay.cti.test_ami_traces import replay


def test_the_call_asterisk_folded_into_another_ends_in_the_feed_under_its_own_id() -> None:
    model, _typed, journey = replay("bridge")
    [ended] = [e for e in journey if isinstance(e, CallEnded)]
    assert len(ended.merged) == 1  # the agent's originated leg joined the caller's Linkedid
    folded = ended.merged[0]
    out = public_events(ended)
    assert [(p["type"], p["call_id"], p["data"]["merged_into"]) for p in out] == [
        ("call.ended", ended.linkedid, None), ("call.ended", folded, ended.linkedid)]
    assert model.call(folded) == model.call(ended.linkedid)

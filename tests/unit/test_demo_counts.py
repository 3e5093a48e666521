"""The demo's counters (callcenter.demo.DemoCounts) count each call once, as docs/kpis.md counts
answered and handled calls: a call put back in queue after its agent's softphone was lost, and
answered again, is one answered call and one handled call (two agents wrapped it up); while it
waits again it is waiting, not talking. Outbound calls are in none of these figures. Before, the
put-back call stayed "talking" while it waited, its second answer went on the answered total once
the phase was right, and each agent's wrap-up added a handled call."""

from __future__ import annotations

from callcenter.demo import DemoCounts
from cti.journey import CallArrived, CallConnected, CallEnded, IvrFinished, QueueEntered, WrapUpDone


def _answered(counts: DemoCounts) -> int:
    return counts.totals["answered"]


def test_a_put_back_call_answered_again_counts_once() -> None:
    counts = DemoCounts()
    counts.apply(CallArrived(ts=1, linkedid="a", channel="c", caller_number="1"))
    counts.apply(IvrFinished(ts=2, linkedid="a", flow="demo", outcome="queue", queue="support"))
    counts.apply(QueueEntered(ts=2, linkedid="a", queue="support"))
    counts.apply(CallConnected(ts=3, linkedid="a", agent_id="1001", queue="support"))
    assert counts.summary()["talking"] == 1 and _answered(counts) == 1
    # 1001's softphone is lost and does not come back: the call waits again (a stay of its own).
    counts.apply(QueueEntered(ts=70, linkedid="a", queue="support"))
    assert (counts.summary()["waiting"], counts.summary()["talking"]) == (1, 0)
    counts.apply(WrapUpDone(ts=71, linkedid="a", agent_id="1001", disposition="resolved"))
    counts.apply(CallConnected(ts=80, linkedid="a", agent_id="1002", queue="support"))
    assert counts.summary()["talking"] == 1
    counts.apply(CallEnded(ts=90, linkedid="a"))
    counts.apply(WrapUpDone(ts=95, linkedid="a", agent_id="1002", disposition="resolved"))
    assert _answered(counts) == 1
    assert counts.summary() == {"in_ivr": 0, "waiting": 0, "talking": 0, "handled": 1, "abandoned": 0}


def test_a_transferred_call_is_answered_and_handled_once() -> None:
    counts = DemoCounts()
    counts.apply(CallArrived(ts=1, linkedid="t", channel="c", caller_number="1"))
    counts.apply(QueueEntered(ts=2, linkedid="t", queue="support"))
    counts.apply(CallConnected(ts=3, linkedid="t", agent_id="1001", queue="support"))
    counts.apply(WrapUpDone(ts=20, linkedid="t", agent_id="1001", disposition="transferred"))
    counts.apply(CallConnected(ts=21, linkedid="t", agent_id="1002", queue="support"))
    counts.apply(CallEnded(ts=40, linkedid="t"))
    counts.apply(WrapUpDone(ts=45, linkedid="t", agent_id="1002", disposition="resolved"))
    assert _answered(counts) == 1 and counts.summary()["handled"] == 1


def test_outbound_calls_are_neither_answered_nor_handled() -> None:
    counts = DemoCounts()
    counts.apply(CallArrived(ts=1, linkedid="o", channel="c", caller_number="1", direction="outbound",
                             agent_id="1001"))
    counts.apply(CallConnected(ts=3, linkedid="o", agent_id="1001"))
    counts.apply(CallEnded(ts=40, linkedid="o"))
    counts.apply(WrapUpDone(ts=45, linkedid="o", agent_id="1001", disposition="resolved"))
    assert _answered(counts) == 0 and counts.summary()["handled"] == 0


def test_a_call_wrapped_up_by_its_first_agent_before_it_is_queued_again_still_counts_once() -> None:
    counts = DemoCounts()
    counts.apply(CallArrived(ts=1, linkedid="q", channel="c", caller_number="1"))
    counts.apply(QueueEntered(ts=2, linkedid="q", queue="support"))
    counts.apply(CallConnected(ts=3, linkedid="q", agent_id="1001", queue="support"))
    counts.apply(WrapUpDone(ts=20, linkedid="q", agent_id="1001", disposition="transferred"))
    counts.apply(QueueEntered(ts=21, linkedid="q", queue="billing"))
    counts.apply(CallConnected(ts=30, linkedid="q", agent_id="1002", queue="billing"))
    counts.apply(CallEnded(ts=40, linkedid="q"))
    counts.apply(WrapUpDone(ts=45, linkedid="q", agent_id="1002", disposition="resolved"))
    assert _answered(counts) == 1 and counts.summary()["handled"] == 1
    assert not (counts._inbound or counts._answered or counts._handled)  # nothing kept once the call is done

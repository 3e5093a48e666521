"""acd.recovery: what a restarted engine takes back, decided from the PBX's live channels (tables),
and the router's entry points for it."""

from __future__ import annotations

import pytest

from acd.decisions import Offer
from acd.model import AgentState, QueueConfig
from acd.recovery import (
    Attach,
    ChannelFacts,
    HangupLeg,
    QueueEntry,
    RestoreWaiting,
    decode_entry,
    encode_entry,
    plan,
)
from acd.routing import Router


def entry(lid: str, at: float, queue: str = "support") -> QueueEntry:
    return QueueEntry(lid, queue, at, priority=2, customer_id=7, skills={"support": 3}, caller_number="+8613900000000")


def caller(lid: str, at: float, *, context: str = "cti-queue", bridge: str | None = None) -> ChannelFacts:
    return ChannelFacts(f"Local/5002@cti-inbound-{lid};2", lid, context, True, at, bridge, entry(lid, at))


def leg(agent: str, lid: str, *, up: bool = True, bridge: str | None = None, context: str = "cti-agent-connect",
        created: float = 50.0) -> ChannelFacts:
    return ChannelFacts(f"Local/{agent}@cti-sim-phone-{lid};1", lid, context, up, created, bridge,
                        agent_id=agent, for_call=lid)


def test_entry_round_trip_and_garbage() -> None:
    e = entry("1700000000.12", 1700000000.5)
    assert decode_entry(encode_entry(e)) == e
    assert decode_entry(encode_entry(QueueEntry("l", "q", 1.0))) == QueueEntry("l", "q", 1.0)
    for bad in (None, "", "v0|a|b|1|0|||", "v1|a|b|x|0|||", "v1||b|1|0|||", "v1|a|b|1", "v3|a|b|1|0|||",
                "v2|a|b|1|0||x:1,y:2|", "v1|a|b|1|0||x:1;y:2|"):  # the other version's skill separator
        assert decode_entry(bad) is None


def test_entry_v2_has_no_comma_and_v1_entries_are_still_read() -> None:
    """v2 separates skills with ';' so the entry can ride in the IVR's MSet (which splits on ','); a
    caller an older engine queued carries v1 (skills with ',') and is still taken back."""
    e = QueueEntry("1700000000.12", "support", 1700000000.5, 10, 7, {"zh": 1, "support": 2}, "+8613900000000")
    text = encode_entry(e)
    assert text == "v2|1700000000.12|support|1700000000.500|10|7|support:2;zh:1|+8613900000000"
    assert "," not in text and text.split("|")[2:4] == ["support", "1700000000.500"]  # what the dialplan CUTs
    assert decode_entry(text) == e
    v1 = "v1|1700000000.12|support|1700000000.500|10|7|support:2,zh:1|+8613900000000"
    assert decode_entry(v1) == e
    assert decode_entry("v1|l|q|1.000|0|||") == QueueEntry("l", "q", 1.0)


def test_plan_takes_back_the_fallback_s_calls() -> None:
    """Callers app_queue served while no engine ran (context cti-engine-down): one it connected to
    1001's phone (the leg marked by cti-fallback-member) is attached; the ones still waiting in
    app_queue come back in their entry order, to be pulled back; one in voicemail is left alone."""
    member = ChannelFacts("PJSIP/1001-7", "a", "cti-agents", True, 40.0, "B1", agent_id="1001", for_call="a")
    p = plan([caller("c", 30, context="cti-engine-down"), caller("a", 10, context="cti-engine-down", bridge="B1"),
              member, caller("b", 20, context="cti-engine-down"), caller("v", 5, context="cti-voicemail"),
              caller("q", 25)])
    attached = [(a.entry.linkedid, a.agent_id, a.fallback, a.answered_at) for a in p.connected]
    assert attached == [("a", "1001", True, 40.0)]
    assert [(w.entry.linkedid, w.pull_back) for w in p.waiting] == [("b", True), ("q", False), ("c", True)]
    assert p.busy_agents == {"1001"} and not p.hangups


@pytest.mark.parametrize(("channels", "waiting", "connected", "hangups", "busy"), [
    # waiting callers come back in their original order, whatever order Asterisk lists them in
    ([caller("c", 30), caller("a", 10), caller("b", 20, context="cti-announce")], ["a", "b", "c"], [], [], set()),
    # bridged with its own agent leg: attached, agent busy
    ([caller("a", 10, bridge="B1"), leg("1001", "a", bridge="B1")], [], [("a", "1001", False)], [], {"1001"}),
    # on hold: caller in cti-hold, the agent's leg parked
    ([caller("a", 10, context="cti-hold"), leg("1001", "a", context="cti-park-agent")], [],
     [("a", "1001", True)], [], {"1001"}),
    # taken off hold (an Unhold's AMI Bridge, or cti-hold's own Bridge() once no engine was left):
    # the two legs keep their dialplan places, cti-hold and cti-park-agent, but share a bridge: talking
    ([caller("a", 10, context="cti-hold", bridge="B1"), leg("1001", "a", context="cti-park-agent", bridge="B1")],
     [], [("a", "1001", False)], [], {"1001"}),
    # half-rung offer: the leg is hung up and the caller waits again
    ([caller("a", 10), leg("1001", "a", up=False)], ["a"], [], [("1001", "not_connected")], set()),
    # answered but not yet bridged: same
    ([caller("a", 10), leg("1001", "a")], ["a"], [], [("1001", "not_connected")], set()),
    # rung from its IVR session at the hand-off (still in cti-inbound, its entry set): the ringing
    # leg is hung up (the caller's dial then goes back to cti-queue) and the caller waits again
    ([caller("a", 10, context="cti-inbound"), leg("1001", "a", up=False, context="")], ["a"], [],
     [("1001", "not_connected")], set()),
    # ... and, answered, talks on with its agent: attached
    ([caller("a", 10, context="cti-inbound", bridge="B1"), leg("1001", "a", bridge="B1", context="")], [],
     [("a", "1001", False)], [], {"1001"}),
    # an agent leg whose caller is gone: hung up, never a call of its own
    ([leg("1001", "gone")], [], [], [("1001", "orphan")], set()),
    # an agent leg bridged with something unknown: left alone, the agent is busy
    ([leg("1001", "x", bridge="B9")], [], [], [], {"1001"}),
    # a caller elsewhere (voicemail, a transfer's bridge, the IVR): left alone
    ([caller("a", 10, context="cti-voicemail"), caller("b", 20, bridge="B2"),
      ChannelFacts("Local/5002@cti-inbound-z;2", "z", "cti-inbound", True, 5.0)], [], [], [], set()),
    # one agent, two calls claiming it (capacity 1): the first is attached, the second left alone
    ([caller("a", 10, bridge="B1"), leg("1001", "a", bridge="B1"),
      caller("b", 20, bridge="B2"), ChannelFacts("PJSIP/1001-2", "b", "cti-agent-connect", True, 60.0, "B2",
                                                 agent_id="1001", for_call="b")],
     [], [("a", "1001", False)], [], {"1001"}),
])
def test_plan(channels: list[ChannelFacts], waiting: list[str], connected: list[tuple[str, str, bool]],
              hangups: list[tuple[str, str]], busy: set[str]) -> None:
    p = plan(channels)
    assert [w.entry.linkedid for w in p.waiting] == waiting
    assert all(isinstance(w, RestoreWaiting) for w in p.waiting)
    assert [(a.entry.linkedid, a.agent_id, a.held) for a in p.connected] == connected
    assert all(isinstance(a, Attach) and a.answered_at == 50.0 for a in p.connected[:1])
    assert [(h.agent_id, h.reason) for h in p.hangups] == hangups
    assert all(isinstance(h, HangupLeg) for h in p.hangups)
    assert p.busy_agents == busy


def _router() -> Router:
    return Router([QueueConfig("support", ring_timeout_s=15.0)])


def test_restore_waiting_keeps_original_order_and_wait() -> None:
    r = _router()
    r.enqueue("new", "support", 100.0)  # arrived after the restart
    r.restore_waiting("old2", "support", 101.0, entered_at=40.0)
    r.restore_waiting("old1", "support", 101.0, entered_at=20.0)
    assert r.waiting("support") == ["old1", "old2", "new"]
    assert r.call("old1").entered_queue_at == 20.0
    r.agent_login("a", {}, 102.0, queues=["support"])
    out = r.set_ready("a", 103.0)
    assert [d.call_id for d in out if isinstance(d, Offer)] == ["old1"]


def test_a_call_put_back_after_its_agent_was_lost_waits_from_then_at_its_place() -> None:
    """A call put back in queue because its agent's softphone did not come back (``fresh_timers``,
    acd.reconnect) keeps its place ahead of later callers, but its talk was no wait: the wallboard's
    longest wait and its callers-waiting list count from when it was put back (docs/kpis.md). They
    counted from its first entry, the talk included."""
    r = _router()
    r.agent_login("a", {}, 1.0, queues=["support"])
    r.set_ready("a", 1.0)
    r.enqueue("L1", "support", 10.0)  # offered to a at once, answered, 300 s of talk
    r.offer_answered("L1", "a", 12.0)
    r.enqueue("L2", "support", 250.0)  # waits: a is on L1
    r.call_ended("L1", 312.0)  # the agent's part ends (wrap-up); the caller waits again
    r.restore_waiting("L1", "support", 312.0, entered_at=10.0, fresh_timers=True)
    assert r.waiting("support") == ["L1", "L2"]  # at its place: ahead of the later caller
    assert r.queue_snapshot("support", 320.0).longest_wait_s == 70.0  # L2's, not L1's 310 s
    listed = [(w.call_id, w.position, w.waited_s, w.since) for w in r.waiting_calls(320.0)]
    assert listed == [("L1", 1, 8.0, 312.0), ("L2", 2, 70.0, 250.0)]
    # A caller taken back after a restart kept waiting all along: its wait counts from its entry.
    r.restore_waiting("L0", "support", 320.0, entered_at=5.0)
    assert r.queue_snapshot("support", 320.0).longest_wait_s == 315.0
    # The next agent's offer says since when the caller waits (the pop's "Waited"), not the first entry.
    offers: list[Offer] = []
    for agent in ("b", "c"):
        r.agent_login(agent, {}, 330.0, queues=["support"])
        offers += [d for d in r.set_ready(agent, 330.0) if isinstance(d, Offer)]
    since = {o.call_id: o.waiting_since for o in offers}
    assert len(since) == 2 and since.pop("L1") == 312.0
    assert list(since.values()) == [None]  # the other caller's wait started at its entry


@pytest.mark.parametrize(("reason", "after"), [(None, AgentState.AVAILABLE), ("break", AgentState.NOT_READY)])
def test_attach_connected_puts_agent_on_call_then_wrap_up(reason: str | None, after: AgentState) -> None:
    r = _router()
    r.agent_login("a", {}, 1.0, queues=["support"], wrap_up_s=0)
    if reason:
        r.set_not_ready("a", reason, 1.5)
    r.restore_waiting("w", "support", 2.0, entered_at=1.0)
    r.attach_connected("c", "a", "support", 2.0, entered_at=0.5, answered_at=1.0)
    view = r.agent("a")
    assert view.state is AgentState.ON_CALL and view.calls == ("c",)
    assert r.waiting("support") == ["w"]  # not offered to the busy agent
    if reason is None:
        r.set_ready("a", 2.5)  # as before the restart: ready after this call
    r.call_ended("c", 3.0)
    view = r.agent("a")
    if after is AgentState.AVAILABLE:
        assert view.state is AgentState.RESERVED and view.offers == ("w",)  # freed: takes the next caller
    else:
        assert view.state is AgentState.NOT_READY and view.reason == "break"


def test_attach_refuses_a_busy_agent() -> None:
    r = _router()
    r.agent_login("a", {}, 1.0, queues=["support"], ready=True)
    r.attach_connected("c", "a", "support", 2.0, entered_at=0.5, answered_at=1.0)
    with pytest.raises(Exception, match="on_call"):
        r.attach_connected("d", "a", "support", 2.0, entered_at=0.5, answered_at=1.0)


def test_plan_marks_callers_the_dialplan_queued_after_losing_their_ivr() -> None:
    """A caller in cti-queue with the lost-IVR mark (CTI_IVR_LOST, the number it dialled) waits again
    like the others, marked: the adapter logs its arrival and entry, which no engine logged."""
    lost = ChannelFacts("PJSIP/trunk-9", "l", "cti-queue", True, 15.0, None, entry("l", 15.0, "general"),
                        lost_dnis="5002")
    fell_back = ChannelFacts("PJSIP/trunk-8", "f", "cti-engine-down", True, 12.0, None, entry("f", 12.0, "general"),
                             lost_dnis="5001")
    answered = ChannelFacts("PJSIP/trunk-7", "c", "cti-engine-down", True, 11.0, "B7", entry("c", 11.0, "general"),
                            lost_dnis="5000")  # then app_queue connected it to 1001's phone
    member = ChannelFacts("PJSIP/1001-7", "c", "cti-agents", True, 40.0, "B7", agent_id="1001", for_call="c")
    p = plan([caller("a", 10), lost, fell_back, answered, member])
    assert [(w.entry.linkedid, w.pull_back, w.lost_dnis) for w in p.waiting] == [
        ("a", False, None), ("f", True, "5001"), ("l", False, "5002")]
    assert [(a.entry.linkedid, a.fallback, a.lost_dnis) for a in p.connected] == [("c", True, "5000")]


@pytest.mark.parametrize("then", ["answered", "hung_up"])
def test_a_put_back_call_stays_one_answered_call_in_the_queues_figures(then: str) -> None:
    """The live queue figures (wallboard, alerts) count a call put back after its agent was lost as one
    offered, one answered call whose wait is the sum of its stays (docs/kpis.md): its second answer
    counted a second answered call (two for one offered), a hang-up after the put-back an abandon."""
    r = _router()
    r.agent_login("a", {}, 1.0, queues=["support"])
    r.set_ready("a", 1.0)
    r.enqueue("L1", "support", 10.0)
    r.offer_answered("L1", "a", 12.0)  # 2 s of wait
    r.call_ended("L1", 312.0)
    r.restore_waiting("L1", "support", 312.0, entered_at=10.0, fresh_timers=True)
    if then == "answered":
        r.agent_login("b", {}, 320.0, queues=["support"])
        r.set_ready("b", 320.0)
        r.offer_answered("L1", "b", 321.0)  # 9 s more
    else:
        r.caller_hung_up("L1", 320.0)
    s = r.queue_snapshot("support", 330.0)
    assert (s.offered, s.answered, s.abandoned) == (1, 1, 0)
    assert s.answered_wait_s == (11.0 if then == "answered" else 2.0)

"""Property-based tests of the router: random operation sequences keep the routing invariants, and
the indexed router decides exactly what the naive linear scan of bench/routing.py decides."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.decisions import Decision, Offer
from acd.errors import AcdError
from acd.model import AgentState, CallState, LimitKind, LimitSpec, QueueConfig, RoutingStep, Strategy
from acd.routing import Router

from .helpers import offers

_BENCH = Path(__file__).resolve().parents[3] / "bench" / "routing.py"
_spec = importlib.util.spec_from_file_location("bench_routing", _BENCH)
assert _spec is not None and _spec.loader is not None
bench_routing = importlib.util.module_from_spec(_spec)
sys.modules["bench_routing"] = bench_routing
_spec.loader.exec_module(bench_routing)
NaiveRouter: type[Router] = bench_routing.NaiveRouter

SKILLS = ["billing", "support", "zh"]
AGENTS = ["a0", "a1", "a2", "a3", "a4"]


def make_queues(strategy: Strategy) -> list[QueueConfig]:
    return [
        QueueConfig(
            "billing",
            steps=(RoutingStep(0, {"billing": 4}), RoutingStep(20, {"billing": 2}, 1), RoutingStep(45, {}, 0)),
            strategy=strategy, wrap_up_s=5, ring_timeout_s=30, preferred_agent_s=15,
            overflow_after_s=90, overflow_to="support", announce_every_s=25,
        ),
        QueueConfig(
            "support",
            steps=(RoutingStep(0, {"support": 2}), RoutingStep(30, {}, 0)),
            wrap_up_s=0, ring_timeout_s=30, max_wait_s=150, max_wait_action=LimitSpec(LimitKind.VOICEMAIL),
        ),
    ]


skills_st = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=3)
agent_st = st.integers(0, len(AGENTS) - 1)
queues_st = st.sampled_from([("billing",), ("support",), ("billing", "support")])
login_st = st.tuples(st.just("login"), agent_st, skills_st, st.integers(1, 2), queues_st, st.booleans())
enqueue_st = st.tuples(
    st.just("enqueue"), st.sampled_from(["billing", "support"]),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(["zh"]), st.integers(1, 4), max_size=1)),
    st.sampled_from([0, 0, 0, 5]), st.one_of(st.none(), agent_st),
)
pick_st = st.integers(0, 9)
op_st = st.one_of(
    login_st,
    st.tuples(st.just("ready"), agent_st),
    st.tuples(st.just("not_ready"), agent_st),
    st.tuples(st.just("nrac"), agent_st),
    st.tuples(st.just("logout"), agent_st),
    st.tuples(st.just("register"), agent_st, st.booleans()),
    st.tuples(st.just("skills"), agent_st, skills_st),
    enqueue_st, enqueue_st, enqueue_st,
    *[st.tuples(st.just("answer"), pick_st)] * 6,
    st.tuples(st.just("no_answer"), pick_st),
    st.tuples(st.just("hangup"), pick_st),
    *[st.tuples(st.just("end"), pick_st)] * 3,
    st.tuples(st.just("tick"),),
)
dt_st = st.one_of(st.floats(0, 2), st.floats(0, 2), st.floats(0, 2), st.floats(0, 40))
# Every agent logs in (ready) first, then random operations at random intervals.
script_st = st.tuples(
    st.lists(st.tuples(skills_st, st.integers(1, 2), queues_st), min_size=len(AGENTS), max_size=len(AGENTS)),
    st.lists(st.tuples(dt_st, op_st), min_size=20, max_size=80),
)


@dataclass
class Driver:
    router: Router
    n: int = 0

    def apply(self, now: float, op: tuple[Any, ...]) -> list[Decision] | str:
        r = self.router
        kind = op[0]
        calls = sorted(r.calls(), key=lambda c: c.call_id)
        try:
            if kind == "login":
                return r.agent_login(AGENTS[op[1]], op[2], now, capacity=op[3], queues=op[4], ready=op[5])
            if kind == "ready":
                return r.set_ready(AGENTS[op[1]], now)
            if kind == "not_ready":
                return r.set_not_ready(AGENTS[op[1]], "break", now)
            if kind == "nrac":
                return r.not_ready_after_call(AGENTS[op[1]], now)
            if kind == "logout":
                return r.agent_logout(AGENTS[op[1]], now)
            if kind == "register":
                return r.set_device_registered(AGENTS[op[1]], op[2], now)
            if kind == "skills":
                return r.set_skills(AGENTS[op[1]], op[2], now)
            if kind == "enqueue":
                self.n += 1
                pref = AGENTS[op[4]] if op[4] is not None else None
                return r.enqueue(f"c{self.n}", op[1], now, skills=op[2], priority=op[3], preferred_agent=pref)
            if kind == "tick":
                return r.tick(now)
            ringing = [c for c in calls if c.state is CallState.RINGING]
            connected = [c for c in calls if c.state is CallState.CONNECTED]
            if kind == "answer" and ringing:
                c = ringing[op[1] % len(ringing)]
                return r.offer_answered(c.call_id, c.agent_id or "", now)
            if kind == "no_answer" and ringing:
                c = ringing[op[1] % len(ringing)]
                return r.offer_no_answer(c.call_id, c.agent_id or "", now)
            if kind == "hangup" and calls:
                return r.caller_hung_up(calls[op[1] % len(calls)].call_id, now)
            if kind == "end" and connected:
                return r.call_ended(connected[op[1] % len(connected)].call_id, now)
            return r.tick(now)
        except AcdError as err:
            return type(err).__name__


def check_invariants(r: Router, out: list[Decision] | str, reskilled: set[str], *,
                     held: set[str] | None = None) -> None:
    """``reskilled``: agents whose skills changed while an offer rang (the offer stands). ``held``:
    the router holds its offers (``hold_offers``): calls may wait beside idle agents, and an offer
    returned now can only be one decided before the hold, of a call in ``held`` (a refused event's
    timer decisions come back with the next one, ``acd.routing_steps.keeps_timer_decisions``); empty
    once they have."""
    agents = {a.agent_id: a for a in r.agents()}
    calls = {c.call_id: c for c in r.calls()}
    for a in agents.values():
        assert len(a.offers) + len(a.calls) <= a.capacity, a
        assert len(a.offers) <= 1, a
        if a.state is AgentState.RESERVED:
            assert a.offers and not a.calls, a
        if a.state in (AgentState.AVAILABLE, AgentState.NOT_READY, AgentState.WRAP_UP, AgentState.LOGGED_OUT):
            assert not a.offers and not a.calls, a
        for cid in a.offers:
            assert calls[cid].state is CallState.RINGING and calls[cid].agent_id == a.agent_id
    for c in calls.values():
        if c.state is CallState.RINGING:
            agent = agents[c.agent_id or ""]
            # never offered a call it lacks the skills for at the current step (steps only widen)
            if agent.agent_id not in reskilled:
                assert all(agent.skills.get(s, 0) >= lvl for s, lvl in c.need), (agent, c)
            assert c.call_id in agent.offers
    if not isinstance(out, str):
        for d in out:
            if isinstance(d, Offer):  # only to agents of the call's queue (at the time of the offer)
                assert d.queue in agents[d.agent_id].queues, d
    if held is not None:
        assert isinstance(out, str) or {d.call_id for d in out if isinstance(d, Offer)} <= held, out
        return
    # nobody idles while a call it qualifies for waits
    for a in agents.values():
        free = a.state is AgentState.AVAILABLE or (a.state is AgentState.ON_CALL and a.not_ready_after_call is None)
        if not (free and a.registered and not a.offers and len(a.calls) < a.capacity):
            continue
        for c in calls.values():
            if c.state is not CallState.WAITING or c.queue not in a.queues:
                continue
            if c.pref_active and c.preferred_agent != a.agent_id:
                continue
            assert not all(a.skills.get(s, 0) >= lvl for s, lvl in c.need), (a, c)


Script = tuple[list[tuple[dict[str, int], int, tuple[str, ...]]], list[tuple[float, Any]]]


def run_script(strategy: Strategy, script: Script, *, hold_at: int | None = None) -> None:
    """Every agent logs in, then the script's operations run on the router and on the naive scan:
    the same answers, and the invariants after each. ``hold_at``: the router holds its offers from
    that operation on (``hold_offers``), both of them."""
    engine, naive = Driver(Router(make_queues(strategy))), Driver(NaiveRouter(make_queues(strategy)))
    logins, ops = script
    for i, (skills, capacity, queues) in enumerate(logins):
        for d in (engine, naive):
            d.apply(float(i), ("login", i, skills, capacity, queues, True))
    now = float(len(logins))
    reskilled: set[str] = set()
    held: set[str] | None = None
    for n, (dt, op) in enumerate(ops):
        if n == hold_at:
            engine.router.hold_offers()
            naive.router.hold_offers()
            held = {c.call_id for c in engine.router.calls()}  # offers decided before it may still come back
        now += dt
        got, want = engine.apply(now, op), naive.apply(now, op)
        assert got == want, (op, got, want)
        if op[0] == "skills":
            reskilled.add(AGENTS[op[1]])
        reskilled = {a for a in reskilled if engine.router.agent(a).offers}
        check_invariants(engine.router, got, reskilled, held=held)
        if held is not None and not isinstance(got, str):
            held = set()  # the decisions carried over the hold have been returned: no offer from now on


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy=st.sampled_from(list(Strategy)), script=script_st)
def test_random_operations_keep_invariants_and_match_the_naive_scan(strategy: Strategy, script: Script) -> None:
    run_script(strategy, script)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy=st.sampled_from(list(Strategy)), script=script_st, hold_at=st.integers(0, 40))
def test_held_offers_offer_nothing_and_keep_every_other_invariant(strategy: Strategy, script: Script,
                                                                  hold_at: int) -> None:
    """From any point of a random run on, ``hold_offers`` (an engine stopping, a fenced node) makes
    no offer, whatever happens, and breaks no other invariant; the same for the naive comparator."""
    run_script(strategy, script, hold_at=hold_at)


@settings(max_examples=150, deadline=None)
@given(calls=st.lists(st.tuples(st.sampled_from([0, 0, 1, 5]), st.floats(0.001, 5)), min_size=1, max_size=25),
       agents=st.integers(1, 3))
def test_fifo_within_a_priority_and_higher_priority_first(calls: list[tuple[int, float]], agents: int) -> None:
    r = Router([QueueConfig("q", wrap_up_s=1.0)])
    for i in range(agents):
        r.agent_login(f"a{i}", {}, 0.0, queues=["q"])
    now = 0.0
    arrival: dict[str, tuple[int, int]] = {}
    for n, (prio, dt) in enumerate(calls):
        now += dt
        r.enqueue(f"c{n}", "q", now, priority=prio)
        arrival[f"c{n}"] = (-prio, n)
    served: list[str] = []
    out: list[Decision] = []
    for i in range(agents):
        out += r.set_ready(f"a{i}", now)
    while len(served) < len(calls):
        offered = offers(out)
        assert offered, "every agent that frees takes the next call"
        out = []
        for call_id, agent_id in offered:
            served.append(call_id)
            now += 1.0
            out += r.offer_answered(call_id, agent_id, now)
            out += r.call_ended(call_id, now + 0.5)
        now += 2.0
        out += r.tick(now)
    # calls leave in (priority desc, arrival) order: FIFO within a priority, VIP overtakes
    assert served == sorted(served, key=lambda c: arrival[c])


@settings(max_examples=150, deadline=None)
@given(after=st.floats(1, 300), t0=st.floats(0, 1e6), level=st.integers(1, 3))
def test_widening_exactly_at_step_expiry(after: float, t0: float, level: int) -> None:
    q = QueueConfig("billing", steps=(RoutingStep(0, {"billing": 4}), RoutingStep(after, {"billing": level})))
    r = Router([q])
    r.agent_login("a", {"billing": level}, 0.0, queues=["billing"], ready=True)
    assert offers(r.enqueue("c", "billing", t0)) == []
    before = (t0 + after) - max(1e-6, abs(t0 + after) * 1e-12)
    assert offers(r.tick(before)) == []
    out = r.tick(t0 + after)
    assert offers(out) == [("c", "a")]
    assert isinstance(out[0], Offer)


@settings(max_examples=150, deadline=None)
@given(idle_order=st.permutations(list(range(4))), pref=st.integers(0, 3), window=st.floats(1, 60),
       busy=st.booleans(), frees_after=st.floats(0.1, 120))
def test_preferred_agent_gets_the_call_when_available_within_the_window(
    idle_order: list[int], pref: int, window: float, busy: bool, frees_after: float,
) -> None:
    r = Router([QueueConfig("q", preferred_agent_s=window, wrap_up_s=0.0)])
    for k, i in enumerate(idle_order):
        r.agent_login(f"a{i}", {}, float(k), queues=["q"], ready=True)
    t = 10.0
    if busy:  # the preferred agent is on another call, and frees after ``frees_after`` seconds
        for i in idle_order:  # one call per agent: the preferred one is busy too
            r.enqueue(f"x{i}", "q", t)
        for c in r.calls():
            r.offer_answered(c.call_id, c.agent_id or "", t)
        xcall = next(c.call_id for c in r.calls() if c.agent_id == f"a{pref}")
        for c in r.calls():  # the others free at once (no call is waiting for them)
            if c.call_id != xcall:
                r.call_ended(c.call_id, t)
        assert offers(r.enqueue("c", "q", t + 1, preferred_agent=f"a{pref}")) == []
        if frees_after < window:
            assert offers(r.call_ended(xcall, t + 1 + frees_after)) == [("c", f"a{pref}")]
        else:  # the window closes first: the longest idle of the others gets it then
            others = [f"a{i}" for i in idle_order if i != pref]
            assert offers(r.tick(t + 1 + window)) == [("c", others[0])]
    else:
        assert offers(r.enqueue("c", "q", t, preferred_agent=f"a{pref}")) == [("c", f"a{pref}")]

"""Property: no flow the validator accepts can keep a caller forever, whatever the caller does."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ivr import flow as f
from ivr import stepper as s
from ivr.directory import CallerIdentity
from ivr.validate import find_unbounded_cycle, parse, step_bound, validate

WHO = CallerIdentity(customer_id=1, name="x", tier="gold")
KEYS = ["", "0", "1", "2", "3", "9", "12", "123456", "#"]


@st.composite
def flows(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 8))
    ids = [f"n{i}" for i in range(n)]
    target = st.sampled_from(ids)
    nodes: dict[str, Any] = {}
    for nid in ids:
        kind = draw(st.sampled_from(["play", "menu", "collect", "lookup", "branch", "set", "queue", "hangup",
                                     "voicemail"]))
        node: dict[str, Any] = {"type": kind}
        if kind == "play":
            node.update(prompt=["beep"], next=draw(target))
        elif kind == "menu":
            keys = draw(st.lists(st.sampled_from(["1", "2", "3", "9"]), min_size=1, max_size=3, unique=True))
            node.update(prompt=["beep"], options={k: draw(target) for k in keys},
                        retries=draw(st.integers(0, 3)))
            if draw(st.booleans()):
                node["fallback"] = draw(target)
        elif kind == "collect":
            node.update(prompt=["beep"], var=draw(st.sampled_from(["a", "b"])), min=1, max=draw(st.integers(1, 6)),
                        next=draw(target), retries=draw(st.integers(0, 3)))
        elif kind == "lookup":
            node.update(by="caller_id", found=draw(target), not_found=draw(target))
        elif kind == "branch":
            cond = draw(st.sampled_from([{"var": "a", "equals": "1"}, {"var": "x", "exists": True},
                                         {"hours": "open"}]))
            node.update(cases=[{"when": cond, "goto": draw(target)}], default=draw(target))
        elif kind == "set":
            node.update(vars={"x": draw(st.sampled_from(["", "1"]))}, next=draw(target))
        elif kind == "queue":
            node.update(queue="q")
        if kind not in ("queue",) and draw(st.integers(0, 3)) == 0:
            node.update(max_visits=draw(st.integers(1, 3)), on_exhausted=draw(target))
        if kind in ("menu", "collect") and draw(st.booleans()):
            node["max_visits"] = draw(st.integers(1, 4))
        nodes[nid] = node
    nodes["op"] = {"type": "queue", "queue": "general"}
    return {"flow": "gen", "entries": ["1"], "start": "n0", "operator": "op", "max_steps": 10000,
            "hours": {"weekly": {"mon": ["09:00-18:00"]}}, "nodes": nodes}


def _accepted(data: dict[str, Any]) -> f.Flow | None:
    flow, problems = parse(data, "gen.yaml")
    if flow is None:
        return None
    problems = [p for p in validate(flow, "gen.yaml") if "unreachable" not in p]
    return flow if not problems else None


def _run(flow: f.Flow, data: st.DataObject, now: float) -> tuple[s.IvrState, int]:
    res = s.step(flow, s.start_state(flow), s.Started(vars={"caller_number": "100"}), now)
    events = 1
    limit = step_bound(flow)
    while res.state.phase is not s.Phase.FINISHED:
        assert events <= limit, f"{events} events exceed the proven bound {limit}"
        if res.state.phase is s.Phase.PLAYING:
            ev: s.Event = s.PromptDone()
        elif res.state.phase is s.Phase.COLLECTING:
            ev = s.Digits(data.draw(st.sampled_from(KEYS)))
        else:
            ev = s.LookupResult(data.draw(st.sampled_from([None, WHO])))
        res = s.step(flow, res.state, ev, now)
        events += 1
    return res.state, events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                                   HealthCheck.too_slow])
@given(flows(), st.data(), st.sampled_from([0.0, 1795572000.0]))
def test_accepted_flows_terminate_within_the_bound(raw: dict[str, Any], data: st.DataObject, now: float) -> None:
    flow = _accepted(raw)
    assume(flow is not None)
    assert flow is not None
    state, events = _run(flow, data, now)
    assert events <= step_bound(flow)
    assert state.outcome in {"queue", "voicemail", "hangup", "callback", "transfer"}
    assert all(p["choice"] != "max_steps" for p in state.path)  # ended by the flow, not the safety net


@settings(max_examples=200, deadline=None)
@given(flows())
def test_rejected_loops_are_real(raw: dict[str, Any]) -> None:
    """Whenever the validator reports a loop, the nodes it names do form a cycle of pass-through
    edges (so the rule is not refusing good flows for nothing)."""
    flow, _ = parse(raw, "gen.yaml")
    assume(flow is not None)
    assert flow is not None
    cycle = find_unbounded_cycle(flow)
    assume(cycle is not None)
    assert cycle is not None
    for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        node = flow.nodes[a]
        outs = [flow.exhausted_of(node)] if node.visit_limit() is not None else \
            [t for _, t in _edges(flow, node)]
        assert b in outs


def _edges(flow: f.Flow, node: f.Node) -> list[tuple[str, str]]:
    from ivr.validate import edges

    return list(edges(flow, node))


def test_a_loop_the_validator_refuses_really_traps_the_caller() -> None:
    """The property above can fail: this flow loops set -> play -> set forever; the validator
    refuses it, and run anyway it blows through any bound until the max_steps safety net."""
    raw = {"flow": "trap", "entries": ["1"], "start": "a", "operator": "op", "max_steps": 500,
           "nodes": {"a": {"type": "set", "vars": {"x": "1"}, "next": "b"},
                     "b": {"type": "play", "prompt": ["beep"], "next": "a"},
                     "op": {"type": "queue", "queue": "general"}}}
    flow, problems = parse(raw, "trap.yaml")
    assert flow is not None and not problems
    errors = validate(flow, "trap.yaml")
    assert errors == ["trap.yaml: node 'a': field '(graph)': loop without exit: a -> b -> a; give one of these "
                      "nodes max_visits and on_exhausted, or route the loop through a menu/collect"]
    res = s.step(flow, s.start_state(flow), s.Started(), 0.0)
    events = 1
    while res.state.phase is not s.Phase.FINISHED:
        res = s.step(flow, res.state, s.PromptDone(), 0.0)
        events += 1
    assert events > step_bound(flow)
    assert res.state.path[-2]["choice"] == "max_steps" and res.state.outcome == "queue"  # safety net: operator

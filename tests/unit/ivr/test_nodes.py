"""Node kinds the demo does not use: say items, transfer, hang-up, branches on variables, the
max_steps safety net without an operator."""

from __future__ import annotations

from typing import Any

import pytest

from ivr import stepper as s
from ivr.validate import parse, validate
from tests.unit.ivr.walk import walk

FLOW_DATA: dict[str, Any] = {
    "flow": "misc", "entries": [{"context": "from-trunk"}], "start": "ask", "operator": "op",
    "nodes": {
        "ask": {"type": "collect", "prompt": ["beep"], "var": "order", "min": 3, "max": 8, "pattern": "^9[0-9]+$",
                "next": "read_back", "retries": 1},
        "read_back": {"type": "play", "prompt": ["you-entered", {"digits": "{order}"}, "number", {"number": "{order}"},
                                                {"date": "{due}"}, "goodbye"], "next": "route"},
        "route": {"type": "branch", "cases": [
            {"when": {"var": "order", "matches": "^99.*"}, "goto": "outside"},
            {"when": {"var": "vip", "in": ["yes", "y"]}, "goto": "op"},
            {"when": {"var": "order", "not_in": ["9000"]}, "goto": "bye"},
        ], "default": "op"},
        "outside": {"type": "transfer", "number": "+4930123456"},
        "bye": {"type": "hangup", "prompt": ["goodbye"]},
        "op": {"type": "queue", "queue": "general", "priority": 7},
    },
}


def flow() -> Any:
    fl, problems = parse(FLOW_DATA, "misc.yaml")
    assert fl is not None, problems
    assert validate(fl, "misc.yaml") == []
    return fl


@pytest.mark.parametrize(("inputs", "vars", "final"), [
    (["9912"], {}, s.Transfer("+4930123456")),
    (["9123"], {"vip": "y"}, s.Handoff("general", {}, 7, {}, "en")),
    (["9123"], {}, s.Hangup()),
    (["9000"], {}, s.Handoff("general", {}, 7, {}, "en")),
    (["123", "45"], {}, s.Handoff("general", {}, 7, {}, "en")),  # bad pattern, too short: retries -> operator
])
def test_branches_and_finals(inputs: list[str], vars: dict[str, str], final: s.Action) -> None:
    state, actions = walk(flow(), list(inputs), 0.0, vars)
    assert actions[-1] == final and state.final == final


def test_say_items_render_in_order() -> None:
    _, actions = walk(flow(), ["9123"], 0.0, {"due": "1767225600"})
    i = actions.index(s.Play(("you-entered",)))
    assert actions[i:i + 5] == [s.Play(("you-entered",)), s.SayDigits("9123"), s.Play(("number",)),
                                s.SayNumber(9123), s.SayDate(1767225600, "UTC")]
    assert actions[i + 5] == s.Play(("goodbye",))


def test_empty_say_values_are_skipped() -> None:
    state = s.start_state(flow())
    res = s.step(flow(), state, s.Started(), 0.0)
    res = s.step(flow(), res.state, s.Digits("9123"), 0.0)
    assert not any(isinstance(a, s.SayDate) for a in res.actions)  # no {due}: nothing said


def test_max_steps_without_operator_hangs_up() -> None:
    raw = {"flow": "trap", "entries": ["1"], "start": "a", "max_steps": 20,
           "nodes": {"a": {"type": "set", "vars": {"x": "1"}, "next": "a"}}}
    fl, problems = parse(raw, "trap.yaml")
    assert fl is not None and not problems
    res = s.step(fl, s.start_state(fl), s.Started(), 0.0)
    assert res.actions == (s.Hangup(),) and res.state.outcome == "hangup"
    assert res.state.path[-1]["choice"] == "max_steps"

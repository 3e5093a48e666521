"""Table-driven tests of the pure stepper over the demo flow."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ivr import stepper as s
from ivr.errors import IllegalTransition
from tests.unit.ivr.walk import EVENING, GOLD, HOLIDAY, KEY, OPEN, SATURDAY, demo, walk

FLOW = demo()
MENU = ("vm-press", "digits/1", "vm-press", "digits/2", "vm-press", "digits/3", "vm-press", "digits/0")
CALLER = {"caller_number": "+8613800000001"}
NO_CLI = {"caller_number": ""}

# (case, start vars, inputs, now, outcome, queue, skills, priority)
CASES: list[tuple[str, dict[str, str], list[Any], float, str, str | None, dict[str, int] | None, int | None]] = [
    ("known caller, support", CALLER, [GOLD, "1"], OPEN, "queue", "support", {"support": 2}, 5),
    ("known caller, billing", CALLER, [GOLD, "2"], OPEN, "queue", "billing", {"billing": 2}, 5),
    ("known caller, sales", CALLER, [GOLD, "3"], OPEN, "queue", "sales", {"sales": 1}, 5),
    ("0 is the operator", CALLER, [GOLD, "0"], OPEN, "queue", "general", {}, 5),
    ("key account first, zh skill", CALLER, [KEY, "1"], OPEN, "queue", "support", {"support": 2, "zh": 1}, 10),
    ("unknown number, account + PIN", CALLER, [None, "123456", "1234", GOLD, "2"], OPEN, "queue", "billing",
     {"billing": 2}, 5),
    ("no caller id: account + PIN", NO_CLI, ["123456", "1234", GOLD, "3"], OPEN, "queue", "sales", {"sales": 1}, 5),
    ("wrong PIN three times -> operator", NO_CLI, ["123456", "0000", None, "123456", "0000", None, "123456", "0000",
                                                   None], OPEN, "queue", "general", {}, 0),
    ("account timeouts -> operator", NO_CLI, ["", "", ""], OPEN, "queue", "general", {}, 0),
    ("short account then right", NO_CLI, ["123", "123456", "1234", GOLD, "1"], OPEN, "queue", "support",
     {"support": 2}, 5),
    ("letters-free pattern: 6 digits with * refused", NO_CLI, ["12345*", "", ""], OPEN, "queue", "general", {}, 0),
    ("menu timeouts -> operator", CALLER, [GOLD, "", "", ""], OPEN, "queue", "general", {}, 5),
    ("invalid key then sales", CALLER, [GOLD, "7", "3"], OPEN, "queue", "sales", {"sales": 1}, 5),
    ("three invalid keys -> operator", CALLER, [GOLD, "7", "8", "#"], OPEN, "queue", "general", {}, 5),
    ("switch to zh then support", CALLER, [GOLD, "9", "1"], OPEN, "queue", "support", {"support": 2, "zh": 1}, 5),
    ("language loop is bounded", CALLER, [GOLD, "9", "9", "9"], OPEN, "queue", "general", {"zh": 1}, 5),
    ("saturday: voicemail", CALLER, [GOLD, "1"], SATURDAY, "voicemail", None, None, None),
    ("18:00 is closed: callback", CALLER, [GOLD, "2"], EVENING, "callback", None, None, None),
    ("holiday: timeouts -> voicemail", CALLER, [GOLD, "", ""], HOLIDAY, "voicemail", None, None, None),
    ("after hours 0 still reaches a human", CALLER, [GOLD, "0"], SATURDAY, "queue", "general", {}, 5),
    ("always-open line on a saturday", {**CALLER, "force_open": "1"}, [GOLD, "1"], SATURDAY, "queue", "support",
     {"support": 2}, 5),
]


@pytest.mark.parametrize(("start", "inputs", "now", "outcome", "queue", "skills", "priority"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_demo_paths(start: dict[str, str], inputs: list[Any], now: float, outcome: str, queue: str | None,
                    skills: dict[str, int] | None, priority: int | None) -> None:
    state, actions = walk(FLOW, inputs, now, start)
    assert state.outcome == outcome
    final = actions[-1]
    assert final is state.final
    if queue is not None:
        assert isinstance(final, s.Handoff)
        assert (final.queue, dict(final.skills), final.priority) == (queue, skills, priority)
    else:
        assert isinstance(final, s.Voicemail | s.Callback)


def test_handoff_carries_attributes_language_and_path() -> None:
    state, actions = walk(FLOW, [None, "123456", "1234", KEY, "2"], OPEN, CALLER)
    final = actions[-1]
    assert isinstance(final, s.Handoff)
    assert final.language == "zh"  # the customer's language from the directory
    assert final.attributes == {"customer": "Acme Ltd", "account": "654321", "identified_by": "account",
                                "topic": "billing"}
    visited = [p["node"] for p in state.path]
    assert visited == ["identify_by_number", "greeting", "ask_account", "ask_pin", "verify", "identified",
                       "open_check", "main_menu", "billing"]
    menu = next(p for p in state.path if p["node"] == "main_menu")
    assert (menu["input"], menu["choice"], menu["at"]) == ("2", "billing", OPEN)


def test_pin_is_masked_and_forgotten() -> None:
    state, actions = walk(FLOW, ["123456", "9731", GOLD, "1"], OPEN, NO_CLI)
    pin = next(p for p in state.path if p["node"] == "ask_pin")
    assert pin["input"] == "****"
    assert "9731" not in repr(state.path) and "9731" not in repr(state)
    assert "pin" not in state.vars
    lookup = next(a for a in actions if isinstance(a, s.Lookup))
    assert (lookup.kind, lookup.value, lookup.pin) == ("account", "123456", "9731")
    assert "9731" not in repr(lookup) and "9731" not in repr(s.Digits("9731"))


def test_pin_forgotten_when_verification_fails() -> None:
    state = s.start_state(FLOW)
    for ev in (s.Started(vars=NO_CLI), s.PromptDone(), s.Digits("123456"), s.Digits("5555")):
        state = s.step(FLOW, state, ev, OPEN).state
    assert state.phase is s.Phase.LOOKING_UP and state.vars["pin"] == "5555"
    state = s.step(FLOW, state, s.LookupResult(None), OPEN).state
    assert "pin" not in state.vars


def test_menu_prompts_and_retry_prompts() -> None:
    state = s.start_state(FLOW)
    res = s.step(FLOW, state, s.Started(vars=CALLER), OPEN)
    assert res.actions == (s.Lookup("caller_id", "+8613800000001"),)  # first: the welcome in the caller's language
    res = s.step(FLOW, res.state, s.LookupResult(GOLD), OPEN)
    assert res.actions == (s.Play(("hello",)),)
    res = s.step(FLOW, res.state, s.PromptDone(), OPEN)
    assert res.actions == (s.Collect(MENU, 1, 1, 5000),)
    res = s.step(FLOW, res.state, s.Digits("5"), OPEN)
    assert res.actions == (s.Collect(("invalid", *MENU), 1, 1, 5000),)
    assert res.state.attempts == 1
    res = s.step(FLOW, res.state, s.Digits("9"), OPEN)
    assert res.actions == (s.SetVar("CHANNEL(language)", "zh"), s.Collect(MENU, 1, 1, 5000))
    assert res.state.attempts == 0 and res.state.language == "zh"


def test_after_hours_prompt_is_played_then_collected() -> None:
    _, actions = walk(FLOW, [GOLD, "1"], SATURDAY, CALLER)
    assert s.Collect(("vm-nobodyavail", "vm-leavemsg", "vm-tocallback"), 1, 1, 5000) in actions
    assert actions[-1] == s.Voicemail("8000@cti")


def test_callback_number_and_goodbye() -> None:
    _, actions = walk(FLOW, [GOLD, "2"], EVENING, CALLER)
    assert actions[-2:] == [s.Play(("auth-thankyou", "goodbye")), s.Callback("+8613800000001", "support")]


@pytest.mark.parametrize("phase_inputs", [[], [GOLD], [GOLD, "1"]])
def test_hangup_anywhere_is_an_abandon(phase_inputs: list[Any]) -> None:
    state = s.start_state(FLOW)
    res = s.step(FLOW, state, s.Started(vars=CALLER), OPEN)
    feed = iter(phase_inputs)
    for _ in range(len(phase_inputs) * 2):
        if res.state.phase is s.Phase.FINISHED:
            break
        if res.state.phase is s.Phase.PLAYING:
            res = s.step(FLOW, res.state, s.PromptDone(), OPEN)
            continue
        item = next(feed, "STOP")
        if item == "STOP":
            break
        ev = s.Digits(item) if isinstance(item, str) else s.LookupResult(item)
        res = s.step(FLOW, res.state, ev, OPEN)
    if res.state.phase is s.Phase.FINISHED:
        with pytest.raises(IllegalTransition):
            s.step(FLOW, res.state, s.HungUp(), OPEN)
        return
    node = res.state.node
    done = s.step(FLOW, res.state, s.HungUp(), OPEN + 3)
    assert done.state.outcome == "abandoned" and done.state.phase is s.Phase.FINISHED
    assert done.actions == ()
    assert done.state.path[-1] == {"node": node, "label": FLOW.label_of(node), "at": OPEN + 3, "input": None,
                                   "choice": "hangup"}


@pytest.mark.parametrize(("phase_events", "bad"), [
    ([], s.Digits("1")),
    ([], s.PromptDone()),
    ([s.Started(vars=CALLER)], s.Started()),
    ([s.Started(vars=CALLER)], s.Digits("1")),  # waiting for the lookup
    ([s.Started(vars=CALLER)], s.PromptDone()),  # waiting for the lookup
    ([s.Started(vars=CALLER), s.LookupResult(GOLD)], s.LookupResult(GOLD)),  # the welcome is playing
    ([s.Started(vars=CALLER), s.LookupResult(GOLD), s.PromptDone()], s.LookupResult(GOLD)),  # waiting for keys
])
def test_illegal_transitions_raise(phase_events: list[s.Event], bad: s.Event) -> None:
    state = s.start_state(FLOW)
    for ev in phase_events:
        state = s.step(FLOW, state, ev, OPEN).state
    with pytest.raises(IllegalTransition):
        s.step(FLOW, state, bad, OPEN)


def test_finished_session_accepts_nothing() -> None:
    state, _ = walk(FLOW, [GOLD, "1"], OPEN, CALLER)
    for ev in (s.Started(), s.Digits("1"), s.PromptDone(), s.LookupResult(None), s.HungUp()):
        with pytest.raises(IllegalTransition):
            s.step(FLOW, state, ev, OPEN)


def test_transitions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ivr.stepper")
    walk(FLOW, [GOLD, "1"], OPEN, CALLER)
    lines = [r.getMessage() for r in caplog.records]
    assert "ivr demo: new -[Started]-> looking_up (node identify_by_number)" in lines
    assert "ivr demo: collecting -[Digits]-> finished (node support)" in lines


def test_state_is_not_mutated() -> None:
    state = s.step(FLOW, s.start_state(FLOW), s.Started(vars=CALLER), OPEN).state
    before = (dict(state.vars), dict(state.visits), state.path)
    s.step(FLOW, state, s.LookupResult(GOLD), OPEN)
    assert (dict(state.vars), dict(state.visits), state.path) == before

"""The caller's IVR path carries each step's human label and, at the queue hand-off, the caller's
topic (intent): what the agent's screen pop shows as "Main menu" and "billing"."""

from __future__ import annotations

from typing import Any

from crm_core.fold import fold
from cti.journey import IvrFinished
from ivr import stepper as s
from ivr.driver import run_ivr
from ivr.validate import parse
from tests.unit.ivr.test_driver import Clock, ScriptedSession, directory
from tests.unit.ivr.test_driver import bus as bus
from tests.unit.ivr.walk import GOLD, OPEN, demo, walk

FLOW = demo()
CALLER = {"caller_number": "+8613800000001"}


def test_every_step_has_a_label_and_the_handoff_the_menu_topic() -> None:
    state, _ = walk(FLOW, [GOLD, "2"], OPEN, CALLER)
    labels = [(p["node"], p["label"]) for p in state.path]
    assert labels == [("identify_by_number", "Caller ID lookup"), ("welcome_known", "Welcome"),
                      ("identified", "Caller identified"), ("open_check", "Opening hours"),
                      ("main_menu", "Main menu"), ("billing", "Billing")]
    assert state.path[-1]["choice"] == "queue" and state.path[-1]["intent"] == "billing"
    assert all("intent" not in p for p in state.path[:-1])


def test_operator_by_zero_has_the_operator_topic() -> None:
    state, _ = walk(FLOW, [GOLD, "0"], OPEN, CALLER)
    assert (state.path[-1]["label"], state.path[-1]["intent"]) == ("Operator", "operator")


def test_without_a_topic_the_menu_choice_is_the_intent_and_ids_read_as_words() -> None:
    data: dict[str, Any] = {
        "flow": "t", "entries": ["100"], "start": "main_menu", "operator": "front_desk",
        "nodes": {"main_menu": {"type": "menu", "prompt": ["beep"], "options": {"1": "sales", "2": "tech"}},
                  "tech": {"type": "queue", "queue": "support", "label": "Technical support"},
                  "sales": {"type": "queue", "queue": "sales"},
                  "front_desk": {"type": "queue", "queue": "general"}}}
    flow, problems = parse(data, "t.yaml")
    assert flow is not None, problems
    state, _ = walk(flow, ["2"])
    assert [(p["label"], p.get("intent")) for p in state.path] == [("Main menu", None), ("Technical support", "tech")]
    state, _ = walk(flow, ["", "", ""])  # retries used up: the operator, no topic chosen
    assert state.path[-1]["label"] == "Front desk" and "intent" not in state.path[-1]
    assert isinstance(state.final, s.Handoff) and state.final.queue == "general"


async def test_published_path_keeps_labels_and_intent_through_the_call_log(bus: Any) -> None:
    session = ScriptedSession(["123456", "1234", "2"])
    await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    await bus.drain()
    finished = next(e for e in bus.seen if isinstance(e, IvrFinished))
    assert finished.path[-1]["intent"] == "billing"
    path = fold(finished.linkedid, bus.seen).fields["ivr_path"]
    assert [p["label"] for p in path] == ["Caller ID lookup", "Welcome", "Account number", "PIN",
                                          "Account and PIN check", "Caller identified", "Opening hours",
                                          "Main menu", "Billing"]
    assert next(p for p in path if p["node"] == "ask_pin")["input"] == "****"

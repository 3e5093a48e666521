"""The agent and call state machines: every legal step from the table, every other step raises."""

from __future__ import annotations

import itertools
import logging

import pytest

from acd.errors import IllegalTransition
from acd.model import (
    AGENT_TRANSITIONS,
    CALL_TRANSITIONS,
    AgentEvent,
    AgentState,
    CallEvent,
    CallState,
    RoutingStep,
    next_agent_state,
    next_call_state,
)
from cti.logs import ContextFilter, call_context

LEGAL = [
    (AgentState.LOGGED_OUT, AgentEvent.LOGIN, AgentState.NOT_READY),
    (AgentState.NOT_READY, AgentEvent.READY, AgentState.AVAILABLE),
    (AgentState.AVAILABLE, AgentEvent.OFFER, AgentState.RESERVED),
    (AgentState.RESERVED, AgentEvent.ANSWER, AgentState.ON_CALL),
    (AgentState.RESERVED, AgentEvent.NO_ANSWER, AgentState.NOT_READY),
    (AgentState.RESERVED, AgentEvent.CANCEL, AgentState.AVAILABLE),
    (AgentState.RESERVED, AgentEvent.LOGOUT, AgentState.LOGGED_OUT),  # the offer ringing is withdrawn
    (AgentState.ON_CALL, AgentEvent.END, AgentState.WRAP_UP),
    (AgentState.WRAP_UP, AgentEvent.WRAP_DONE, AgentState.AVAILABLE),
    (AgentState.WRAP_UP, AgentEvent.NOT_READY, AgentState.NOT_READY),
    (AgentState.AVAILABLE, AgentEvent.LOGOUT, AgentState.LOGGED_OUT),
]

ILLEGAL = [
    (AgentState.LOGGED_OUT, AgentEvent.READY),
    (AgentState.LOGGED_OUT, AgentEvent.OFFER),
    (AgentState.NOT_READY, AgentEvent.OFFER),
    (AgentState.AVAILABLE, AgentEvent.READY),
    (AgentState.AVAILABLE, AgentEvent.ANSWER),
    (AgentState.RESERVED, AgentEvent.OFFER),  # never two offers ringing at once
    (AgentState.ON_CALL, AgentEvent.LOGOUT),
    (AgentState.ON_CALL, AgentEvent.READY),
    (AgentState.WRAP_UP, AgentEvent.OFFER),
]


@pytest.mark.parametrize(("state", "event", "new"), LEGAL)
def test_legal_agent_steps(state: AgentState, event: AgentEvent, new: AgentState,
                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="acd.transitions"):
        assert next_agent_state("1001", state, event) is new
    assert f"agent 1001: {state.value} -[{event.value}]-> {new.value}" in caplog.text


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_illegal_agent_steps_raise(state: AgentState, event: AgentEvent) -> None:
    with pytest.raises(IllegalTransition) as err:
        next_agent_state("1001", state, event)
    assert err.value.code == "acd_illegal_transition" and err.value.http_status == 409
    assert f"no transition from {state.value} on {event.value}" in str(err.value)


def test_table_is_exactly_what_next_state_allows() -> None:
    for state, event in itertools.product(AgentState, AgentEvent):
        if (state, event) in AGENT_TRANSITIONS:
            assert next_agent_state("a", state, event) is AGENT_TRANSITIONS[(state, event)]
        else:
            with pytest.raises(IllegalTransition):
                next_agent_state("a", state, event)
    for cstate, cevent in itertools.product(CallState, CallEvent):
        if (cstate, cevent) in CALL_TRANSITIONS:
            assert next_call_state("c", cstate, cevent) is CALL_TRANSITIONS[(cstate, cevent)]
        else:
            with pytest.raises(IllegalTransition):
                next_call_state("c", cstate, cevent)


def test_a_done_call_has_no_way_back() -> None:
    assert not [k for k in CALL_TRANSITIONS if k[0] is CallState.DONE]


@pytest.mark.parametrize(
    ("step", "call_skills", "need"),
    [
        (RoutingStep(0, {"billing": 4}), None, (("billing", 4),)),
        (RoutingStep(0, {"billing": 4}), {"zh": 3}, (("billing", 4), ("zh", 3))),
        (RoutingStep(0, {"billing": 2}), {"billing": 4}, (("billing", 4),)),
        (RoutingStep(30, {"billing": 2}, call_skill_cap=1), {"zh": 3}, (("billing", 2), ("zh", 1))),
        (RoutingStep(60, {}, call_skill_cap=0), {"zh": 3}, ()),
    ],
)
def test_step_requirement_merges_call_skills(step: RoutingStep, call_skills: dict[str, int] | None,
                                             need: tuple[tuple[str, int], ...]) -> None:
    assert step.requirement(call_skills) == need


# The steps that are not about a call: an agent's own, between calls. Every other step rings, answers,
# ends or wraps up a call (a step out of wrap-up ends that call's after-call work).
NOT_ABOUT_A_CALL = {
    (AgentState.LOGGED_OUT, AgentEvent.LOGIN), (AgentState.NOT_READY, AgentEvent.READY),
    (AgentState.NOT_READY, AgentEvent.NOT_READY), (AgentState.NOT_READY, AgentEvent.LOGOUT),
    (AgentState.AVAILABLE, AgentEvent.NOT_READY), (AgentState.AVAILABLE, AgentEvent.LOGOUT),
}


@pytest.mark.parametrize(("state", "event"), list(AGENT_TRANSITIONS))
def test_a_step_names_the_call_of_its_context_only_when_it_is_about_a_call(
        state: AgentState, event: AgentEvent, caplog: pytest.LogCaptureFixture) -> None:
    """The demo's bot made its agent ready after a break from the task that had wrapped up its last
    call, and the line read ``agent 1004: not_ready -[ready]-> available [call=<that call>]``: taken
    for a new call. A step between calls names no call (nor queue), whatever the context."""
    caplog.handler.addFilter(ContextFilter())  # what the engine's handlers copy onto each record
    with caplog.at_level(logging.INFO, logger="acd.transitions"), call_context("c1", agent="1004", queue="support"):
        next_agent_state("1004", state, event)
    (record,) = [r for r in caplog.records if r.name == "acd.transitions"]
    context = (record.__dict__["call_id"], record.__dict__["agent"], record.__dict__["queue"])
    if (state, event) in NOT_ABOUT_A_CALL:
        assert context == (None, "1004", None), record.getMessage()
    else:
        assert context == ("c1", "1004", "support"), record.getMessage()

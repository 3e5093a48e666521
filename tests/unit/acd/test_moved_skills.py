"""A call moved to another queue keeps its caller's skills (a language) but not another queue's
topic skill: a support caller sent to billing waited for an agent with support and billing until
billing's last step dropped the call's skills. Found in the supervisor's trial on the real Asterisk
(tests/asterisk/supervisor/test_scripted_day.py) for an agent's transfer to a queue, then for the
router's own moves: an overflow and a limit's queue action."""

from __future__ import annotations

import pytest

from acd.decisions import LimitAction, Overflow
from acd.model import LimitKind, LimitSpec, QueueConfig, moved_skills
from acd.routing import Router

from .helpers import of, offers, ready_agent, steps

QUEUES = ["billing", "general", "sales", "support"]


@pytest.mark.parametrize(("skills", "queue", "kept"), [
    ({"support": 2, "zh": 1}, "billing", {"zh": 1}),
    ({"support": 2, "zh": 1}, "support", {"support": 2, "zh": 1}),  # the same queue: as the IVR asked
    ({"billing": 2}, "sales", None),
    ({"vip": 3, "sales": 1}, "general", {"vip": 3}),  # a skill no queue is named like stays
    (None, "billing", None),
])
def test_a_call_moved_to_a_queue_keeps_only_its_callers_skills(skills: dict[str, int] | None, queue: str,
                                                                kept: dict[str, int] | None) -> None:
    assert moved_skills(skills, queue, QUEUES) == kept


# How support's caller leaves for general: (support's config, when it leaves, the decision that says so).
_MOVES = {
    "overflow": (QueueConfig("support", overflow_after_s=60, overflow_to="general"), 61.0, Overflow),
    "max_wait": (QueueConfig("support", max_wait_s=60, max_wait_action=LimitSpec(LimitKind.QUEUE, "general")),
                 61.0, LimitAction),
    "no_agents": (QueueConfig("support", no_agents_action=LimitSpec(LimitKind.QUEUE, "general")), 1.0,
                  LimitAction),
}


@pytest.mark.parametrize("how", sorted(_MOVES))
def test_a_call_the_router_moves_drops_the_topic_skill_of_the_queue_it_left(how: str) -> None:
    """The IVR put a Mandarin caller in support with the topic skill support; support sends it on to
    general, whose first step asks for no skill: general's Mandarin agent (no support skill) takes it
    at once, not after general's skill-dropping step."""
    support, leaves_at, decision = _MOVES[how]
    general = QueueConfig("general", steps=steps((0, {}), (120, {}, 0)))
    r = Router([support, general])
    if how != "no_agents":
        ready_agent(r, "s", {"support": 5}, 0.0, queues=["support"])
        r.set_not_ready("s", "break", 0.5)  # support's only agent is away: the caller waits there
    ready_agent(r, "g", {"zh": 1}, 0.0, queues=["general"])
    out = r.enqueue("c1", "support", 1.0, skills={"support": 2, "zh": 1})
    if how != "no_agents":
        out = r.tick(leaves_at)
    assert of(out, decision), out
    assert offers(out) == [("c1", "g")]
    assert r.call("c1").need == (("zh", 1),)  # the caller's language still counts


def test_a_moved_call_without_a_skill_of_its_caller_needs_none() -> None:
    """Only the topic skill: the moved call asks for nothing general's step does not."""
    r = Router([QueueConfig("support", overflow_after_s=60, overflow_to="general"), QueueConfig("general")])
    r.enqueue("c1", "support", 1.0, skills={"support": 2})
    r.tick(61.0)
    assert r.call("c1").need == ()

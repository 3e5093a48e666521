"""A call an agent transfers to a queue keeps its caller's skills (a language) but not another
queue's topic skill: a support caller sent to billing waited for an agent with support and billing
until billing's last step dropped the call's skills (found in the supervisor's trial on the real
Asterisk: tests/asterisk/supervisor/test_scripted_day.py)."""

from __future__ import annotations

import pytest

from acd.call_actions import moved_skills

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

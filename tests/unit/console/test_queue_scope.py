"""The supervisors' queue scope of the access policy (agent_console.policy): pure rules, table-driven."""

from __future__ import annotations

import pytest

from agent_console import queue_scope
from agent_console.errors import Forbidden
from agent_console.queue_scope import EVERY_QUEUE, QueueScope

pytestmark = pytest.mark.unit

KNOWN = ["billing", "general", "sales", "support"]
BILLING = QueueScope(frozenset({"billing"}))


@pytest.mark.parametrize(("role", "assigned", "expected"), [
    ("admin", ["billing"], EVERY_QUEUE),  # administrators and managers: every queue, whatever is stored
    ("manager", ["billing"], EVERY_QUEUE),
    ("supervisor", ["billing"], BILLING),
    ("supervisor", [], EVERY_QUEUE),  # none assigned: every queue (the documented default)
    ("agent", [], QueueScope(frozenset())),
])
def test_scope_for_a_role_and_its_assignment(role: str, assigned: list[str], expected: QueueScope) -> None:
    assert queue_scope.scope_for(role, assigned) == expected


def test_report_queues_checks_the_asked_ones_and_defaults_to_the_scope() -> None:
    assert queue_scope.report_queues(BILLING, []) == ["billing"]
    assert queue_scope.report_queues(BILLING, ["billing"]) == ["billing"]
    assert queue_scope.report_queues(EVERY_QUEUE, []) == []
    assert queue_scope.report_queues(EVERY_QUEUE, ["support"]) == ["support"]
    with pytest.raises(Forbidden, match=r"queue 'support' is not one of your queues \(you oversee billing\)"):
        queue_scope.report_queues(BILLING, ["billing", "support"])


@pytest.mark.parametrize(("logged_in", "skills", "oversees"), [
    ((), {"billing": 3}, True),  # a skill named like the queue: may log in to it
    (("billing",), {}, True),  # logged in to it now
    ((), {"support": 3, "en": 2}, False),  # support and general only
    (("support", "general"), {"support": 3}, False),
])
def test_an_agent_is_overseen_when_they_serve_one_of_the_queues(logged_in: tuple[str, ...], skills: dict[str, int],
                                                                 oversees: bool) -> None:
    served = queue_scope.queues_served(logged_in, skills, KNOWN)
    assert queue_scope.oversees_agent(BILLING, served) is oversees
    assert queue_scope.oversees_agent(EVERY_QUEUE, served)
    # general is open to every agent: its supervisor oversees everyone
    assert queue_scope.oversees_agent(QueueScope(frozenset({"general"})), served)
    if not oversees:
        with pytest.raises(Forbidden, match="agent 1001 serves none of your queues"):
            queue_scope.check_agent_scope(BILLING, "1001", served)


def test_skills_named_like_another_teams_queue_stay_as_they_are() -> None:
    queue_scope.check_skills_scope(BILLING, {"billing": 2, "support": 3}, {"billing": 5, "support": 3, "en": 1}, KNOWN)
    for after in ({"billing": 2, "support": 4}, {"billing": 2}, {"billing": 2, "support": 3, "sales": 1}):
        with pytest.raises(Forbidden, match=r"skill '(support|sales)' decides who serves queue"):
            queue_scope.check_skills_scope(BILLING, {"billing": 2, "support": 3}, after, KNOWN)
    queue_scope.check_skills_scope(EVERY_QUEUE, {}, {"support": 5}, KNOWN)


def test_alerts_about_other_queues_or_their_agents_are_not_seen() -> None:
    agents = {"1002"}
    assert queue_scope.sees_alert(BILLING, {"queue": "billing", "subject": "queue:billing"}, agents)
    assert not queue_scope.sees_alert(BILLING, {"queue": "support", "subject": "queue:support"}, agents)
    assert queue_scope.sees_alert(BILLING, {"queue": None, "subject": "agent:1002"}, agents)
    assert not queue_scope.sees_alert(BILLING, {"queue": None, "subject": "agent:1001"}, agents)
    assert queue_scope.sees_alert(BILLING, {"queue": None, "subject": "global"}, agents)
    assert queue_scope.sees_alert(EVERY_QUEUE, {"queue": "support", "subject": "agent:1001"}, set())


def test_a_scoped_board_keeps_the_scopes_rows_and_hides_other_queues_calls() -> None:
    board = {
        "type": "wallboard", "totals": {"waiting": 3},
        "queues": [{"queue": "support"}, {"queue": "billing"}],
        "waiting_calls": [{"queue": "support", "caller_number": "+861"}, {"queue": "billing", "caller_number": "+862"}],
        "agents": [
            {"agent_id": "1001", "queues": ["support"], "skills": {"support": 3}, "call": None},
            # serves both; on a support call: the call is shown without its number or id
            {"agent_id": "1002", "queues": ["support", "billing"], "skills": {"billing": 3},
             "call": {"queue": "support", "status": "talking", "since": 1.0, "linkedid": "L1",
                      "caller_number": "+863"}},
        ],
        "alerts": [{"queue": "support", "subject": "queue:support"}, {"queue": None, "subject": "agent:1002"},
                   {"queue": None, "subject": "agent:1001"}],
    }
    out = queue_scope.scoped_board(BILLING, board)
    assert [q["queue"] for q in out["queues"]] == ["billing"]
    assert out["waiting_calls"] == [{"queue": "billing", "caller_number": "+862"}]
    assert [a["agent_id"] for a in out["agents"]] == ["1002"]
    assert out["agents"][0]["call"] == {"queue": "support", "status": "talking", "since": 1.0, "linkedid": None,
                                        "caller_number": ""}
    assert out["alerts"] == [{"queue": None, "subject": "agent:1002"}]
    assert "+861" not in repr(out) and "+863" not in repr(out)
    assert out["totals"] == board["totals"]  # the service computes the scope's own
    assert queue_scope.scoped_board(EVERY_QUEUE, board) == board
    # ``served`` given (the service's, with the CRM's skills of the logged-out): it decides
    scoped = queue_scope.scoped_board(BILLING, board, {"1001": {"billing"}})
    assert [a["agent_id"] for a in scoped["agents"]] == ["1001"]


def test_a_supervisor_reads_the_audit_entries_of_their_agents_queues_and_own_steps() -> None:
    def sees(entry: dict[str, object]) -> bool:
        return queue_scope.sees_audit_entry(BILLING, entry, {"1002"}, "sup1")

    assert sees({"actor": "admin", "target": "agent:1002", "detail": {}})
    assert not sees({"actor": "admin", "target": "agent:1001", "detail": {}})
    assert sees({"actor": "admin", "target": "callback:7", "detail": {"queue": "billing"}})
    assert not sees({"actor": "admin", "target": "callback:8", "detail": {"queue": "support"}})
    assert not sees({"actor": "admin", "target": "user:sup2", "detail": {"changes": {}}})
    assert sees({"actor": "sup1", "target": "user:sup2", "detail": {}})  # their own step
    assert queue_scope.sees_audit_entry(EVERY_QUEUE, {"actor": "admin", "target": "user:sup2"}, set(), "mgr1")

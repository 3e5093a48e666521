"""Escalation reaches named people level by level; each person sees only what is addressed to them."""

from acd.recipients import may_see, parse_recipients, recipients_for
from agent_console.supervisor.wallboard import Wallboard

LEVELS = ("supervisor", "manager", "head_of_service")
RAW = {"supervisor": {"support": ["sup1"], "default": ["sup2"]}, "manager": ["mgr1"], "head_of_service": ["boss"]}


def test_each_level_adds_the_next_people() -> None:
    recipients, problems = parse_recipients(RAW, "alerts.yaml", set(LEVELS))
    assert problems == []
    assert recipients_for(recipients, LEVELS, 0, "support") == ("sup1",)
    assert recipients_for(recipients, LEVELS, 0, "billing") == ("sup2",)  # the default supervisor
    assert recipients_for(recipients, LEVELS, 1, "support") == ("sup1", "mgr1")
    assert recipients_for(recipients, LEVELS, 2, None) == ("sup2", "mgr1", "boss")


def test_bad_sections_are_named() -> None:
    _, problems = parse_recipients({"ceo": ["x"], "manager": "mgr1"}, "alerts.yaml", set(LEVELS))
    assert "alerts.yaml: recipients.ceo: unknown level" in problems[0]
    assert "recipients.manager.default: expected a list of usernames" in problems[1]


def test_wallboard_shows_each_person_their_alerts() -> None:
    snap = {"queues": [], "alerts": [{"alert_id": "a1", "to": ["sup1"]}, {"alert_id": "a2", "to": ["sup1", "mgr1"]},
                                     {"alert_id": "a3", "to": []}]}
    ids = lambda view: [a["alert_id"] for a in view["alerts"]]  # noqa: E731
    assert ids(Wallboard.view_for(snap, "sup1", "supervisor")) == ["a1", "a2", "a3"]
    assert ids(Wallboard.view_for(snap, "mgr1", "supervisor")) == ["a2", "a3"]
    assert ids(Wallboard.view_for(snap, "someone", "admin")) == ["a1", "a2", "a3"]
    assert not may_see({"to": ["sup1"]}, "sup2", "supervisor")

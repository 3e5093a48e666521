"""config/queues.yaml: the shipped file loads; every mistake is named with file, queue and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.config import check_queues, load_queues
from acd.model import LimitKind, Strategy
from acd.routing import Router
from cti.errors import ConfigError
from cti.settings import load_settings

from .helpers import offers


def test_shipped_queues_load_and_route() -> None:
    settings = load_settings()
    assert check_queues(settings) == []
    cfg = load_queues(settings)
    assert [q.name for q in cfg.queues] == ["support", "billing", "sales", "general"]
    billing = cfg.queue("billing")
    assert billing.strategy is Strategy.MOST_SKILLED
    assert [(s.after_s, dict(s.skills)) for s in billing.steps] == [(0, {"billing": 4}), (30, {"billing": 2}), (60, {})]
    assert billing.service_level_s == 20.0
    assert cfg.queue("support").no_agents_action is not None
    assert cfg.queue("support").no_agents_action.action is LimitKind.QUEUE  # type: ignore[union-attr]
    assert cfg.queue("support").overflow_to == "general"
    assert cfg.ivr_lost_queue == "general"  # callers who lost their IVR wait there, not hung up
    assert {a.agent_id for a in cfg.agents} == {str(n) for n in range(1001, 1009)}
    r = Router(cfg.queues)
    for a in cfg.agents:
        r.agent_login(a.agent_id, a.skills, 0.0, queues=a.queues, ready=True)
    # billing >= 4, most skilled: 陈静 Chen Jing (1003, billing 5)
    assert offers(r.enqueue("c1", "billing", 1.0)) == [("c1", "1003")]


BAD = """
skills: [support, billing]
ivr_lost_queue: operators
queues:
  support:
    steps:
      - {after_s: 5, skills: {support: 3}}
      - {after_s: 5, skills: {suport: 1}}
    overflow: {after_s: 60, to: nowhere}
    max_wait_s: 100
  billing:
    no_agents_action: {action: queue, target: billing}
  "vip|gold":
    steps: [{after_s: 0}]
agents:
  "1001": {skills: {billing: 2}, queues: [sales]}
  "1002": {username: agent1001, skills: {billing: 2}}
"""


def test_check_names_file_queue_and_field(tmp_path: Path) -> None:
    (tmp_path / "queues.yaml").write_text(BAD, encoding="utf-8")
    settings = load_settings(config_dir=tmp_path)
    problems = check_queues(settings)
    path = str(tmp_path / "queues.yaml")
    assert all(p.startswith(path + ": ") for p in problems)
    text = "\n".join(problems)
    for expected in [
        "queues.support.steps[0].after_s: the first step starts at 0",
        "queues.support.steps[1].after_s: must be later than the step before",
        "queues.support.steps[1].skills.suport: unknown skill",
        "queues.support.overflow.to: unknown queue 'nowhere'",
        "ivr_lost_queue: unknown queue 'operators'",
        "queues.vip|gold: a queue's name is 1-64 letters, digits, '_' or '-'",
        "queues.support.max_wait_action: needed when max_wait_s is set",
        "queues.billing.no_agents_action.target: needs another configured queue",
        "agents.1001.queues: unknown queue 'sales'",
        "agents.1002.username: 'agent1001' is also agent 1001's",
    ]:
        assert expected in text, expected
    with pytest.raises(ConfigError) as err:
        load_queues(settings)
    assert "suport" in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("skills: [a]\nqueues:\n  q:\n    steps: [{after_s: 0, skills: {a: 7}}]\n",
         "queues.q.steps[0].skills.a: level 7 outside 1..5"),
        ("skills: [a]\nqueues:\n  q:\n    strategy: fastest\n", "queues.q.strategy"),
        ("skills: [a]\nqueues:\n  q:\n    wrap_up: 3\n", "queues.q.wrap_up: Extra inputs are not permitted"),
        ("queues: [\n", "not valid YAML"),
    ],
)
def test_schema_errors_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "queues.yaml").write_text(text, encoding="utf-8")
    problems = check_queues(load_settings(config_dir=tmp_path))
    assert any(expected in p for p in problems), problems


def test_missing_file(tmp_path: Path) -> None:
    assert check_queues(load_settings(config_dir=tmp_path)) == [f"{tmp_path / 'queues.yaml'}: missing"]

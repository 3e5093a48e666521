"""config/alerts.yaml: the shipped file is valid; every problem names the file, the rule and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from acd import alert_config
from acd.alerts import AlertEngine, AlertKind
from cti.errors import ConfigError
from cti.settings import load_settings


def test_shipped_alerts_yaml_is_valid_and_covers_the_demo_queues() -> None:
    settings = load_settings()
    assert alert_config.check_alerts(settings) == []
    rules = alert_config.load_alert_rules(alert_config.alerts_file(settings))
    assert {r.queue for r in rules if r.kind is AlertKind.SL_BELOW and r.queue} == {
        "support", "billing", "sales", "general"}
    assert {r.kind for r in rules} == set(AlertKind)
    AlertEngine(rules)


def test_check_alerts_names_file_rule_and_field(tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump({
        "defaults": {"ack_timeout_s": 60, "colour": "red"},
        "rules": [
            {"id": "a", "kind": "sl_below", "scope": "queue", "queue": "support", "threshold": 0.8},
            {"id": "a", "kind": "waiting_above", "scope": "global", "threshold": 3},
            {"id": "b", "kind": "sl_above", "scope": "queue", "queue": "support", "threshold": 0.8},
            {"id": "c", "kind": "waiting_above", "scope": "queue", "queue": "nowhere", "threshold": 3},
            {"id": "d", "kind": "waiting_above", "scope": "queue", "queue": "support", "threshold": "x"},
            {"id": "e", "kind": "waiting_above", "scope": "global", "threshold": 1, "levels": [], "extra": 1},
        ],
    }))
    (tmp_path / "queues.yaml").write_text(yaml.safe_dump({"queues": {"support": {}, "billing": {}}}))
    settings = load_settings(config_dir=tmp_path)
    problems = alert_config.check_alerts(settings)
    path = str(tmp_path / "alerts.yaml")
    assert all(p.startswith(path) for p in problems)
    text = "\n".join(problems)
    for needle in ("defaults.colour: unknown key", "rules[1] (a).id: duplicate", "rules[2] (b).kind",
                   "rules[4] (d).threshold: expected a number",
                   "rules[5] (e).extra: unknown key", "rules[5] (e).levels"):
        assert needle in text, needle
    assert len(problems) == 7
    # The unknown queue names its place as every other problem does (it read "rule 'c'.queue: ...").
    assert f"{path}: rules[3] (c).queue: 'nowhere' is not a queue in queues.yaml" in problems, problems
    with pytest.raises(ConfigError, match="invalid alert rules"):
        alert_config.load_alert_rules(tmp_path / "alerts.yaml")
    (tmp_path / "alerts.yaml").write_text("rules: [")
    assert "not valid YAML" in alert_config.check_alerts(settings)[0]
    assert "cannot read" in alert_config.check_alerts(load_settings(config_dir=tmp_path / "none"))[0]


def test_each_problem_names_its_place_once() -> None:
    """A rule the rule type itself refused named the rule twice: ``rules[0] (e).levels: rule 'e': ...``
    (the place, then the rule's own message, which names the rule for the API's sake)."""
    _, problems = alert_config.parse_alert_rules({"rules": [
        {"id": "e", "kind": "waiting_above", "scope": "global", "threshold": 1, "levels": []},
        {"id": "q", "kind": "waiting_above", "scope": "queue", "threshold": 1},
        {"id": "t", "kind": "sl_below", "scope": "queue", "queue": "s", "threshold": 2},
        {"id": "k", "kind": "sl_above", "scope": "queue", "queue": "s", "threshold": 0.5},
        {"kind": "sl_below", "scope": "queue", "queue": "s", "threshold": 0.5},
    ]}, "alerts.yaml")
    assert problems == [
        "alerts.yaml: rules[0] (e).levels: a non-empty list of distinct role names",
        "alerts.yaml: rules[1] (q).queue: required with scope queue, not allowed with scope global",
        "alerts.yaml: rules[2] (t).threshold: a service-level target is a fraction in (0, 1]",
        "alerts.yaml: rules[3] (k).kind: one of sl_below, longest_wait_above, waiting_above, "
        "agent_not_ready_above, case_overdue, abandon_rate_above (got 'sl_above')",
        "alerts.yaml: rules[4] (?).id: expected a non-empty string",
    ]

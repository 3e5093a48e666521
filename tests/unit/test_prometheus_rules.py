"""docs/prometheus-alerts.yml under ``promtool test rules`` (Debian's prometheus package, as the
asterisk tier's scrape test uses): with several nodes (docs/deployment.md, "Several nodes") a
standby answers no scrape until it routes, so "engine down" means no node answers, not one target
down (the trial's healthy standby fired CtiEngineDown, critical, for as long as it waited)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cti.settings import PROJECT_ROOT

RULES = PROJECT_ROOT / "docs" / "prometheus-alerts.yml"
DESCRIPTION = "With several nodes a standby answers no scrape until it routes; none answering means none routes."

TESTS = f"""
rule_files: ["{RULES}"]
evaluation_interval: 15s
tests:
  - name: a routing node and a waiting standby
    interval: 15s
    input_series:
      - series: 'up{{job="cti", instance="node-a:8080"}}'
        values: '1x20'
      - series: 'up{{job="cti", instance="node-b:8081"}}'
        values: '0x20'
    alert_rule_test:
      - {{eval_time: 5m, alertname: CtiEngineDown, exp_alerts: []}}
  - name: no node answers
    interval: 15s
    input_series:
      - series: 'up{{job="cti", instance="node-a:8080"}}'
        values: '1 1 0x20'
      - series: 'up{{job="cti", instance="node-b:8081"}}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 5m
        alertname: CtiEngineDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: cti}}
            exp_annotations:
              summary: "No CTI engine node answers scrapes: calls are not routed"
              description: "{DESCRIPTION}"
  - name: one engine, down
    interval: 15s
    input_series:
      - series: 'up{{job="cti", instance="cti-host:8080"}}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 2m
        alertname: CtiEngineDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: cti}}
            exp_annotations:
              summary: "No CTI engine node answers scrapes: calls are not routed"
              description: "{DESCRIPTION}"
"""


def test_engine_down_means_no_node_answers(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/install-system-deps.sh (Debian package prometheus)"
    spec = tmp_path / "alerts-test.yml"
    spec.write_text(TESTS)
    done = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr

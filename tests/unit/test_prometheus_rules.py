"""docs/prometheus-alerts.yml under ``promtool test rules`` (Debian's prometheus package, as the
asterisk tier's scrape test uses): with several nodes (docs/deployment.md, "Several nodes") "engine
down" means no node answers, not one target down (the trial's standby, which then answered no
scrape, fired CtiEngineDown, critical, for as long as it waited); a standby answers scrapes with
``cti_routing`` 0, so nodes that answer while none routes fire CtiNoNodeRoutes, and one node down
beside a live one is CtiNodeDown, a warning."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from cti.settings import PROJECT_ROOT

RULES = PROJECT_ROOT / "docs" / "prometheus-alerts.yml"
DESCRIPTION = ("Every node of the job is down or unreachable; a standby answers scrapes too (cti_routing 0), so none "
               "answering means none runs.")
NONE_ROUTES = {"summary": "CTI engine nodes are up but none routes calls",
               "description": "Every node that answers is a standby (cti_routing 0): callers wait unrouted "
                              "(app_queue's fallback takes them once the heartbeat lapses). Check the nodes' logs for "
                              "the routing lease and the start."}
NODE_DOWN = {"summary": "CTI engine node node-a:8080 answers no scrape",
             "description": "Another node answers; if it is a standby it has taken over (see CtiNoNodeRoutes). "
                            "Restart this node to have a spare again."}

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
        values: '1x20'
      - series: 'cti_routing{{job="cti", instance="node-a:8080"}}'
        values: '1x20'
      - series: 'cti_routing{{job="cti", instance="node-b:8081"}}'
        values: '0x20'
    alert_rule_test:
      - {{eval_time: 5m, alertname: CtiEngineDown, exp_alerts: []}}
      - {{eval_time: 5m, alertname: CtiNoNodeRoutes, exp_alerts: []}}
      - {{eval_time: 5m, alertname: CtiNodeDown, exp_alerts: []}}
  - name: the routing node dies and the standby takes over within a scrape
    interval: 15s
    input_series:
      - series: 'up{{job="cti", instance="node-a:8080"}}'
        values: '1 1 1 0x20'
      - series: 'up{{job="cti", instance="node-b:8081"}}'
        values: '1x20'
      - series: 'cti_routing{{job="cti", instance="node-a:8080"}}'
        values: '1 1 1 stale'
      - series: 'cti_routing{{job="cti", instance="node-b:8081"}}'
        values: '0 0 0 0 1x20'
    alert_rule_test:
      - {{eval_time: 5m, alertname: CtiEngineDown, exp_alerts: []}}
      - {{eval_time: 5m, alertname: CtiNoNodeRoutes, exp_alerts: []}}
      - eval_time: 5m
        alertname: CtiNodeDown
        exp_alerts:
          - exp_labels: {{severity: warning, job: cti, instance: "node-a:8080"}}
            exp_annotations: {json.dumps(NODE_DOWN)}
  - name: the nodes answer but none routes
    interval: 15s
    input_series:
      - series: 'up{{job="cti", instance="node-a:8080"}}'
        values: '1 1 0x20'
      - series: 'up{{job="cti", instance="node-b:8081"}}'
        values: '1x20'
      - series: 'cti_routing{{job="cti", instance="node-a:8080"}}'
        values: '1 1 stale'
      - series: 'cti_routing{{job="cti", instance="node-b:8081"}}'
        values: '0x20'
    alert_rule_test:
      - {{eval_time: 45s, alertname: CtiNoNodeRoutes, exp_alerts: []}}
      - {{eval_time: 5m, alertname: CtiEngineDown, exp_alerts: []}}
      - eval_time: 5m
        alertname: CtiNoNodeRoutes
        exp_alerts:
          - exp_labels: {{severity: critical, job: cti}}
            exp_annotations: {json.dumps(NONE_ROUTES)}
  - name: no node answers
    interval: 15s
    input_series:
      - series: 'up{{job="cti", instance="node-a:8080"}}'
        values: '1 1 0x20'
      - series: 'up{{job="cti", instance="node-b:8081"}}'
        values: '1 1 0x20'
    alert_rule_test:
      - {{eval_time: 5m, alertname: CtiNodeDown, exp_alerts: []}}
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


def test_engine_down_means_no_node_answers_and_none_routing_is_its_own_alert(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/install-system-deps.sh (Debian package prometheus)"
    spec = tmp_path / "alerts-test.yml"
    spec.write_text(TESTS)
    done = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr

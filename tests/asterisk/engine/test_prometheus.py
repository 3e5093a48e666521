"""A real Prometheus scrapes the real engine (with the bearer token) while a real call goes through
the real Asterisk; the figures are read back through Prometheus's HTTP query API. The engine's log
(configured as ``cti run`` does) shows the AMI connection, the resync and the call's context."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from acd.events import AgentOffer
from agent_console.ports import WrapUpInput
from cti.events import Event
from cti.journey import CallConnected, QueueEntered
from cti.logs import configure_logging
from cti.pbx import ManagedPbx
from cti.settings import PROJECT_ROOT, MetricsSettings, Settings
from tests.helpers import customer_number, engine_settings, place_call, running_engine, until
from tests.servers import free_port

ALERT_RULES = PROJECT_ROOT / "docs" / "prometheus-alerts.yml"

TOKEN = "scrape-token-0123456789abcdef"
# Service level of the support queue over the last 5 minutes, as docs/observability.md computes it.
WINDOW_SL = ('sum(increase(cti_queue_answered_within_sl_total{queue="support"}[5m]))'
             ' / (sum(increase(cti_queue_left_total{queue="support"}[5m]))'
             ' - sum(increase(cti_queue_abandoned_short_total{queue="support"}[5m])))')
WINDOW_ASA = ('sum(increase(cti_queue_answered_wait_seconds_total{queue="support"}[5m]))'
              ' / sum(increase(cti_queue_answered_total{queue="support"}[5m]))')
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ")


@contextlib.contextmanager
def prometheus_server(tmp: Path, target: str | Sequence[str], token: str = TOKEN) -> Iterator[str]:
    """Debian's ``prometheus`` on a free loopback port, scraping ``target`` (or several) every second
    with ``token`` and evaluating the alerting rules the project ships (docs/prometheus-alerts.yml)."""
    targets = [target] if isinstance(target, str) else list(target)
    binary = shutil.which("prometheus")
    assert binary, "the prometheus binary is missing: run scripts/install-system-deps.sh (Debian package prometheus)"
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{ALERT_RULES}"]
scrape_configs:
  - job_name: cti
    scrape_interval: 1s
    scrape_timeout: 1s
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: {token}
    static_configs:
      - targets: {json.dumps(targets)}
""")
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"prometheus exited: {(tmp / 'prometheus.log').read_text()[-2000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "prometheus not ready within 30 s"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def query(http: httpx.AsyncClient, promql: str) -> float | None:
    """The instant query's single value (None when there is no sample)."""
    r = await http.get("/api/v1/query", params={"query": promql})
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    assert body["status"] == "success", body
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


async def alerts(http: httpx.AsyncClient, timeout_s: float = 30.0) -> dict[str, str]:
    """Every loaded alerting rule's state (inactive, pending, firing), once each was evaluated
    without error."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = await http.get("/api/v1/rules", params={"type": "alert"})
        r.raise_for_status()
        rules = [rule for group in r.json()["data"]["groups"] for rule in group["rules"]]
        if rules and all(rule["health"] == "ok" for rule in rules):
            return {rule["name"]: rule["state"] for rule in rules}
        assert time.monotonic() < deadline, rules
        await asyncio.sleep(0.5)


async def eventually(http: httpx.AsyncClient, promql: str, ok: Any, timeout_s: float = 30.0) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await query(http, promql)
        if value is not None and ok(value):
            return value
        assert time.monotonic() < deadline, f"{promql} = {value} within {timeout_s} s"
        await asyncio.sleep(0.5)


async def test_prometheus_scrapes_the_engine_during_a_real_call(pbx: ManagedPbx, pbx_settings: Settings,
                                                                tmp_path: Path) -> None:
    settings = engine_settings(pbx_settings, tmp_path).model_copy(update={"metrics": MetricsSettings(token=TOKEN)})
    logs = io.StringIO()
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    configure_logging(settings, stream=logs)
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    try:
        async with running_engine(pbx, settings, answer_after_s=0.5,
                                  before_start=lambda e: e.bus.subscribe(Event, record, name="test.recorder")) as eng:
            web = f"{settings.web.host}:{settings.web.port}"
            with prometheus_server(tmp_path, web) as prom:
                async with httpx.AsyncClient(base_url=prom, timeout=5) as http:
                    await eventually(http, 'up{job="cti"}', lambda v: v == 1)
                    assert await eventually(http, "cti_ami_connected", lambda v: v == 1) == 1
                    assert await eventually(http, "cti_dialplan_contexts_missing", lambda v: v == 0) == 0
                    state = await alerts(http)
                    assert state["CtiDialplanOutdated"] == "inactive" and state["CtiAmiDown"] == "inactive", state

                    _, _, number = await customer_number(eng)
                    await eng.desk.login_queues("1001", ["support", "general"])
                    await eng.desk.set_ready("1001")
                    await place_call(eng, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
                    offer = await until(lambda: next((e for e in seen if isinstance(e, AgentOffer)), None))
                    await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None))
                    # While the call is live: a talking call in its queue, the agent on the call.
                    await eventually(http, 'cti_queue_calls{queue="support",state="talking"}', lambda v: v >= 1)
                    await eventually(http, 'cti_agents{queue="support",state="on_call"}', lambda v: v >= 1)

                    await eng.desk.hangup("1001", offer.linkedid)
                    await until(lambda: eng.router.agent("1001").state.value == "wrap_up")
                    await eng.desk.wrap_up("1001", offer.linkedid, WrapUpInput(disposition="resolved", notes="ok",
                                                                               resolved=True))
                    await eng.bus.drain()  # type: ignore[attr-defined]
                    await eng.logger.flush()

                    assert await eventually(http, "sum(cti_agent_offers_total)", lambda v: v >= 1) >= 1
                    assert await eventually(http, 'cti_queue_answered_total{queue="support"}', lambda v: v >= 1) >= 1
                    assert await eventually(http, 'cti_queue_offered_total{queue="support"}', lambda v: v >= 1) >= 1
                    sl = await eventually(http, 'cti_queue_service_level_ratio{queue="support"}', lambda v: True)
                    assert 0.0 <= sl <= 1.0
                    # The same figure over a window, from the counters (docs/observability.md): the
                    # call left the queue within the last 5 minutes, so both agree.
                    await eventually(http, 'cti_queue_left_total{queue="support"}', lambda v: v >= 1)
                    assert await query(http, 'cti_queue_system_failures_total{queue="support"}') == 0
                    await eventually(http, WINDOW_SL, lambda v: abs(v - sl) < 1e-9)
                    asa = await eventually(http, 'cti_queue_asa_seconds{queue="support"}', lambda v: v >= 0)
                    await eventually(http, WINDOW_ASA, lambda v: abs(v - asa) < 1e-6)
                    assert (await alerts(http))["CtiServiceLevelBelowTarget"] == "inactive"
                    await eventually(http, "cti_ami_events_total", lambda v: v > 0)
                    await eventually(http, "cti_event_lag_seconds_count", lambda v: v > 0)
                    await eventually(http, 'sum(cti_db_statement_duration_seconds_count{op="insert"})', lambda v: v > 0)
                    await eventually(http, 'sum(cti_http_request_duration_seconds_count{route="/metrics"})',
                                     lambda v: v > 0)
                    await eventually(http, "cti_calllog_pending_calls", lambda v: v == 0)
                    assert await query(http, 'cti_bus_queue_depth{subscriber="crm.calllog"}') is not None
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
                h.close()
        root.setLevel(level)
        logging.captureWarnings(False)

    lines = logs.getvalue().splitlines()
    assert lines and all(TIMESTAMPED.match(line) for line in lines if not line.startswith((" ", "Traceback")))
    text = logs.getvalue()
    assert "INFO    cti.ami.manager: AMI connected to" in text
    assert "INFO    cti.ami.manager: AMI resync done:" in text
    assert "metrics: /metrics on the web port, behind the bearer token" in text
    assert f"[call={offer.linkedid}" in text  # records made while handling the call name it
    assert TOKEN not in text and settings.ami.secret.get_secret_value() not in text

"""``/metrics``: refused without the bearer token, Prometheus text with it, absent when neither a
token nor a listener of its own is configured; HTTP durations labelled by route template; open
websockets; the live collector's queue, agent and AMI families; one registry per engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from acd.model import AgentState, AgentView
from acd.stats import QueueStats
from agent_console.demo import build_demo, serve
from agent_console.metrics import EngineMetrics, LiveSources, metrics_asgi
from cti.settings import load_settings
from tests.servers import free_port
from tests.web.console.conftest import Console

TOKEN = "metrics-token-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition (parsed by prometheus-client's own parser)."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
async def metered() -> AsyncIterator[tuple[Console, EngineMetrics]]:
    settings = load_settings(web={"session_secret": "test-secret-0123456789"})
    metrics = EngineMetrics()
    demo = build_demo(settings, answer_after_s=None, metrics=metrics, metrics_token=SecretStr(TOKEN))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with serve(demo.app, "127.0.0.1", port), httpx.AsyncClient(base_url=base) as http:
        c = Console(demo, base, http, clock=lambda: 0.0)  # type: ignore[arg-type]
        try:
            yield c, metrics
        finally:
            for s in c.sockets:
                await s.close()
            await demo.desk.close()


async def test_token_refused_and_accepted(metered: tuple[Console, EngineMetrics]) -> None:
    c, _ = metered
    r = await c.http.get("/metrics")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await c.http.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert r.status_code == 401
    # A console session token is not the metrics token.
    session = await c.login("alice")
    assert (await c.http.get("/metrics", headers=c.auth(session))).status_code == 401
    r = await c.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE cti_http_request_duration_seconds histogram" in r.text
    assert "/metrics" not in (await c.http.get("/openapi.json")).text


async def test_http_durations_by_route_template_and_websockets(metered: tuple[Console, EngineMetrics]) -> None:
    c, _ = metered
    token = await c.login("alice")
    for call in ("1718000000.1", "1718000000.2"):
        await c.http.post(f"/api/calls/{call}/hangup", headers=c.auth(token))
    await c.http.get("/no/such/page")
    ws = await c.ws(token)
    await ws.recv()  # hello: the socket is accepted
    r = await c.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    got = samples(r.text)
    hangups = [k for k in got if k[0] == "cti_http_request_duration_seconds_count"
               and ("route", "/api/calls/{call_id}/hangup") in k[1]]
    assert hangups and sum(got[k] for k in hangups) == 2  # one label set for both calls: the template
    assert not any("1718000000.1" in str(k) for k in got)
    assert got[("cti_http_request_duration_seconds_count",
                (("method", "POST"), ("route", "/api/auth/login"), ("status", "200")))] == 1
    assert any(("route", "<unmatched>") in k[1] for k in got)
    assert got[("cti_websocket_connections", (("route", "/ws/agent"),))] == 1
    await ws.close()
    await c.sockets.pop().wait_closed()
    for _ in range(50):
        got = samples((await c.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text)
        if got[("cti_websocket_connections", (("route", "/ws/agent"),))] == 0:
            break
        await asyncio.sleep(0.05)
    assert got[("cti_websocket_connections", (("route", "/ws/agent"),))] == 0


async def test_made_up_websocket_paths_and_http_methods_add_no_label(metered: tuple[Console, EngineMetrics]) -> None:
    """Anyone may ask for a websocket at any path: a label per path asked for (kept for ever, scraped
    every time) would let a stranger grow the engine's memory and every scrape without bound."""
    c, _ = metered
    url = c.base.replace("http", "ws")
    for n in range(5):
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(f"{url}/ws/agent{n}x")
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(f"{url}/ws/agent?n={n}")  # no session: refused before accepting
        await c.http.request(f"MADEUP{n}", "/api/me")  # nor a method anyone makes up
    got = samples((await c.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text)
    assert [k for k in got if k[0] == "cti_websocket_connections"] == []
    assert not any("MADEUP" in str(k) for k in got)
    assert got[("cti_http_request_duration_seconds_count",
                (("method", "other"), ("route", "/api/me"), ("status", "405")))] == 5


async def test_no_token_no_endpoint() -> None:
    settings = load_settings(web={"session_secret": "test-secret-0123456789"})
    demo = build_demo(settings, answer_after_s=None, metrics=EngineMetrics(), metrics_token=None)
    port = free_port()
    async with serve(demo.app, "127.0.0.1", port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/metrics")).status_code == 404
    await demo.desk.close()


async def test_own_listener_with_and_without_token() -> None:
    metrics = EngineMetrics(LiveSources(ami_connected=lambda: True))
    for token in (None, SecretStr(TOKEN)):
        port = free_port()
        async with serve(metrics_asgi(metrics, token=token), "127.0.0.1", port), \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/")).status_code == 404
            r = await http.get("/metrics")
            if token is not None:
                assert r.status_code == 401
                r = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200
            assert samples(r.text)[("cti_ami_connected", ())] == 1.0


def test_live_collector_queues_agents_ami_and_calllog() -> None:
    stats = QueueStats(service_level_s=20.0, short_abandon_s=5.0)
    for _ in range(4):
        stats.entered()
    stats.answered_after(10.0)
    stats.answered_after(30.0)
    stats.answered_after(2.0)
    stats.abandoned_after(3.0)  # short: out of SL's denominator (KPIS.md)
    snap = stats.snapshot("support", waiting=2, ringing=1, connected=3, longest_wait_s=12.5,
                          agents_logged_in=2, agents_available=1)

    def agent(agent_id: str, state: AgentState, queues: tuple[str, ...], registered: bool = True) -> AgentView:
        return AgentView(agent_id=agent_id, state=state, reason=None, skills={}, capacity=1, queues=queues,
                         registered=registered, idle_since=0.0, not_ready_after_call=None, offers=(), calls=())

    metrics = EngineMetrics(LiveSources(
        ami_connected=lambda: False,
        dialplan_missing=lambda: 2,
        ami_counts=lambda: {"connects": 3, "resyncs": 3, "events": 1234, "backlog": 7},
        bus_stats=lambda: {"crm.calllog": {"handled": 10, "failures": 1, "backlog": 4}},
        calls_in_ivr=lambda: 5,
        queues=lambda: [snap],
        agents=lambda: [agent("1001", AgentState.AVAILABLE, ("support", "sales")),
                        agent("1002", AgentState.ON_CALL, ("support",)),
                        # available, but its console closed: offered nothing, as on the wallboard
                        agent("1003", AgentState.AVAILABLE, ("support",), registered=False)],
        calllog=lambda: {"pending": 8, "outbox_bytes": 4096, "db_up": 0.0, "write_failures": 2}))
    got = samples(metrics.render().decode())
    assert got[("cti_ami_connected", ())] == 0
    assert got[("cti_dialplan_contexts_missing", ())] == 2
    assert got[("cti_ami_reconnects_total", ())] == 2 and got[("cti_ami_events_total", ())] == 1234
    assert got[("cti_bus_queue_depth", (("subscriber", "crm.calllog"),))] == 4
    assert got[("cti_calls_in_ivr", ())] == 5
    q = (("queue", "support"),)
    assert got[("cti_queue_calls", (("queue", "support"), ("state", "waiting")))] == 2
    assert got[("cti_queue_calls", (("queue", "support"), ("state", "talking")))] == 3
    assert got[("cti_queue_offered_total", q)] == 4 and got[("cti_queue_answered_total", q)] == 3
    assert got[("cti_queue_service_level_ratio", q)] == pytest.approx(2 / 3)  # 2 within 20 s of 3 counted
    assert got[("cti_queue_asa_seconds", q)] == pytest.approx(14.0)
    assert got[("cti_agents", (("queue", "support"), ("state", "available")))] == 1
    assert got[("cti_agents", (("queue", "support"), ("state", "on_call")))] == 1
    assert got[("cti_agents", (("queue", "support"), ("state", "wrap_up")))] == 0
    assert got[("cti_agents", (("queue", "support"), ("state", "phone_offline")))] == 1
    assert got[("cti_calllog_pending_calls", ())] == 8 and got[("cti_calllog_database_up", ())] == 0


def test_each_engine_has_its_own_registry() -> None:
    a, b = EngineMetrics(), EngineMetrics()  # the same names twice: no "Duplicated timeseries"
    a.offers.labels("support").inc()
    assert samples(a.render().decode())[("cti_agent_offers_total", (("queue", "support"),))] == 1
    assert ("cti_agent_offers_total", (("queue", "support"),)) not in samples(b.render().decode())


def test_queue_counters_give_the_service_level_over_any_window() -> None:
    """Prometheus practice: counters, windows in PromQL. The counters exported per queue are enough
    to compute the live gauges' service level, abandon rate and ASA over any window:
    increase(answered_within_sl) / (increase(left) - increase(abandoned_short)); a call cut by a PBX
    crash is in none of them but its own counter."""
    stats = QueueStats(service_level_s=20.0, short_abandon_s=5.0)
    for _ in range(9):
        stats.entered()
    stats.answered_after(10.0)
    stats.answered_after(30.0)
    stats.abandoned_after(3.0)  # short
    stats.abandoned_after(40.0)
    stats.overflowed_out()  # left for another queue: in the denominator, as the gauge counts it
    stats.left_by_limit()
    stats.callback_requested()  # virtual hold: left, not answered, no abandon (kpis.md)
    stats.cut_by_system()
    stats.moved_away()  # a supervisor's move: the queue it went to counts it, not this one's left
    snap = stats.snapshot("support", waiting=0, ringing=0, connected=0, longest_wait_s=0.0,
                          agents_logged_in=0, agents_available=0)
    metrics = EngineMetrics(LiveSources(queues=lambda: [snap]))
    got = samples(metrics.render().decode())
    q = (("queue", "support"),)
    left = got[("cti_queue_left_total", q)]
    assert left == 7  # answered 2 + abandoned 2 + overflowed 1 + limit 1 + virtual hold 1; the PBX's cut is apart
    assert got[("cti_queue_virtual_holds_total", q)] == 1
    assert got[("cti_queue_system_failures_total", q)] == 1
    # The calls this queue counts as the reports do (kpis.md: moved between queues): entries - moved.
    assert got[("cti_queue_offered_total", q)] - got[("cti_queue_moved_total", q)] == 8
    sl = got[("cti_queue_answered_within_sl_total", q)] / (left - got[("cti_queue_abandoned_short_total", q)])
    assert sl == pytest.approx(got[("cti_queue_service_level_ratio", q)]) == pytest.approx(1 / 6)
    rate = ((got[("cti_queue_abandoned_total", q)] - got[("cti_queue_abandoned_short_total", q)])
            / (left - got[("cti_queue_abandoned_short_total", q)]))
    assert rate == pytest.approx(got[("cti_queue_abandon_rate_ratio", q)])
    asa = got[("cti_queue_answered_wait_seconds_total", q)] / got[("cti_queue_answered_total", q)]
    assert asa == pytest.approx(got[("cti_queue_asa_seconds", q)]) == pytest.approx(20.0)


def test_database_statements_are_timed_by_kind_each_time() -> None:
    """The statement histogram's children are kept per statement text: the same statement run again
    is counted again, under its own kind."""
    from sqlalchemy import create_engine, text

    metrics = EngineMetrics()
    engine = create_engine("sqlite://")
    metrics.watch_database(engine)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (a INTEGER)"))
            for i in range(3):
                conn.execute(text("INSERT INTO t (a) VALUES (:a)"), {"a": i})
            conn.execute(text("INSERT INTO t (a) VALUES (:a)"), [{"a": 7}, {"a": 8}])  # executemany: one
            for _ in range(2):
                conn.execute(text("  select a FROM t")).all()
            conn.execute(text("UPDATE t SET a = 0"))
    finally:
        engine.dispose()
    got = samples(metrics.render().decode())
    count = {op: got.get(("cti_db_statement_duration_seconds_count", (("op", op),)), 0.0)
             for op in ("insert", "select", "update", "delete", "other")}
    assert count == {"insert": 4.0, "select": 2.0, "update": 1.0, "delete": 0.0, "other": 1.0}


def _python_calls_a_statement(watched: bool) -> float:
    """Python function calls per statement run (an insert and a select, alternating) on SQLite."""
    import sys
    from types import FrameType
    from typing import Any

    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    if watched:
        EngineMetrics().watch_database(engine)
    calls = 0

    def count(_frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal calls
        calls += event == "call"

    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (a INTEGER)"))
            insert, select = text("INSERT INTO t (a) VALUES (:a)"), text("SELECT a FROM t WHERE a = :a")
            for i in range(20):  # statement caches, the histogram's children
                conn.execute(insert, {"a": i})
                conn.execute(select, {"a": i}).all()
            sys.setprofile(count)
            try:
                for i in range(100):
                    conn.execute(insert, {"a": i})
                    conn.execute(select, {"a": i}).all()
            finally:
                sys.setprofile(None)
    finally:
        engine.dispose()
    return calls / 200


def test_timing_a_statement_costs_a_few_python_calls() -> None:
    """The statement histogram runs in the database threads for every statement: its timing adds a
    handful of Python calls to SQLAlchemy's ~40 a statement (the cursor events it listened to made
    SQLAlchemy dispatch four events a statement and every transaction's, 31 calls a statement)."""
    added = _python_calls_a_statement(True) - _python_calls_a_statement(False)
    assert 0 < added <= 12, added


def test_a_failed_statement_is_not_timed_and_raises_as_before() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import IntegrityError

    metrics = EngineMetrics()
    engine = create_engine("sqlite://")
    metrics.watch_database(engine)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY)"))
            conn.execute(text("INSERT INTO t (a) VALUES (:a)"), {"a": 1})
            with pytest.raises(IntegrityError):
                conn.execute(text("INSERT INTO t (a) VALUES (:a)"), {"a": 1})
            with pytest.raises(IntegrityError):
                conn.execute(text("INSERT INTO t (a) VALUES (:a)"), [{"a": 2}, {"a": 2}])
            conn.execute(text("INSERT INTO t (a) VALUES (:a)"), {"a": 3})
    finally:
        engine.dispose()
    got = samples(metrics.render().decode())
    assert got[("cti_db_statement_duration_seconds_count", (("op", "insert"),))] == 2.0

"""Prometheus metrics for one engine: its own ``CollectorRegistry`` (never the global one, so several
engines in one process do not clash), rendered in the text format on ``/metrics``.

Live state (AMI link, bus backlogs, calls and agents per queue, service level, the call logger's
outbox) is read at scrape time by ``LiveCollector`` from the ``LiveSources`` the composition root
wires; only true events are counted as they happen (offers, ring-no-answer, HTTP requests, database
statements, sampled AMI event lag). Names and meanings: docs/observability.md.

The endpoint is never open by default: ``install_metrics`` adds ``/metrics`` to the console app
behind a bearer token, and ``metrics_asgi`` is a bare ASGI app for a listener of its own.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.events import AgentStateChanged
from acd.model import PHONE_OFFLINE, AgentState, AgentView
from acd.stats import QueueSnapshot
from cti.bus import EventBus, observe
from cti.journey import AgentRinging, AgentRingNoAnswer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Seconds. Lag and database buckets start at a millisecond; HTTP at 5 ms, as a console expects.
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class LiveSources:
    """What the collector reads at each scrape; a source left ``None`` is not exported."""

    # Whether this node routes calls (holds the routing lease, or runs alone). A node that does not
    # (a standby waiting for the lease) exports ``cti_routing`` 0 and none of the families below:
    # its AMI link is not up and it has no queues, and a ``cti_ami_connected`` 0 would page for it.
    routing: Callable[[], bool] | None = None
    ami_connected: Callable[[], bool] | None = None
    dialplan_missing: Callable[[], int | None] | None = None  # contexts Asterisk lacks; None: not checked yet
    ami_counts: Callable[[], Mapping[str, int]] | None = None  # connects, resyncs, events, backlog
    bus_stats: Callable[[], Mapping[str, Mapping[str, int]]] | None = None  # name -> handled/failures/backlog
    calls_in_ivr: Callable[[], int] | None = None
    queues: Callable[[], Sequence[QueueSnapshot]] | None = None
    agents: Callable[[], Sequence[AgentView]] | None = None
    calllog: Callable[[], Mapping[str, float]] | None = None  # pending, outbox_bytes, db_up, write_failures


class EngineMetrics:
    """The engine's registry, its event counters and histograms, and the live collector."""

    def __init__(self, sources: LiveSources | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.sources = sources or LiveSources()
        r = self.registry
        self.event_lag = Histogram("cti_event_lag_seconds", "AMI event time (Asterisk's) to its handling by the "
                                   "engine, sampled once per pump slice", buckets=_LAG_BUCKETS, registry=r)
        self.offers = Counter("cti_agent_offers", "Calls offered to an agent (the agent's phone rang)",
                              ["queue"], registry=r)
        self.ring_no_answer = Counter("cti_agent_ring_no_answer", "Offers the agent did not answer in time",
                                      ["queue"], registry=r)
        self.agent_transitions = Counter("cti_agent_state_changes", "Agent state changes, by new state",
                                         ["state"], registry=r)
        self.db_statements = Histogram("cti_db_statement_duration_seconds", "Database statement latency by "
                                       "kind (insert/update/delete are the writes)", ["op"], buckets=_DB_BUCKETS,
                                       registry=r)
        self.http_duration = Histogram("cti_http_request_duration_seconds", "HTTP request duration by route "
                                       "template", ["method", "route", "status"], buckets=_HTTP_BUCKETS, registry=r)
        self.websockets = Gauge("cti_websocket_connections", "Open websocket connections by route", ["route"],
                                registry=r)
        r.register(LiveCollector(self))
        # The process's own figures (process_*: CPU, memory, open files, start time; python_*: the
        # interpreter and its collector), on every node, a waiting standby included.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self._offers_by: dict[str, Any] = {}
        self._no_answer_by: dict[str, Any] = {}
        self._transitions_by: dict[str, Any] = {}

    def subscribe(self, bus: EventBus) -> None:
        # Counters only: observers (called as the event is published), not a task woken per event.
        observe(bus, AgentRinging, self._on_ringing, name="metrics.offers")
        observe(bus, AgentRingNoAnswer, self._on_no_answer, name="metrics.ring_no_answer")
        observe(bus, AgentStateChanged, self._on_agent_state, name="metrics.agent_state")

    # Each counter's child per label, looked up once: ``labels()`` takes a lock and builds a key
    # on every call, and these run several times per call in the publisher's step.
    def _on_ringing(self, ev: AgentRinging) -> None:
        _child(self._offers_by, self.offers, ev.queue or "").inc()

    def _on_no_answer(self, ev: AgentRingNoAnswer) -> None:
        _child(self._no_answer_by, self.ring_no_answer, ev.queue or "").inc()

    def _on_agent_state(self, ev: AgentStateChanged) -> None:
        _child(self._transitions_by, self.agent_transitions, ev.state).inc()

    def watch_database(self, *engines: AsyncEngine | Engine) -> None:
        """Time every statement the engine's database runs (SQLAlchemy cursor events), on each of its
        engines (``Database.statement_engines``: the session's and, on SQLite, that of ``run``)."""
        for engine in engines:
            self._watch(engine.sync_engine if isinstance(engine, AsyncEngine) else engine)

    def _watch(self, sync: Engine) -> None:
        hist = self.db_statements
        dialect = sync.dialect
        clock = time.perf_counter
        # Each statement's histogram child, looked up once per statement text: ``labels()`` takes a
        # lock and builds a key, and this runs for every statement in the database's threads.
        children: dict[str, Any] = {}

        def child(statement: str) -> Any:
            found = children[statement] = hist.labels(_statement_kind(statement))
            if len(children) > 1000:  # statements with values written in are not kept
                children.clear()
            return found

        # The dialect's execution events, not the connection's cursor events: a listener of
        # before/after_cursor_execute makes every connection of the engine dispatch each of its
        # events (before and after each statement and its cursor, begin, commit: 31 Python calls a
        # statement); a dialect event is one dispatch a statement, and its listener runs the
        # dialect's own call (returning True: done). A statement that raises is not timed.
        def timed(statement: str, t0: float) -> None:
            found = children.get(statement)
            (child(statement) if found is None else found).observe(clock() - t0)

        def execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
            t0 = clock()
            dialect.do_execute(cursor, statement, parameters, context)
            timed(statement, t0)
            return True

        def execute_many(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
            t0 = clock()
            dialect.do_executemany(cursor, statement, parameters, context)
            timed(statement, t0)
            return True

        def execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
            t0 = clock()
            dialect.do_execute_no_params(cursor, statement, context)
            timed(statement, t0)
            return True

        sa_event.listen(dialect, "do_execute", execute)
        sa_event.listen(dialect, "do_executemany", execute_many)
        sa_event.listen(dialect, "do_execute_no_params", execute_no_params)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _statement_kind(statement: str) -> str:
    op = statement.lstrip().split(None, 1)[0].lower() if statement.strip() else "other"
    return op if op in ("select", "insert", "update", "delete") else "other"


def _child(children: dict[str, Any], counter: Counter, label: str) -> Any:
    child = children.get(label)
    if child is None:
        child = children[label] = counter.labels(label)
    return child


class LiveCollector(Collector):
    """Reads the engine's live state when Prometheus scrapes (nothing to keep in step meanwhile)."""

    def __init__(self, metrics: EngineMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on what is wired; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        s = self._metrics.sources
        if s.routing is not None:
            routing = s.routing()
            yield GaugeMetricFamily("cti_routing", "1 on the node that routes calls (holds the routing lease, or "
                                    "runs alone), 0 on a standby", value=1.0 if routing else 0.0)
            if not routing:
                return
        if s.ami_connected is not None:
            yield GaugeMetricFamily("cti_ami_connected", "1 while the AMI connection is up and logged in",
                                    value=1.0 if s.ami_connected() else 0.0)
        if s.dialplan_missing is not None and (missing := s.dialplan_missing()) is not None:
            yield GaugeMetricFamily("cti_dialplan_contexts_missing", "Contexts of the engine's extensions.conf "
                                    "the connected Asterisk lacks (an older dialplan): calls reaching them fail",
                                    value=float(missing))
        if s.ami_counts is not None:
            c = s.ami_counts()
            yield CounterMetricFamily("cti_ami_connects", "AMI logins (the first one included)",
                                      value=c.get("connects", 0))
            yield CounterMetricFamily("cti_ami_reconnects", "AMI logins after a lost connection",
                                      value=max(c.get("connects", 0) - 1, 0))
            yield CounterMetricFamily("cti_ami_resyncs", "Completed AMI resyncs", value=c.get("resyncs", 0))
            yield CounterMetricFamily("cti_ami_events", "AMI events folded into the call model "
                                      "(rate() gives events per second)", value=c.get("events", 0))
            yield GaugeMetricFamily("cti_ami_ingest_backlog", "AMI events read but not yet folded",
                                    value=c.get("backlog", 0))
        if s.bus_stats is not None:
            depth = GaugeMetricFamily("cti_bus_queue_depth", "Events waiting per bus subscriber", labels=["subscriber"])
            handled = CounterMetricFamily("cti_bus_handled", "Events handled per bus subscriber",
                                          labels=["subscriber"])
            failed = CounterMetricFamily("cti_bus_handler_failures", "Handler errors per bus subscriber",
                                         labels=["subscriber"])
            for name, st in sorted(s.bus_stats().items()):
                depth.add_metric([name], st.get("backlog", 0))
                handled.add_metric([name], st.get("handled", 0))
                failed.add_metric([name], st.get("failures", 0))
            yield from (depth, handled, failed)
        if s.calls_in_ivr is not None:
            yield GaugeMetricFamily("cti_calls_in_ivr", "Calls in an IVR session now", value=s.calls_in_ivr())
        if s.queues is not None:
            yield from _queue_families(s.queues())
        if s.agents is not None:
            yield _agent_family(s.agents(), [q.queue for q in s.queues()] if s.queues is not None else [])
        if s.calllog is not None:
            c2 = s.calllog()
            yield GaugeMetricFamily("cti_calllog_pending_calls", "Calls whose latest events wait in the call "
                                    "logger's outbox for the database", value=c2.get("pending", 0))
            yield GaugeMetricFamily("cti_calllog_outbox_bytes", "Size of the call logger's outbox journal",
                                    value=c2.get("outbox_bytes", 0))
            yield GaugeMetricFamily("cti_calllog_database_up", "0 while the call logger cannot write",
                                    value=c2.get("db_up", 1))
            yield CounterMetricFamily("cti_calllog_write_failures", "Failed call-log batch writes",
                                      value=c2.get("write_failures", 0))


def _queue_families(snaps: Sequence[QueueSnapshot]) -> Iterable[Metric]:
    calls = GaugeMetricFamily("cti_queue_calls", "Calls in the queue now, by state", labels=["queue", "state"])
    longest = GaugeMetricFamily("cti_queue_longest_wait_seconds", "Age of the oldest waiting call",
                                labels=["queue"])
    offered = CounterMetricFamily("cti_queue_offered", "Calls that entered the queue (KPIS.md: Offered)",
                                  labels=["queue"])
    answered = CounterMetricFamily("cti_queue_answered", "Queued calls answered by an agent", labels=["queue"])
    within = CounterMetricFamily("cti_queue_answered_within_sl", "Queued calls answered within the service "
                                 "level threshold", labels=["queue"])
    abandoned = CounterMetricFamily("cti_queue_abandoned", "Callers who hung up while queued (short ones "
                                    "included)", labels=["queue"])
    short = CounterMetricFamily("cti_queue_abandoned_short", "Abandons within the short-abandon threshold",
                                labels=["queue"])
    # With ``left``, the counters give the gauges' figures over any window in PromQL (SL =
    # increase(answered_within_sl) / (increase(left) - increase(abandoned_short))).
    left = CounterMetricFamily("cti_queue_left", "Calls that left the queue: answered, abandoned (short ones "
                               "included), overflowed, sent elsewhere by a limit or hung up to be called back "
                               "(virtual hold)", labels=["queue"])
    virtual = CounterMetricFamily("cti_queue_virtual_holds", "Callers who hung up to be called back at their "
                                  "turn (virtual hold): offered, not answered, no abandon (KPIS.md)", labels=["queue"])
    waited = CounterMetricFamily("cti_queue_answered_wait_seconds", "Total queue wait of the answered calls "
                                 "(ASA over a window: its increase / the answered calls' increase)",
                                 labels=["queue"])
    moved = CounterMetricFamily("cti_queue_moved", "Callers a supervisor moved from this queue to another: "
                                "counted there, in no other figure of this one", labels=["queue"])
    cut = CounterMetricFamily("cti_queue_system_failures", "Queued calls cut by a PBX crash: neither answered "
                              "nor abandoned, in no other queue figure", labels=["queue"])
    sl = GaugeMetricFamily("cti_queue_service_level_ratio", "Live service level: answered within T / calls that "
                           "left the queue, short abandons excluded (KPIS.md)", labels=["queue"])
    sl_t = GaugeMetricFamily("cti_queue_service_level_threshold_seconds", "T of the service level",
                             labels=["queue"])
    asa = GaugeMetricFamily("cti_queue_asa_seconds", "Average speed of answer: queue wait of answered calls / "
                            "answered calls (KPIS.md)", labels=["queue"])
    rate = GaugeMetricFamily("cti_queue_abandon_rate_ratio", "Abandoned (short excluded) / calls that left "
                             "the queue", labels=["queue"])
    for q in snaps:
        for state, n in (("waiting", q.waiting), ("ringing", q.ringing), ("talking", q.connected)):
            calls.add_metric([q.queue, state], n)
        longest.add_metric([q.queue], q.longest_wait_s)
        offered.add_metric([q.queue], q.offered)
        answered.add_metric([q.queue], q.answered)
        within.add_metric([q.queue], q.answered_within_sl)
        abandoned.add_metric([q.queue], q.abandoned)
        short.add_metric([q.queue], q.abandoned_short)
        left.add_metric([q.queue], q.answered + q.abandoned + q.overflowed + q.limit_exits + q.callbacks_requested)
        virtual.add_metric([q.queue], q.callbacks_requested)
        cut.add_metric([q.queue], q.system_failures)
        moved.add_metric([q.queue], q.moved)
        waited.add_metric([q.queue], q.answered_wait_s)
        sl_t.add_metric([q.queue], q.service_level_s)
        # No figure yet (no call left the queue): no sample, rather than a misleading 0 or 1.
        if q.service_level is not None:
            sl.add_metric([q.queue], q.service_level)
        if q.asa_s is not None:
            asa.add_metric([q.queue], q.asa_s)
        if q.abandon_rate is not None:
            rate.add_metric([q.queue], q.abandon_rate)
    return (calls, longest, offered, answered, within, abandoned, short, left, virtual, moved, cut, waited, sl, sl_t,
            asa, rate)


def _agent_family(agents: Sequence[AgentView], queues: Sequence[str]) -> Metric:
    fam = GaugeMetricFamily("cti_agents", "Logged-in agents per queue and state (an agent counts in each of "
                            "its queues)", labels=["queue", "state"])
    counts: dict[tuple[str, str], int] = {}
    states = [s.value for s in AgentState if s is not AgentState.LOGGED_OUT] + [PHONE_OFFLINE]
    for q in queues:  # every state of every queue, zeros included: a graph never has holes
        for state in states:
            counts[(q, state)] = 0
    for a in agents:  # an available agent whose phone is unreachable counts as phone_offline
        for q in a.queues:
            counts[(q, a.counted_state)] = counts.get((q, a.counted_state), 0) + 1
    for (q, st), n in sorted(counts.items()):
        fam.add_metric([q, st], n)
    return fam


# -- HTTP ---------------------------------------------------------------------------------------

class MetricsMiddleware:
    """Pure ASGI: HTTP durations by route template (``/api/calls/{linkedid}``, never the raw path,
    so labels stay few) and open websockets by route."""

    def __init__(self, app: ASGIApp, metrics: EngineMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            gauge: Any = None  # labelled once accepted, by its route: a path anyone asks for makes no label

            async def ws_send(message: Message) -> None:
                nonlocal gauge
                if message["type"] == "websocket.accept" and gauge is None:
                    gauge = self.metrics.websockets.labels(_route_of(scope))
                    gauge.inc()
                await send(message)

            try:
                await self.app(scope, receive, ws_send)
            finally:
                if gauge is not None:
                    gauge.dec()
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def http_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, http_send)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"  # clients make methods up
            self.metrics.http_duration.labels(method, _route_of(scope), str(status)).observe(
                time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("app_root_path") or scope.get("root_path"):  # a mount (the SPA's static files)
        return str(scope.get("root_path") or scope.get("app_root_path")) + "/*"
    return "<unmatched>"


def authorized(header: str | None, token: SecretStr | None) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; no token configured: open."""
    if token is None:
        return True
    if not header or header[:7].lower() != "bearer ":
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.get_secret_value().encode())


def install_metrics(app: FastAPI, metrics: EngineMetrics, *, token: SecretStr | None) -> None:
    """HTTP metrics for every request; ``/metrics`` itself only behind a token (never open here)."""
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if token is None:
        return

    @app.get("/metrics", include_in_schema=False)
    async def _metrics(request: Request) -> Response:
        if not authorized(request.headers.get("authorization"), token):
            return Response("metrics: bearer token required\n", status_code=401, media_type="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """An ASGI lifespan scope, for a bare app with nothing to start or stop."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


def authorization(scope: Scope) -> str | None:
    """The request's Authorization header (a bare ASGI app's)."""
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"authorization"), None)


async def respond(send: Send, status: int, body: bytes, ctype: str, headers: list[tuple[bytes, bytes]], *,
                  head: bool) -> None:
    """A bare ASGI app's whole response (no body to a HEAD)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": b"" if head else body})


def metrics_asgi(metrics: EngineMetrics, *, token: SecretStr | None) -> ASGIApp:
    """A bare ASGI app for a listener of its own (``metrics.port``): GET /metrics, nothing else."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope.get("path") != "/metrics" or scope.get("method") not in ("GET", "HEAD"):
            status, body, ctype, extra = 404, b"not found\n", "text/plain", []
        elif not authorized(authorization(scope), token):
            status, body, ctype, extra = 401, b"metrics: bearer token required\n", "text/plain", \
                [(b"www-authenticate", b"Bearer")]
        else:
            status, body, ctype, extra = 200, metrics.render(), CONTENT_TYPE_LATEST, []
        await respond(send, status, body, ctype, extra, head=scope.get("method") == "HEAD")

    return app

"""Who may see and do what: the one access policy of the console, the CRM API and the supervisor side.

Two tables. ``ACTIONS``: each action -> the roles allowed (``PUBLIC`` for everyone, logged in or
not). ``ROUTES``: each route of the app (``(method, path)``, ``"WS"`` for websockets) -> its action.
``enforce`` is a dependency of the app and of every router: it finds the route's action and refuses
(401/403, websocket close 1008) whoever may not; a route missing from ``ROUTES`` is refused to all,
and ``tests/web/security/test_policy.py`` fails for it. Row rules ("agents: their own calls only")
are the helpers below, called by the routes that return rows.

Roles: ``agent`` takes calls; ``supervisor`` runs the floor (wallboard, interventions, reports);
``manager`` sees what a supervisor sees and runs reports, but does not intervene in calls;
``admin`` does everything, and alone manages the catalog (dispositions, scripts, articles).
Integrations' bearer tokens are principals too (``principal.TokenRole``): ``integration``, a named
token an administrator issued, reads (the feed, the call log's list, recordings' metadata, reports)
and nothing else; ``recordings.audio`` only when its token was given it (``GRANTABLE``);
``feed_reader``, a token of the settings' ``feed.integration_tokens``, reads the feed alone.
The table is rendered in docs/security.md ("Access policy"); ``tests/web/security/test_policy.py``
fails when an action has no row there or a role's cell disagrees with ``ACTIONS``.

Beside the roles, the queues a principal oversees: ``agent_console.queue_scope``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import HTTPConnection

from agent_console.errors import Forbidden, NotAuthenticated
from agent_console.security import (
    ROLES,
    Principal,
    _refuse,
    authenticate,
    current_principal,
)

T = TypeVar("T", bound=BaseModel)
PUBLIC = frozenset({"public"})
ALL = frozenset(ROLES)
STAFF = frozenset({"supervisor", "manager", "admin"})
FLOOR = frozenset({"supervisor", "admin"})  # who intervenes in live calls and edits a caller's identity
ADMIN = frozenset({"admin"})
INTEGRATION = "integration"  # a named integration token: read only (agent_console.integrations)
FEED_READER = "feed_reader"  # a token of feed.integration_tokens (the settings): the feed alone
# What an administrator may give one integration token beside its role's actions (opt-in per token).
GRANTABLE = frozenset({"recordings.audio"})

ACTIONS: dict[str, frozenset[str]] = {
    "page": PUBLIC,  # static pages and the API description; every datum behind them is protected
    "auth.login": PUBLIC,
    "ops.health": PUBLIC,
    "ops.metrics": PUBLIC,  # Prometheus scrape: behind its own bearer token (metrics.token), not a session
    "session.self": ALL,  # who am I, renew the session, log out
    "agent.desk": ALL,  # own state, queues, calls, wrap-up, callbacks (needs an agent id; calls: own only)
    "customers.read": ALL,  # agents: history without other agents' notes
    "customers.write": ALL,  # create (with phone numbers); name, company, e-mails, tags, notes...
    "customers.identity": FLOOR,  # PIN, tier (also of a new customer), phone numbers (the caller-ID identity): audited
    "interactions.read": ALL,  # agents: their own only
    # The call log's list (agents: their own); integrations read it without IVR paths and notes
    # (integration_view).
    "interactions.list": ALL | {INTEGRATION},
    "interactions.link": ALL,  # agents: their own only
    "cases.read": ALL,
    "cases.write": ALL,
    "cases.assign": STAFF,
    "catalog.read": ALL,
    "catalog.manage": ADMIN,
    "screenpop.read": ALL,  # agents: pops of their own calls only
    "supervisor.board": STAFF,  # wallboard, agents, alerts and their acks, the supervisor websocket
    # Failed SIP login alerts (cti.security): the source addresses and the endpoints tried. A row rule
    # of the alert routes, the supervisor websocket and the audit log (sees_security_alerts).
    "security.alerts": ADMIN,
    "supervisor.intervene": FLOOR,  # spy/whisper/barge, force not ready or logout, skills
    "supervisor.move_call": FLOOR,  # a waiting caller to another queue (row rule: both queues overseen)
    "supervisor.reports": STAFF,  # charts, audit log, staffing
    "reports.read": STAFF | {INTEGRATION},  # the KPI report, JSON and CSV
    "supervisor.callbacks": STAFF,
    "campaigns.read": STAFF,  # outbound campaigns: their settings, progress and live figures
    "campaigns.manage": FLOOR,  # create, upload contacts, do-not-call, start/pause/resume/stop
    "feed.read": ADMIN | {INTEGRATION, FEED_READER},  # the event feed and its stream
    "integrations.manage": ADMIN,  # named integration tokens: issue, list, revoke (audited)
    "feed.webhooks": frozenset({"admin"}),  # webhook subscriptions and their dead letters
    "demo.simulate": ALL,  # the demo console's fake calls (agent_console.demo only)
    # Recordings: agents who handled the call and staff listen (row rules in the route: sees_all_calls,
    # every playback audited); the call's agent and the floor roles (controls_live_calls) pause,
    # resume or start the recording of a live call.
    "phone.self": ALL,  # the logged-in user's own softphone credentials (no way to name another)
    "agents.phone": ADMIN,  # which phone the ACD rings for an agent (browser, desk phone, simulated)
    "users.manage": ADMIN,  # create, change, deactivate users, reset passwords: audited
    "recordings.listen": ALL,  # a call's recordings' list (row rule: may_listen)
    "recordings.audio": ALL,  # download a recording (row rule: may_listen); an integration by grant
    "recordings.list": STAFF | {INTEGRATION},  # the newest recordings' metadata (GET /api/recordings)
    "recordings.control": ALL,
    "callbacks.request": PUBLIC,  # a web site's "call me back" form: throttled per address and per number
}

_C = "/api/crm"
_S = "/api/supervisor"
ROUTES: dict[tuple[str, str], str] = {
    **{("GET", p): "page" for p in ("/", "/favicon.ico", "/static", "/openapi.json", "/docs", "/vendor/swagger-ui",
                                    "/wallboard", "/callbacks", "/reports", "/staffing", "/users", "/campaigns",
                                    "/integrations")},
    ("POST", "/api/auth/login"): "auth.login",
    ("GET", "/api/auth/session"): "auth.login",  # whether a session is live: 200 either way
    ("POST", "/api/callback-requests"): "callbacks.request",
    ("POST", "/api/callback-requests/{request_id}/cancel"): "callbacks.request",  # with the request's token
    ("GET", "/healthz"): "ops.health",
    ("GET", "/metrics"): "ops.metrics",
    ("POST", "/api/auth/logout"): "session.self",
    ("POST", "/api/auth/renew"): "session.self",
    ("GET", "/api/me"): "session.self",
    ("GET", "/api/agent/snapshot"): "agent.desk",
    ("POST", "/api/agent/state"): "agent.desk",
    ("POST", "/api/agent/queues/login"): "agent.desk",
    ("POST", "/api/agent/queues/logout"): "agent.desk",
    ("POST", "/api/calls/dial"): "agent.desk",
    **{("POST", f"/api/calls/{{call_id}}/{a}"): "agent.desk" for a in ("hangup", "hold", "resume", "transfer", "dtmf",
                                                                       "wrap-up")},
    ("GET", "/api/callbacks"): "agent.desk",
    **{("POST", f"/api/callbacks/{{callback_id}}/{a}"): "agent.desk" for a in ("claim", "release", "call")},
    ("POST", "/api/preview/next"): "agent.desk",
    ("POST", "/api/preview/{source}/{item_id}/dial"): "agent.desk",
    ("POST", "/api/preview/{source}/{item_id}/skip"): "agent.desk",
    ("WS", "/ws/agent"): "agent.desk",
    ("GET", "/api/customers"): "customers.read",
    ("GET", "/api/customers/{customer_id}"): "customers.read",
    ("GET", "/api/customers/{customer_id}/history"): "customers.read",
    ("GET", f"{_C}/customers"): "customers.read",
    ("POST", f"{_C}/customers"): "customers.write",  # a PIN or tier: customers.identity
    ("GET", f"{_C}/customers/{{customer_id}}"): "customers.read",
    ("PATCH", f"{_C}/customers/{{customer_id}}"): "customers.write",  # identity fields: customers.identity
    ("GET", f"{_C}/interactions"): "interactions.list",
    ("GET", f"{_C}/interactions/{{interaction_id}}"): "interactions.read",
    ("PUT", f"{_C}/interactions/{{interaction_id}}/customer"): "interactions.link",
    ("GET", f"{_C}/cases"): "cases.read",
    ("POST", f"{_C}/cases"): "cases.write",
    ("GET", f"{_C}/cases/{{case_id}}"): "cases.read",
    ("PATCH", f"{_C}/cases/{{case_id}}"): "cases.write",
    ("POST", f"{_C}/cases/{{case_id}}/assign"): "cases.assign",
    ("POST", f"{_C}/cases/{{case_id}}/escalate"): "cases.write",
    ("GET", f"{_C}/dispositions"): "catalog.read",
    ("POST", f"{_C}/dispositions"): "catalog.manage",
    ("PUT", f"{_C}/dispositions/{{disposition_id}}"): "catalog.manage",
    ("DELETE", f"{_C}/dispositions/{{disposition_id}}"): "catalog.manage",
    ("GET", f"{_C}/scripts"): "catalog.read",
    ("GET", f"{_C}/scripts/suggest"): "catalog.read",
    ("GET", f"{_C}/scripts/{{script_id}}"): "catalog.read",
    ("POST", f"{_C}/scripts"): "catalog.manage",
    ("PUT", f"{_C}/scripts/{{script_id}}"): "catalog.manage",
    ("DELETE", f"{_C}/scripts/{{script_id}}"): "catalog.manage",
    ("GET", f"{_C}/articles"): "catalog.read",
    ("GET", f"{_C}/articles/{{article_id}}"): "catalog.read",
    ("POST", f"{_C}/articles"): "catalog.manage",
    ("PUT", f"{_C}/articles/{{article_id}}"): "catalog.manage",
    ("DELETE", f"{_C}/articles/{{article_id}}"): "catalog.manage",
    ("GET", f"{_C}/screenpop/{{linkedid}}"): "screenpop.read",
    ("GET", f"{_S}/wallboard"): "supervisor.board",
    ("GET", f"{_S}/agents"): "supervisor.board",
    ("GET", f"{_S}/alerts"): "supervisor.board",
    ("POST", f"{_S}/alerts/{{alert_id}}/ack"): "supervisor.board",
    ("WS", "/ws/supervisor"): "supervisor.board",
    ("POST", f"{_S}/agents/{{agent_id}}/spy"): "supervisor.intervene",
    ("POST", f"{_S}/spy/stop"): "supervisor.intervene",
    ("POST", f"{_S}/agents/{{agent_id}}/not-ready"): "supervisor.intervene",
    ("POST", f"{_S}/agents/{{agent_id}}/logout"): "supervisor.intervene",
    ("PUT", f"{_S}/agents/{{agent_id}}/skills"): "supervisor.intervene",
    ("POST", f"{_S}/calls/{{linkedid}}/move"): "supervisor.move_call",
    ("GET", f"{_S}/audit"): "supervisor.reports",
    ("GET", f"{_S}/reports"): "reports.read",
    ("GET", f"{_S}/reports/chart.svg"): "supervisor.reports",
    ("GET", f"{_S}/staffing"): "supervisor.reports",
    ("GET", f"{_S}/callbacks"): "supervisor.callbacks",
    ("POST", f"{_S}/callbacks/{{callback_id}}/cancel"): "supervisor.callbacks",
    ("POST", f"{_S}/callback-requests/{{request_id}}/cancel"): "supervisor.callbacks",
    ("GET", "/api/campaigns"): "campaigns.read",
    ("POST", "/api/campaigns"): "campaigns.manage",
    ("GET", "/api/campaigns/options"): "campaigns.manage",  # what the create form offers
    ("GET", "/api/campaigns/{campaign_id}"): "campaigns.read",
    ("POST", "/api/campaigns/{campaign_id}/contacts"): "campaigns.manage",
    ("POST", "/api/campaigns/{campaign_id}/contacts.csv"): "campaigns.manage",
    ("POST", "/api/campaigns/{campaign_id}/dnc"): "campaigns.manage",
    ("POST", "/api/campaigns/dnc"): "campaigns.manage",
    ("POST", "/api/campaigns/{campaign_id}/{command}"): "campaigns.manage",
    ("POST", "/api/campaigns/{campaign_id}/preview"): "agent.desk",
    ("POST", "/api/campaigns/{campaign_id}/preview/{contact_id}/dial"): "agent.desk",
    ("GET", "/api/events"): "feed.read",
    ("GET", "/api/events/stream"): "feed.read",
    ("GET", "/api/events/types"): "feed.read",
    ("POST", "/api/webhooks"): "feed.webhooks",
    ("GET", "/api/webhooks"): "feed.webhooks",
    ("DELETE", "/api/webhooks/{sid}"): "feed.webhooks",
    ("GET", "/api/webhooks/{sid}/dead-letters"): "feed.webhooks",
    ("POST", "/api/webhooks/{sid}/dead-letters/{dead_id}/redeliver"): "feed.webhooks",
    ("GET", f"{_C}/interactions/{{interaction_id}}/recordings"): "recordings.listen",
    ("GET", "/api/recordings"): "recordings.list",
    ("GET", "/api/recordings/{recording_id}/audio"): "recordings.audio",
    ("HEAD", "/api/recordings/{recording_id}/audio"): "recordings.audio",
    ("GET", "/api/calls/{linkedid}/recording"): "recordings.control",
    ("POST", "/api/calls/{linkedid}/recording/{action}"): "recordings.control",
    ("GET", "/vendor/sip.js"): "page",  # the softphone's SIP library (static files from node_modules)
    ("GET", "/api/phone/credentials"): "phone.self",
    ("GET", "/api/admin/agents/{agent_id}/phone"): "agents.phone",
    ("PUT", "/api/admin/agents/{agent_id}/phone"): "agents.phone",
    ("GET", "/api/admin/users"): "users.manage",
    ("POST", "/api/admin/users"): "users.manage",
    ("PATCH", "/api/admin/users/{user_id}"): "users.manage",
    ("POST", "/api/admin/users/{user_id}/password"): "users.manage",
    ("POST", "/api/admin/users/{user_id}/desk-password"): "users.manage",
    ("GET", "/api/admin/integration-tokens"): "integrations.manage",
    ("POST", "/api/admin/integration-tokens"): "integrations.manage",
    ("DELETE", "/api/admin/integration-tokens/{token_id}"): "integrations.manage",
    ("GET", "/api/demo/status"): "demo.simulate",
    ("POST", "/api/demo/offer"): "demo.simulate",
}

# A customer's identity and what it unlocks: the PIN and account number the IVR asks for, the
# numbers caller ID recognises, the tier (routing priority).
IDENTITY_FIELDS = ("pin", "account_number", "phones", "tier")
# What a new customer may be given only by those who may change it: the PIN (the IVR's
# identification) and the tier (routing priority). Its phone numbers are how anyone reaches it
# (a number already another customer's is refused to everyone: crm_core.customers).
IDENTITY_GRANTS = ("pin", "tier")


def action_of(method: str, path: str) -> str | None:
    """The action of a route; HEAD is GET's."""
    return ROUTES.get(("GET" if method == "HEAD" else method, path))


def allows(role: str, action: str) -> bool:
    """May ``role`` do ``action``? Unknown actions: nobody."""
    roles = ACTIONS.get(action, frozenset())
    return roles is PUBLIC or role in roles


def permits(who: Principal, action: str) -> bool:
    """May ``who`` do ``action``: its role may, or (an integration token) it was granted the action."""
    return allows(who.role, action) or (who.role == INTEGRATION and action in GRANTABLE and action in who.grants)


def _refusal(who: Principal, action: str) -> Forbidden:
    if who.role == FEED_READER:
        return Forbidden("a token of feed.integration_tokens reads the event feed only (GET /api/events, "
                         "/api/events/stream, /api/events/types); an administrator's named integration token "
                         "(POST /api/admin/integration-tokens) also reads the call log, recordings and reports")
    if who.role == INTEGRATION:
        granted = f" unless its token was given {action}" if action in GRANTABLE else ""
        return Forbidden(f"an integration token may not do {action}{granted}: it reads the event feed, "
                         "GET /api/crm/interactions, GET /api/recordings and GET /api/supervisor/reports only")
    return Forbidden(f"role {who.role!r} may not do {action}")


def check(who: Principal, action: str) -> None:
    """Raise Forbidden unless ``who`` may do ``action``."""
    if not permits(who, action):
        raise _refusal(who, action)


def _route_key(conn: HTTPConnection) -> tuple[str, str]:
    route = conn.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None) or conn.url.path
    method = "WS" if conn.scope.get("type") == "websocket" else conn.scope.get("method", "GET")
    return method, path


async def _principal(conn: HTTPConnection) -> Principal:
    override = conn.app.dependency_overrides.get(current_principal)  # tests that stand in a principal
    if override is not None:
        found = override()
        return await found if hasattr(found, "__await__") else found  # type: ignore[no-any-return]
    return await authenticate(conn)


async def enforce(conn: HTTPConnection) -> None:
    """Dependency of the app and of every router: the route's action must be allowed to the caller
    (a user's session, or an integration's bearer token: ``security.authenticate`` knows both)."""
    method, path = _route_key(conn)
    action = action_of(method, path)
    if action is None:
        raise _refuse(conn, Forbidden(f"no access policy for {method} {path}"))
    if ACTIONS[action] is PUBLIC:
        return
    try:
        who = await _principal(conn)
    except NotAuthenticated as err:  # (the token store away: DatabaseUnavailable, a 503 of the app's table)
        raise _refuse(conn, err) from None
    if not permits(who, action):
        raise _refuse(conn, _refusal(who, action))


# -- row rules -------------------------------------------------------------------------------

def sees_all_calls(who: Principal) -> bool:
    """Staff and integrations see every call and interaction; an agent only their own."""
    return who.role in STAFF or who.role == INTEGRATION


def integration_view(who: Principal, row: T) -> T:
    """An interaction (``crm_core.schemas.InteractionOut``) as ``who`` reads it in the call log's
    list: an integration never gets the IVR's path (every key pressed, PINs included) nor the
    agent's free-text notes, as the feed never does."""
    if who.role not in (INTEGRATION, FEED_READER):
        return row
    return row.model_copy(update={"ivr_path": [], "notes": ""})


def owns_call(who: Principal, agent_id: str | None) -> bool:
    return sees_all_calls(who) or (who.agent_id is not None and agent_id == who.agent_id)


def sees_security_alerts(role: str) -> bool:
    """Failed-login alerts (``security_alert`` frames, ``security`` of the alerts route, the audit
    log's ``alert.security`` rows) name attacking addresses and the accounts they guess: someone
    guessing SIP passwords is the administrators' matter, not the floor's."""
    return allows(role, "security.alerts")


def sees_audit_row(who: Principal, entry: dict[str, Any]) -> bool:
    """The audit rows ``who`` may read beside their queue scope: ``alert.security`` only with
    ``sees_security_alerts``."""
    return entry.get("action") != "alert.security" or sees_security_alerts(who.role)


def controls_live_calls(who: Principal) -> bool:
    """The floor roles (supervisors, admins) act on any live call: intervene, pause, resume or
    start its recording. An agent acts on their own calls only (the route's row rule); a manager
    on none."""
    return who.role in FLOOR


def may_listen(who: Principal, handlers: Iterable[str]) -> bool:
    """Who may hear a call's recording: staff, and the agents who handled the call."""
    return sees_all_calls(who) or (who.agent_id is not None and who.agent_id in set(handlers))


def redact_history(who: Principal, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A customer's history as ``who`` may see it: an agent gets every contact (so they know the
    customer called) but another agent's wrap-up notes are blanked -- they may be private.
    ``recording`` says whether the row has a recording ``who`` may hear (``may_listen``)."""
    staff = sees_all_calls(who)
    return [_history_row(i, notes=staff or i.get("agent") == who.agent_id,
                         hears=lambda handlers: may_listen(who, handlers)) for i in items]


def others_notes_blanked(agent_id: str | None, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` with the notes of contacts another agent handled blanked: the history of an agent's
    own desk (the pop that rings their console, whatever their role); ``recording`` only on the
    recorded calls that agent handled."""
    return [_history_row(i, notes=i.get("agent") == agent_id, hears=lambda handlers: agent_id in handlers)
            for i in items]


def _history_row(item: dict[str, Any], *, notes: bool, hears: Callable[[list[str]], bool]) -> dict[str, Any]:
    """``item`` (crm_core.screenpop.interaction_view) as shown: ``listeners`` (the agents who handled a
    recorded call, None when nothing recorded it) becomes the viewer's ``recording`` flag."""
    row = {k: v for k, v in item.items() if k != "listeners"}
    listeners = item.get("listeners")
    row["recording"] = listeners is not None and hears(listeners)
    if not notes:
        row["notes"] = ""
    return row


def check_identity_change(who: Principal, changes: Iterable[str], *, creating: bool = False) -> list[str]:
    """The identity fields among ``changes`` (of a new customer: ``IDENTITY_GRANTS``); Forbidden,
    naming them, when ``who`` may not change them."""
    names = set(changes)
    touched = [f for f in (IDENTITY_GRANTS if creating else IDENTITY_FIELDS) if f in names]
    if touched and not allows(who.role, "customers.identity"):
        what = "give a new customer" if creating else "change"
        raise Forbidden(f"role {who.role!r} may not {what} {', '.join(touched)} (supervisors and admins only)")
    return touched


def queues_open_to(skills: Iterable[str], known: Iterable[str]) -> list[str]:
    """The queues an agent may log in to: those named like one of their skills, and ``general``
    (also their queues when they name none)."""
    mine = set(skills)
    return sorted(q for q in known if q in mine or q == "general")


def check_queue_login(wanted: Iterable[str], open_to: Iterable[str]) -> None:
    """Forbidden, naming the queue, for a queue the agent has no skill for: joining it would give
    them its calls and its preview campaigns."""
    allowed = set(open_to)
    refused = [q for q in wanted if q not in allowed]
    if refused:
        raise Forbidden(f"queue {refused[0]!r} is not one of your queues (you may join "
                        f"{', '.join(sorted(allowed)) or 'none'}: the queues of your skills and general)")

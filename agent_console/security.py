"""Who is asking, for FastAPI: the console's sessions (tokens from ``agent_console.tokens``, principals
from ``agent_console.principal``, password hashes by ``crm_core.users``), login throttling, deps.

Tokens are stateless, signed with HMAC-SHA256 under ``settings.web.session_secret``:
``v1.<base64url(json payload)>.<base64url(mac)>``; the payload holds the principal, a random
session id ``sid``, ``iat`` and ``exp``, and ``auth``: when the password was given. A token lives
``ttl_s`` (``web.session_idle_min``); ``TokenSigner.renew`` gives a live one a successor of the same
session (same ``sid`` and ``auth``) that lives ``ttl_s`` more, never past ``auth + max_s``
(``web.session_max_hours``): after that only the password opens a new session. A signature is not
enough: every request (and every websocket, on each message and every ``recheck_s``) also asks the
``SessionStore`` whether the user is still active and the session began (``auth``) after the user's
sessions were last ended. Logout and
deactivation end all of a user's sessions in the database, so every node sees it, and close that
user's sockets in this process at once (other nodes' sockets close at their next check). The
browser gets the token in an HttpOnly, SameSite=Strict cookie; API clients send
``Authorization: Bearer <token>``; websocket clients may also pass ``?token=``. A request
authenticated by cookie that changes state (and any websocket) must come from our own origin.
Who may do what is ``agent_console.policy``.

Other packages protect their routes with::

    @router.get("/x")
    async def x(p: Principal = Depends(require_roles("supervisor", "admin"))): ...

and their tests either mount the router in ``agent_console.app.create_app`` or call
``install_auth(app, ConsoleAuth.from_settings(settings))`` and send ``auth.signer.issue(p)[0]``,
or simply set ``app.dependency_overrides[current_principal] = lambda: Principal(...)``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, WebSocketException
from starlette.requests import HTTPConnection

from agent_console.errors import ConsoleError, Forbidden, LoginThrottled, NotAuthenticated
from agent_console.principal import ROLES, STAFF, Principal, Role
from agent_console.session_checks import SessionChecks, SessionStore, WatchedSockets
from agent_console.throttle import LoginThrottle
from agent_console.tokens import TokenSigner

log = logging.getLogger(__name__)
COOKIE_NAME = "cti_session"
WS_POLICY_VIOLATION = 1008  # RFC 6455 close code used when a websocket is refused for auth
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# -- FastAPI wiring ----------------------------------------------------------------------------

@dataclass
class ConsoleAuth:
    """What the auth dependencies need, kept on ``app.state.console_auth``."""

    signer: TokenSigner
    throttle: LoginThrottle
    secure_cookie: bool = False
    sessions: SessionStore | None = None
    recheck_s: float = 5.0  # how often an open websocket re-checks its session
    trusted_proxies: frozenset[str] = frozenset()  # peers whose X-Forwarded-For we believe
    origins: frozenset[str] = frozenset()  # extra allowed origins (host:port) beside the request's Host
    _sockets: dict[int, set[Callable[[str], None]]] = field(default_factory=dict)
    _checks: SessionChecks | None = field(default=None, init=False, repr=False)
    _watched: WatchedSockets | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Any, *, throttle: LoginThrottle | None = None,
                      sessions: SessionStore | None = None) -> ConsoleAuth:
        web = settings.web
        public = web.public_url or ""
        proxies = frozenset(getattr(web, "trusted_proxies", None) or ())
        signer = TokenSigner(web.session_secret, ttl_s=web.session_idle_min * 60, max_s=web.session_max_hours * 3600)
        return cls(signer=signer,
                   throttle=throttle or LoginThrottle(), secure_cookie=public.startswith("https://"),
                   sessions=sessions, trusted_proxies=proxies,
                   origins=frozenset({urlsplit(public).netloc} if public else ()))

    async def check(self, token: str) -> Principal:
        """Signature, expiry, and (with a SessionStore) the user still active and not logged out."""
        who, iat = self.signer.verify_session(token)
        checks = self.session_checks()
        if checks is not None:
            problem = await checks.problem(who.user_id, iat)
            if problem is not None:
                raise NotAuthenticated(problem)
        return who

    async def adopt(self, user_id: int, token: str) -> float:
        """An open socket of ``user_id`` is handed ``token`` (the session renewed): its expiry, once it
        passed ``check`` and is that user's; else NotAuthenticated."""
        who = await self.check(token)
        if who.user_id != user_id:
            raise NotAuthenticated("the token is another user's")
        return self.signer.expires_at(token)

    def retoken_socket(self, close: Callable[[str], None], token: str) -> None:
        """The periodic re-check of the socket registered with ``close`` uses ``token`` from now on."""
        if self._watched is not None and close in self._watched:
            self._watched.add(token, close)

    def session_checks(self) -> SessionChecks | None:
        """The database part of ``check``, asked together with the checks of the same loop turn."""
        if self.sessions is None:
            return None
        if self._checks is None or self._checks.store is not self.sessions:
            self._checks = SessionChecks(self.sessions)
        return self._checks

    async def end_sessions(self, user_id: int, token: str | None = None, reason: str = "logged_out") -> None:
        """Logout or deactivation: every session of the user ends everywhere; its sockets here close."""
        if token:
            self.signer.revoke(token)
        if self.sessions is not None:
            await self.sessions.end_sessions(user_id, self.signer.clock())
        self.close_sockets(user_id, reason)

    def close_sockets(self, user_id: int, reason: str) -> None:
        """Close this node's websockets of ``user_id`` (their sessions were ended elsewhere)."""
        for close in list(self._sockets.get(user_id, ())):
            close(reason)

    def register_socket(self, user_id: int, close: Callable[[str], None],
                        token: str | None = None) -> Callable[[], None]:
        """``close(reason)`` is called when the user's sessions end; returns the unregister function.
        With the socket's ``token``, its session is also re-checked every ``recheck_s`` (all of this
        process's sockets in one query) and ``close`` is called when it expires or was ended elsewhere."""
        self._sockets.setdefault(user_id, set()).add(close)
        if token is not None:
            self._watched_sockets().add(token, close)

        def _unregister() -> None:
            closers = self._sockets.get(user_id)
            if closers is not None:
                closers.discard(close)
                if not closers:
                    del self._sockets[user_id]
            if self._watched is not None:
                self._watched.discard(close)

        return _unregister

    def _watched_sockets(self) -> WatchedSockets:
        if self._watched is None:
            self._watched = WatchedSockets(self._verify_ids, self._session_problems, lambda: self.recheck_s)
        return self._watched

    def _verify_ids(self, token: str) -> tuple[int, float]:
        who, iat = self.signer.verify_session(token)
        return who.user_id, iat

    async def _session_problems(self, checks: Sequence[tuple[int, float]]) -> list[str | None]:
        store = self.session_checks()
        return [None] * len(checks) if store is None else await store.problems(checks)

    async def recheck_sockets(self) -> None:
        """Re-check every registered socket's session now (what the periodic sweep does)."""
        await self._watched_sockets().sweep()


def install_auth(app: Any, auth: ConsoleAuth) -> None:
    app.state.console_auth = auth


def auth_of(conn: HTTPConnection) -> ConsoleAuth:
    auth = getattr(conn.app.state, "console_auth", None)
    if auth is None:
        raise RuntimeError("install_auth(app, ...) was not called for this app")
    return auth  # type: ignore[no-any-return]


_auth_of = auth_of


def token_of(conn: HTTPConnection) -> tuple[str | None, str]:
    """The token the client sent and where it came from: header, cookie or query."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip(), "header"
    if conn.scope.get("type") == "websocket" and conn.query_params.get("token"):
        return conn.query_params["token"], "query"
    cookie = conn.cookies.get(COOKIE_NAME)
    return (cookie, "cookie") if cookie else (None, "")


def same_origin(conn: HTTPConnection) -> bool:
    """No Origin (not a browser, or a same-origin GET) or an Origin naming this site."""
    origin = conn.headers.get("origin")
    if origin is None:
        referer = conn.headers.get("referer")
        if referer is None:
            return True
        origin = referer
    netloc = urlsplit(origin).netloc
    return bool(netloc) and (netloc == conn.headers.get("host", "") or netloc in auth_of(conn).origins)


def principal_of(conn: HTTPConnection) -> Principal:
    """The principal behind an HTTP request or websocket handshake from its token alone (signature,
    expiry); raises NotAuthenticated. ``authenticate`` also asks the SessionStore."""
    token, source = token_of(conn)
    if not token:
        raise NotAuthenticated("log in first (no session token)")
    if source == "cookie" and conn.scope.get("type") == "websocket" and not same_origin(conn):
        raise NotAuthenticated("cross-origin websocket refused")
    return auth_of(conn).signer.verify(token)


async def authenticate(conn: HTTPConnection) -> Principal:
    """An integration's bearer token (``app.state.integrations``), else ``principal_of`` plus the
    session check (user active, not logged out); cached per request."""
    cached = getattr(conn.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token, source = token_of(conn)
    integrations = getattr(conn.app.state, "integrations", None)  # agent_console.integrations
    if token and source == "header" and integrations is not None:
        found: Principal | None = await integrations.principal(token)
        if found is not None:
            conn.state.principal = found
            return found
    principal_of(conn)
    token, _ = token_of(conn)
    who = await auth_of(conn).check(token or "")
    conn.state.principal = who
    return who


def _refuse(conn: HTTPConnection, err: ConsoleError) -> Exception:
    if conn.scope.get("type") == "websocket":
        return WebSocketException(code=WS_POLICY_VIOLATION, reason=err.code)
    headers = {"WWW-Authenticate": "Bearer"} if err.http_status == 401 else None
    return HTTPException(err.http_status, detail={"code": err.code, "message": err.message}, headers=headers)


async def current_principal(conn: HTTPConnection) -> Principal:
    """FastAPI dependency: the authenticated principal, or 401 (websocket: close 1008)."""
    try:
        return await authenticate(conn)
    except NotAuthenticated as err:
        raise _refuse(conn, err) from None


def require_roles(*roles: Role) -> Callable[..., Any]:
    """Dependency factory: the principal when its role is one of ``roles``, else 403."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"require_roles: unknown or no roles {sorted(unknown)}")

    async def _dep(conn: HTTPConnection, p: Principal = Depends(current_principal)) -> Principal:
        if p.role not in roles:
            raise _refuse(conn, Forbidden(f"role {p.role!r} may not do this (needs {', '.join(roles)})"))
        return p

    return _dep


def address_key(address: str) -> str:
    """A client address as the throttles count it: an IPv6 address by its /64 (a host picks any
    address of its network at will), an IPv4 address (IPv4-mapped too) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip)


def client_address(conn: HTTPConnection) -> str:
    """The peer's address; behind a configured proxy, the last address in X-Forwarded-For that is
    not itself a trusted proxy (the header is anyone's to write, so only proxies are believed)."""
    peer = conn.client.host if conn.client else "unknown"
    auth = getattr(conn.app.state, "console_auth", None)
    if auth is None or peer not in auth.trusted_proxies:
        return peer
    hops = [h.strip() for h in conn.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in auth.trusted_proxies:
            return hop[:64]
    return peer


__all__ = [
    "COOKIE_NAME", "ROLES", "STAFF", "ConsoleAuth", "LoginThrottle", "LoginThrottled", "Principal", "Role",
    "SessionStore", "address_key", "authenticate", "client_address", "current_principal",
    "install_auth", "principal_of", "require_roles", "same_origin", "token_of",
]

"""Signed session tokens: ``v1.<base64url(json payload)>.<base64url(mac)>`` under HMAC-SHA256 of
``web.session_secret`` (the format and the session rules: ``agent_console.security``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import SecretStr

from agent_console.errors import NotAuthenticated
from agent_console.principal import ROLES, Principal, Role

DEFAULT_TTL_S = 60 * 60.0  # idle timeout: a token not renewed within it expires (web.session_idle_min)
DEFAULT_MAX_S = 12 * 3600.0  # absolute: no renewal reaches past the login plus this (web.session_max_hours)

# At most this many verified tokens are remembered (~1 KB each); past it the expired ones go, and
# if none has expired the memo starts over (every token is then checked once more).
_VERIFIED_MAX = 20_000


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TokenSigner:
    """Issues, renews and verifies ``v1`` tokens; keeps this process's revocations until they expire.

    ``ttl_s`` is the idle timeout (a token's own life), ``max_s`` the session's absolute limit."""

    secret: SecretStr | str | bytes
    ttl_s: float = DEFAULT_TTL_S
    clock: Callable[[], float] = time.time
    max_s: float = DEFAULT_MAX_S
    _revoked: dict[str, float] = field(default_factory=dict)
    # Tokens whose signature and body this signer has checked: token -> (principal, auth, exp, sid).
    # A token is immutable, so an open websocket's re-checks (every ``recheck_s`` and on every
    # client frame) skip the MAC, base64 and JSON; expiry and revocation are checked every time.
    _verified: dict[str, tuple[Principal, float, float, str]] = field(default_factory=dict)

    def _key(self) -> bytes:
        s = self.secret
        if isinstance(s, SecretStr):
            s = s.get_secret_value()
        return s.encode() if isinstance(s, str) else s

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key(), b"v1." + body.encode(), hashlib.sha256).digest())

    def issue(self, p: Principal) -> tuple[str, float]:
        """A new session's token for ``p`` (a password login) and its expiry time (epoch seconds)."""
        now = self.clock()
        return self._sign(p, secrets.token_urlsafe(12), now, now)

    def _sign(self, p: Principal, sid: str, auth: float, now: float) -> tuple[str, float]:
        exp = min(now + self.ttl_s, auth + self.max_s)
        payload = {"sid": sid, "uid": p.user_id, "usr": p.username, "role": p.role,
                   "aid": p.agent_id, "name": p.display_name, "iat": now, "auth": auth, "exp": exp}
        body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        return f"v1.{body}.{self._mac(body)}", exp

    def renew(self, token: str) -> tuple[str, float]:
        """A successor of a live ``token``: the same session (``sid``, login time), expiring ``ttl_s``
        from now but never after the login plus ``max_s``. NotAuthenticated for a token that is not
        live (bad, expired, revoked) or whose session has reached its absolute limit."""
        who, auth, _, sid = self._live(token)
        now = self.clock()
        if auth + self.max_s <= now:
            raise NotAuthenticated("session expired")
        return self._sign(who, sid, auth, now)

    def ends_at(self, token: str) -> float:
        """When the session of a live ``token`` ends whatever the renewals: its login plus ``max_s``."""
        return self.verify_session(token)[1] + self.max_s

    def _payload(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(token) > 4096 or not token.isascii() or len(parts) != 3 or parts[0] != "v1":
            raise NotAuthenticated("malformed token")
        body, mac = parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise NotAuthenticated("bad token signature")
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            raise NotAuthenticated("malformed token") from None
        if not isinstance(payload, dict):
            raise NotAuthenticated("malformed token")
        return payload

    def verify(self, token: str) -> Principal:
        return self.verify_session(token)[0]

    def verify_session(self, token: str) -> tuple[Principal, float]:
        """The principal and when its session began (the password login; renewals keep it), which
        the session cutoffs are compared with: a renewal never outlives a logout."""
        who, auth, _, _ = self._live(token)
        return who, auth

    def _live(self, token: str) -> tuple[Principal, float, float, str]:
        """Principal, login time, expiry and session id of a token that is valid now."""
        known = self._verified.get(token)
        if known is None:
            known = self._check(token)
            if len(self._verified) >= _VERIFIED_MAX:
                now = self.clock()
                self._verified = {t: v for t, v in self._verified.items() if v[2] > now}
                if len(self._verified) >= _VERIFIED_MAX:  # that many live sessions: start over
                    self._verified.clear()
            self._verified[token] = known
        exp, sid = known[2], known[3]
        if exp <= self.clock():
            self._verified.pop(token, None)
            raise NotAuthenticated("session expired")
        if sid in self._revoked:
            raise NotAuthenticated("session ended")
        return known

    def _check(self, token: str) -> tuple[Principal, float, float, str]:
        """Signature and body of a token not seen yet (its expiry and revocation are the caller's)."""
        payload = self._payload(token)
        try:
            exp, iat = float(payload.get("exp", 0)), float(payload.get("iat", 0))
            auth = float(payload.get("auth", iat))  # tokens from before renewal existed: their issue
            # The MAC proved the body ours: the role is one ``issue`` wrote, taken as it is.
            who = Principal(user_id=int(payload["uid"]), username=str(payload["usr"]),
                            role=cast(Role, payload.get("role")),
                            agent_id=payload.get("aid"), display_name=str(payload.get("name") or ""))
        except (KeyError, TypeError, ValueError):
            raise NotAuthenticated("malformed token") from None
        if who.role not in ROLES:
            raise NotAuthenticated("malformed token")
        return who, auth, exp, str(payload.get("sid"))

    def expires_at(self, token: str) -> float:
        """Expiry time of a token already verified (0 for a malformed one)."""
        try:
            return float(self._payload(token).get("exp", 0))
        except NotAuthenticated:
            return 0.0

    def revoke(self, token: str) -> None:
        """End this session (logout). Invalid tokens are ignored."""
        try:
            payload = self._payload(token)
        except NotAuthenticated:
            return
        now = self.clock()
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        # Until the last moment any renewal of this session could live (its tokens share the sid).
        try:
            until = float(payload.get("auth", payload.get("iat", now))) + self.max_s
        except (TypeError, ValueError):
            until = now + self.max_s
        self._revoked[str(payload.get("sid"))] = max(until, float(payload.get("exp", now) or now))

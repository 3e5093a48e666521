"""Session lifetime rules of ``TokenSigner`` (pure, on an injected clock): a token lives the idle
timeout, a renewal gives the same session a later expiry, never past the password login plus the
absolute maximum; expired, revoked or ended sessions cannot be renewed. And the settings behind them."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import pytest

from agent_console.errors import NotAuthenticated
from agent_console.security import ConsoleAuth, LoginThrottle, Principal
from agent_console.tokens import TokenSigner
from cti.errors import ConfigError
from cti.settings import load_settings

AGENT = Principal(1, "ann", "agent", "a1", "Ann")
IDLE, MAX = 600.0, 3600.0


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _signer(clock: Clock) -> TokenSigner:
    return TokenSigner("k" * 32, ttl_s=IDLE, max_s=MAX, clock=clock)


def _payload(token: str) -> dict[str, object]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))  # type: ignore[no-any-return]


def test_a_token_lives_the_idle_timeout_and_carries_its_login_time() -> None:
    clock = Clock()
    signer = _signer(clock)
    token, exp = signer.issue(AGENT)
    assert exp == 1000 + IDLE and _payload(token)["auth"] == 1000
    assert signer.ends_at(token) == 1000 + MAX
    clock.now = 1000 + IDLE
    with pytest.raises(NotAuthenticated, match="expired"):
        signer.verify(token)


def test_a_renewal_is_the_same_session_with_a_later_expiry() -> None:
    clock = Clock()
    signer = _signer(clock)
    token, _ = signer.issue(AGENT)
    clock.now = 1500.0
    renewed, exp = signer.renew(token)
    assert renewed != token and exp == 1500 + IDLE
    old, new = _payload(token), _payload(renewed)
    assert new["sid"] == old["sid"] and new["auth"] == 1000 and new["iat"] == 1500
    assert signer.verify_session(renewed) == (AGENT, 1000.0)  # the session began at the login
    clock.now = 1000 + IDLE + 1  # the first token has expired, its successor not
    with pytest.raises(NotAuthenticated, match="expired"):
        signer.verify(token)
    assert signer.verify(renewed) == AGENT


def test_renewing_every_minute_still_ends_at_the_absolute_maximum() -> None:
    clock = Clock()
    signer = _signer(clock)
    token, exp = signer.issue(AGENT)
    while clock.now + 60 < 1000 + MAX:
        clock.now += 60
        token, exp = signer.renew(token)
        assert exp <= 1000 + MAX
    assert exp == 1000 + MAX  # the last renewals were capped
    clock.now = 1000 + MAX
    with pytest.raises(NotAuthenticated, match="expired"):
        signer.verify(token)
    with pytest.raises(NotAuthenticated):
        signer.renew(token)


def test_an_expired_or_forged_token_cannot_be_renewed() -> None:
    clock = Clock()
    signer = _signer(clock)
    token, _ = signer.issue(AGENT)
    clock.now = 1000 + IDLE
    with pytest.raises(NotAuthenticated, match="expired"):
        signer.renew(token)
    foreign, _ = TokenSigner("x" * 32, clock=clock).issue(AGENT)
    with pytest.raises(NotAuthenticated, match="signature"):
        signer.renew(foreign)


def test_a_revoked_session_cannot_be_renewed_and_its_renewals_die_with_it() -> None:
    """Logout revokes the session id, past the revoked token's own expiry: every renewal of it goes."""
    clock = Clock()
    signer = _signer(clock)
    first, _ = signer.issue(AGENT)
    clock.now = 1300.0
    renewed, _ = signer.renew(first)
    signer.revoke(first)
    with pytest.raises(NotAuthenticated, match="ended"):
        signer.renew(first)
    clock.now = 1000 + IDLE + 10  # first has expired; its revocation must still hold for the renewal
    with pytest.raises(NotAuthenticated, match="ended"):
        signer.verify(renewed)
    with pytest.raises(NotAuthenticated, match="ended"):
        signer.renew(renewed)


def test_a_token_from_before_renewals_counts_its_issue_as_its_login() -> None:
    clock = Clock()
    signer = _signer(clock)
    token, _ = signer.issue(AGENT)
    payload = _payload(token)
    del payload["auth"]
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    legacy = f"v1.{body}.{signer._mac(body)}"
    assert signer.verify_session(legacy) == (AGENT, 1000.0)
    assert signer.ends_at(legacy) == 1000 + MAX


class Store:
    """Deactivated users and per-user cutoffs, as the database answers them."""

    def __init__(self) -> None:
        self.inactive: set[int] = set()
        self.cutoff: dict[int, float] = {}

    async def session_problems(self, checks: Sequence[tuple[int, float]]) -> list[str | None]:
        return ["user deactivated" if u in self.inactive else
                "session ended" if at <= self.cutoff.get(u, float("-inf")) else None for u, at in checks]

    async def end_sessions(self, user_id: int, at: float) -> None:
        self.cutoff[user_id] = at


async def test_a_renewed_token_is_checked_against_the_cutoff_by_its_login_time() -> None:
    """Sessions ended (logout elsewhere, password reset) after the login end every renewal of it,
    even one issued after the cutoff: renewals never resurrect a session."""
    clock, store = Clock(), Store()
    auth = ConsoleAuth(signer=_signer(clock), throttle=LoginThrottle(), sessions=store)
    token, _ = auth.signer.issue(AGENT)
    clock.now = 1100.0
    store.cutoff[AGENT.user_id] = 1050.0  # ended on another node
    clock.now = 1200.0
    renewed, _ = auth.signer.renew(token)  # the signature alone still holds...
    with pytest.raises(NotAuthenticated, match="session ended"):
        await auth.check(renewed)  # ...the session does not
    fresh, _ = auth.signer.issue(AGENT)  # a new password login after the cutoff works
    assert await auth.check(fresh) == AGENT


async def test_an_open_socket_adopts_only_a_live_token_of_its_own_user() -> None:
    clock, store = Clock(), Store()
    auth = ConsoleAuth(signer=_signer(clock), throttle=LoginThrottle(), sessions=store)
    token, _ = auth.signer.issue(AGENT)
    clock.now = 1300.0
    renewed, exp = auth.signer.renew(token)
    assert await auth.adopt(AGENT.user_id, renewed) == exp
    other, _ = auth.signer.issue(Principal(2, "bob", "agent", "a2"))
    with pytest.raises(NotAuthenticated, match="another user"):
        await auth.adopt(AGENT.user_id, other)
    store.inactive.add(AGENT.user_id)
    with pytest.raises(NotAuthenticated, match="deactivated"):
        await auth.adopt(AGENT.user_id, renewed)


def test_the_settings_give_the_two_limits_and_refuse_an_idle_timeout_beyond_the_maximum() -> None:
    s = load_settings()
    assert (s.web.session_idle_min, s.web.session_max_hours) == (60, 12)
    auth = ConsoleAuth.from_settings(load_settings(web={"session_secret": "k" * 32, "session_idle_min": 30,
                                                        "session_max_hours": 10}))
    assert (auth.signer.ttl_s, auth.signer.max_s) == (1800, 36000)
    with pytest.raises(ConfigError, match=r"session_idle_min .* longer than session_max_hours"):
        load_settings(web={"session_idle_min": 120, "session_max_hours": 1})
    with pytest.raises(ConfigError, match=r"web\.session_max_hours"):
        load_settings(web={"session_max_hours": 0})
    with pytest.raises(ConfigError, match=r"web\.session_idle_min"):
        load_settings(web={"session_idle_min": -5})

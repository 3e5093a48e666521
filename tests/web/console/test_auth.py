"""Login, tokens, throttling and role checks of the console API."""

from __future__ import annotations

import secrets

import pytest
import websockets
from fastapi import Depends, FastAPI

from agent_console.fakes import FakeUserStore
from agent_console.security import (
    ConsoleAuth,
    LoginThrottle,
    Principal,
    current_principal,
    install_auth,
    require_roles,
)
from agent_console.tokens import TokenSigner
from crm_core.users import hash_secret, needs_rehash, verify_secret
from tests.web.console.conftest import Console, recv


async def test_login_ok_sets_httponly_cookie_and_me_works(console: Console) -> None:
    r = await console.http.post("/api/auth/login", json={"username": "alice", "password": "demo-pass-1"})
    assert r.status_code == 200
    body = r.json()
    assert body["principal"] == {"user_id": 1, "username": "alice", "role": "agent", "agent_id": "a1001",
                                 "display_name": "Alice Wang 王丽", "phone": True}  # the demo's simulated phone
    assert body["redirect"] == "/"
    cookie = r.headers["set-cookie"]
    assert "cti_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    me = await console.http.get("/api/me")  # the client kept the cookie
    assert me.status_code == 200 and me.json()["agent_id"] == "a1001"


async def test_the_session_probe_answers_200_either_way_and_me_still_refuses_anonymous(console: Console) -> None:
    """The login page asks /api/auth/session (no failed request in the browser); /api/me stays 401."""
    r = await console.http.get("/api/auth/session")
    assert r.status_code == 200 and r.json() == {"authenticated": False, "principal": None, "tz": "Asia/Shanghai",
                                        "expires_at": None, "session_ends_at": None, "idle_timeout_s": None,
                                        "server_time": None}
    assert (await console.http.get("/api/me")).status_code == 401
    forged = await console.http.get("/api/auth/session", headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 200 and forged.json()["authenticated"] is False
    await console.http.post("/api/auth/login", json={"username": "alice", "password": "demo-pass-1"})
    r = await console.http.get("/api/auth/session")
    assert r.json()["authenticated"] is True and r.json()["principal"]["agent_id"] == "a1001"
    await console.http.post("/api/auth/logout")
    assert (await console.http.get("/api/auth/session")).json()["authenticated"] is False


async def test_bad_password_and_unknown_user_are_401(console: Console) -> None:
    for user, pw in (("alice", "wrong"), ("nobody", "demo-pass-1")):
        r = await console.http.post("/api/auth/login", json={"username": user, "password": pw})
        assert r.status_code == 401
        assert r.json()["detail"]["code"] == "invalid_credentials"


async def test_repeated_failures_are_throttled_then_allowed_after_the_delay(console: Console) -> None:
    bad = {"username": "bob", "password": "wrong"}
    for _ in range(3):  # three free attempts
        assert (await console.http.post("/api/auth/login", json=bad)).status_code == 401
    r = await console.http.post("/api/auth/login", json={"username": "bob", "password": "demo-pass-1"})
    assert r.status_code == 429
    assert r.json()["detail"]["code"] == "login_throttled"
    assert r.headers["retry-after"] == "2"
    # Case does not dodge the throttle; another user is not affected.
    assert (await console.http.post("/api/auth/login", json={"username": "BOB", "password": "x"})).status_code == 429
    assert (await console.http.post("/api/auth/login", json={"username": "alice", "password": "demo-pass-1"})
            ).status_code == 200
    console.clock.now += 2.1
    assert (await console.http.post("/api/auth/login", json=bad)).status_code == 401  # 4th failure
    console.clock.now += 2.1  # now the delay doubled to 4 s
    assert (await console.http.post("/api/auth/login", json=bad)).status_code == 429
    console.clock.now += 2.0
    ok = await console.http.post("/api/auth/login", json={"username": "bob", "password": "demo-pass-1"})
    assert ok.status_code == 200


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/me"), ("GET", "/api/agent/snapshot"), ("POST", "/api/agent/state"),
    ("POST", "/api/agent/queues/login"), ("POST", "/api/calls/dial"), ("POST", "/api/calls/c1/hangup"),
    ("POST", "/api/calls/c1/hold"), ("POST", "/api/calls/c1/resume"), ("POST", "/api/calls/c1/transfer"),
    ("POST", "/api/calls/c1/dtmf"), ("POST", "/api/calls/c1/wrap-up"), ("GET", "/api/customers?q=li"),
    ("GET", "/api/customers/1"), ("GET", "/api/customers/1/history"), ("POST", "/api/auth/logout"),
    ("POST", "/api/demo/offer"),
])
async def test_token_required_everywhere(console: Console, method: str, path: str) -> None:
    r = await console.http.request(method, path, json={})
    assert r.status_code == 401, (path, r.text)
    assert r.headers["www-authenticate"] == "Bearer"
    forged = await console.http.request(method, path, json={}, headers={"Authorization": "Bearer v1.e30.AAAA"})
    assert forged.status_code == 401


async def test_every_rest_route_is_in_the_openapi_schema_with_a_response_model(console: Console) -> None:
    schema = (await console.http.get("/openapi.json")).json()
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            ok = op["responses"].get("200", {})
            assert "schema" in ok.get("content", {}).get("application/json", {}), (method, path)


async def test_websocket_without_or_with_bad_token_is_refused(console: Console) -> None:
    for token in (None, "garbage", "v1.e30.AAAA"):
        with pytest.raises(websockets.InvalidStatus) as err:
            await console.ws(token)
        assert err.value.response.status_code == 403


async def test_websocket_by_cookie_from_another_origin_is_refused(console: Console) -> None:
    token = await console.login("alice")
    headers = {"Cookie": f"cti_session={token}"}
    url = console.base.replace("http", "ws") + "/ws/agent"
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(url, additional_headers=headers, origin="http://evil.example")
    ok = await websockets.connect(url, additional_headers=headers, origin=console.base)
    try:
        assert (await recv(ok, "hello"))["agent"]["agent_id"] == "a1001"
    finally:
        await ok.close()


async def test_logout_revokes_the_token_and_closes_the_websocket(console: Console) -> None:
    token = await console.login("alice")
    ws = await console.ws(token)
    await recv(ws, "hello")
    r = await console.http.post("/api/auth/logout", headers=console.auth(token))
    assert r.status_code == 200
    assert (await recv(ws, "bye"))["reason"] == "logged_out"
    console.http.cookies.clear()
    assert (await console.http.get("/api/me", headers=console.auth(token))).status_code == 401


async def test_supervisor_gets_wallboard_redirect_and_no_agent_socket(console: Console) -> None:
    r = await console.http.post("/api/auth/login", json={"username": "sue", "password": "demo-pass-1"})
    assert r.json()["redirect"] == "/wallboard"
    token = r.json()["token"]
    act = await console.http.post("/api/agent/state", json={"state": "ready"}, headers=console.auth(token))
    assert act.status_code == 403 and act.json()["detail"]["code"] == "forbidden"
    with pytest.raises(websockets.InvalidStatus):
        await console.ws(token)


def test_tokens_expire_and_cannot_be_forged() -> None:
    now = [1000.0]
    signer = TokenSigner("k1", ttl_s=60, clock=lambda: now[0])
    p = Principal(1, "a", "agent", "a1")
    token, exp = signer.issue(p)
    assert exp == 1060 and signer.verify(token) == p
    body = token.split(".")[1]
    other, _ = TokenSigner("k2").issue(Principal(1, "a", "admin", None))
    with pytest.raises(Exception, match="signature"):
        signer.verify(f"v1.{other.split('.')[1]}.{token.split('.')[2]}")  # admin payload, agent's mac
    with pytest.raises(Exception, match="signature"):
        signer.verify(f"v1.{body}x.{token.split('.')[2]}")
    now[0] = 1060.0
    with pytest.raises(Exception, match="expired"):
        signer.verify(token)


def test_a_verified_token_is_not_hashed_again_but_revocation_and_expiry_still_hold(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An open websocket re-checks its token every few seconds and on every frame: the signature is
    checked once per token, the revocation list and the expiry on every check."""
    now = [1000.0]
    signer = TokenSigner("k1", ttl_s=60, clock=lambda: now[0])
    p = Principal(1, "a", "agent", "a1")
    token, _ = signer.issue(p)
    other, _ = signer.issue(Principal(2, "b", "agent", "a2"))
    macs = []
    real_mac = signer._mac
    monkeypatch.setattr(signer, "_mac", lambda body: macs.append(body) or real_mac(body))
    assert signer.verify(token) == p and len(macs) == 1
    assert [signer.verify(token) for _ in range(3)] == [p] * 3 and len(macs) == 1
    with pytest.raises(Exception, match="signature"):  # a changed token is a new one: checked
        signer.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    signer.revoke(token)
    with pytest.raises(Exception, match="ended"):
        signer.verify(token)
    assert signer.verify(other).user_id == 2
    now[0] = 1060.0
    with pytest.raises(Exception, match="expired"):
        signer.verify(other)


def test_the_verified_tokens_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent_console.tokens._VERIFIED_MAX", 5)
    now = [1000.0]
    signer = TokenSigner("k1", ttl_s=60, clock=lambda: now[0])
    early = [signer.issue(Principal(i, f"u{i}", "agent", None))[0] for i in range(3)]
    for t in early:
        signer.verify(t)
    now[0] = 1030.0
    late = [signer.issue(Principal(i, f"v{i}", "agent", None))[0] for i in range(10)]
    now[0] = 1061.0  # the early tokens expired, the late ones not
    for t in late:
        signer.verify(t)
        assert len(signer._verified) <= 5
    assert all(signer.verify(t) for t in late)  # forgotten ones are checked again, still valid


def test_argon2_hashes_verify_and_reject() -> None:
    secret = secrets.token_urlsafe(12)
    h = hash_secret(secret)
    assert h.startswith("$argon2id$")
    assert verify_secret(h, secret) and not verify_secret(h, secret + " ") and not verify_secret("junk", "x")


async def test_the_consoles_users_hash_with_the_engines_one_argon2_set_up() -> None:
    """The console's in-memory users (fakes, demo) had their own hasher with the library's defaults
    (64 MiB, 3 passes, 4 lanes) beside the database users' (19 MiB, 2 passes, 1 lane, as
    docs/security.md states): one set-up now, crm_core.users's."""
    secret = secrets.token_urlsafe(12)
    store = FakeUserStore()
    store.add("carol", secret)
    stored = store.users["carol"][0]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and not needs_rehash(stored)
    assert hash_secret(secret).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await store.authenticate("carol", secret)) is not None
    assert await store.authenticate("carol", secret + "x") is None
    assert await store.authenticate("nobody", secret) is None


def test_throttle_table_is_bounded() -> None:
    t = LoginThrottle(max_entries=10, clock=lambda: 5.0)
    for i in range(50):
        t.failed(f"u{i}", "1.2.3.4")
    assert len(t._table) <= 10


async def test_require_roles_in_a_foreign_app() -> None:
    """Other packages mount routers guarded by require_roles; the dependency works in any app."""
    import httpx

    app = FastAPI()
    auth = ConsoleAuth(TokenSigner("x"), LoginThrottle())
    install_auth(app, auth)

    @app.get("/sup")
    async def sup(p: Principal = Depends(require_roles("supervisor", "admin"))) -> dict[str, str]:
        return {"who": p.username}

    @app.get("/any")
    async def any_(p: Principal = Depends(current_principal)) -> dict[str, str]:
        return {"who": p.username}

    agent, _ = auth.signer.issue(Principal(1, "ann", "agent", "a1"))
    boss, _ = auth.signer.issue(Principal(2, "sue", "supervisor", None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        assert (await c.get("/sup", headers={"Authorization": f"Bearer {agent}"})).status_code == 403
        assert (await c.get("/sup", headers={"Authorization": f"Bearer {boss}"})).json() == {"who": "sue"}
        assert (await c.get("/any")).status_code == 401
        c.cookies.set("cti_session", agent)
        assert (await c.get("/any")).json() == {"who": "ann"}

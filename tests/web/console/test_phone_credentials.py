"""The softphone's SIP credentials: issued to the logged-in agent only, random per login, written
where Asterisk reads them, revoked at logout; no API hands out another agent's password."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from agent_console.demo import DEMO_AGENTS, DEMO_PASSWORD, build_demo, serve
from agent_console.phone import MemoryPhoneSecrets, PhoneService, install_phone
from cti.settings import load_settings
from tests.servers import free_port

ALICE, BOB = DEMO_AGENTS[0], DEMO_AGENTS[1]  # (username, agent_id, name)
EXTENSIONS = {ALICE[1]: "1001", BOB[1]: "1002"}


STAFF: dict[str, str | None] = {}  # the extension staff_phone reports for any staff user (per test)


@pytest.fixture
async def phone(request: pytest.FixtureRequest) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryPhoneSecrets]]:
    settings = load_settings(web={"session_secret": "test-secret-0123456789"},
                             pbx={"http_port": 18088, "agent_endpoints": 5})

    async def extension_of(agent_id: str) -> str | None:
        return EXTENSIONS.get(agent_id)

    async def staff_phone(user_id: int) -> tuple[str | None, str | None]:
        return STAFF.get("extension"), None

    store = MemoryPhoneSecrets()
    demo = build_demo(settings, answer_after_s=None, phone=False)
    staff = staff_phone if getattr(request, "param", False) else None
    install_phone(demo.app, PhoneService(settings, store, extension_of, staff_phone=staff))
    port = free_port()
    async with serve(demo.app, "127.0.0.1", port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        try:
            yield http, store
        finally:
            await demo.desk.close()


async def login(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await http.post("/api/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    http.cookies.clear()  # each caller below authenticates with its own bearer token only
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_an_agent_gets_own_credentials_random_per_login_and_revoked_at_logout(
        phone: tuple[httpx.AsyncClient, MemoryPhoneSecrets]) -> None:
    http, store = phone
    alice = await login(http, ALICE[0])
    r = await http.get("/api/phone/credentials", headers=alice)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    creds = r.json()
    assert creds["username"] == "web1001" and creds["uri"] == "sip:web1001@127.0.0.1"
    assert creds["ws_servers"] == ["ws://127.0.0.1:18088/ws"]
    assert len(creds["password"]) >= 32 and store.passwords == {"web1001": creds["password"]}
    # Asking again in the same session gives the same password (a page reload re-registers).
    assert (await http.get("/api/phone/credentials", headers=alice)).json()["password"] == creds["password"]
    # The console's CSP lets the page reach Asterisk's WebSocket, and nothing else.
    csp = (await http.get("/", headers=alice)).headers["content-security-policy"]
    assert "connect-src 'self' ws://127.0.0.1:18088/ws;" in csp

    assert (await http.post("/api/auth/logout", headers=alice)).status_code == 200
    assert store.passwords == {}  # Asterisk no longer accepts the old password
    alice = await login(http, ALICE[0])
    again = (await http.get("/api/phone/credentials", headers=alice)).json()
    assert again["password"] != creds["password"] and store.passwords == {"web1001": again["password"]}


async def test_no_api_gives_another_agents_credentials(phone: tuple[httpx.AsyncClient, MemoryPhoneSecrets]) -> None:
    http, store = phone
    alice = await login(http, ALICE[0])
    bob = await login(http, BOB[0])
    bob_creds = (await http.get("/api/phone/credentials", headers=bob)).json()
    # There is no parameter naming an agent: whatever alice adds, she gets her own endpoint.
    for path in ("/api/phone/credentials?agent_id=" + BOB[1], "/api/phone/credentials?username=web1002"):
        mine = (await http.get(path, headers=alice)).json()
        assert mine["username"] == "web1001" and mine["password"] != bob_creds["password"]
    # Not logged in: refused. A supervisor has no softphone.
    assert (await http.get("/api/phone/credentials")).status_code == 401
    sue = await login(http, "sue")
    assert (await http.get("/api/phone/credentials", headers=sue)).status_code == 403
    # The password never appears in the agent snapshot / websocket hello.
    snap = (await http.get("/api/agent/snapshot", headers=alice)).text
    assert store.passwords["web1001"] not in snap and store.passwords["web1002"] not in snap
    # Nor in the OpenAPI document's examples, nor any other route.
    spec = (await http.get("/openapi.json")).json()
    assert [p for p in spec["paths"] if "phone" in p] == ["/api/phone/credentials"]


@pytest.mark.parametrize("phone", [True], indirect=True)
async def test_a_supervisor_with_an_extension_gets_own_softphone_for_listening(
        phone: tuple[httpx.AsyncClient, MemoryPhoneSecrets]) -> None:
    """The wallboard's softphone (a spy rings it): staff with an extension get theirs, revoked at
    logout; staff without one get 403."""
    http, store = phone
    STAFF["extension"] = None
    sue = await login(http, "sue")
    assert (await http.get("/api/phone/credentials", headers=sue)).status_code == 403
    STAFF["extension"] = "1003"
    creds = (await http.get("/api/phone/credentials", headers=sue)).json()
    assert creds["username"] == "web1003" and store.passwords == {"web1003": creds["password"]}
    alice = await login(http, ALICE[0])  # an agent's softphone is kept apart from the supervisor's
    assert (await http.get("/api/phone/credentials", headers=alice)).json()["username"] == "web1001"
    assert (await http.post("/api/auth/logout", headers=sue)).status_code == 200
    assert set(store.passwords) == {"web1001"}


@pytest.mark.parametrize("phone", [True], indirect=True)
async def test_me_says_whether_the_user_has_a_softphone(phone: tuple[httpx.AsyncClient, MemoryPhoneSecrets]) -> None:
    """The wallboard learns from /api/me that staff without an extension have no phone, instead of
    asking for credentials and logging the 403 in the browser's console on every load."""
    http, _ = phone
    sue = await login(http, "sue")
    STAFF["extension"] = None
    assert (await http.get("/api/me", headers=sue)).json()["phone"] is False
    STAFF["extension"] = "1003"
    assert (await http.get("/api/me", headers=sue)).json()["phone"] is True
    alice = await login(http, ALICE[0])
    assert (await http.get("/api/me", headers=alice)).json()["phone"] is True

"""What a node that does not route yet serves on its web port (callcenter/standby.py), table by
table: /healthz 503 naming the role, /metrics as the console serves it (behind the token; none
without one), everything else 503 naming the node that routes, a console's websocket closed."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from agent_console.metrics import EngineMetrics, LiveSources
from callcenter.standby import StandbyStatus, standby_asgi

TOKEN = secrets.token_urlsafe(32)


def _client(token: str | None, status: StandbyStatus) -> httpx.AsyncClient:
    metrics = EngineMetrics(LiveSources(routing=lambda: status.role == "starting", ami_connected=lambda: False))
    app = standby_asgi(metrics, token=SecretStr(token) if token else None, status=lambda: status)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standby")


STANDBY = StandbyStatus("standby", "node-b", "node-a")


async def test_healthz_is_503_with_a_body_naming_the_role() -> None:
    async with _client(TOKEN, STANDBY) as http:
        r = await http.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "not_serving", "role": "standby", "node": "node-b", "routing_node": "node-a"}
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/", "/api/me", "/wallboard"])
async def test_the_console_is_not_served_and_the_routing_node_named(path: str) -> None:
    async with _client(TOKEN, STANDBY) as http:
        r = await http.get(path)
    assert r.status_code == 503
    assert r.text == "node-b is a standby node: node node-a routes calls and serves the console\n"


@pytest.mark.parametrize(("auth", "status"), [(None, 401), (f"Bearer {secrets.token_urlsafe(32)}", 401),
                                              (f"Bearer {TOKEN}", 200)], ids=["none", "wrong", "right"])
async def test_metrics_behind_the_token(auth: str | None, status: int) -> None:
    async with _client(TOKEN, STANDBY) as http:
        r = await http.get("/metrics", headers={"Authorization": auth} if auth else {})
    assert r.status_code == status, r.text
    if status == 200:
        assert "cti_routing 0.0" in r.text and "process_cpu_seconds_total" in r.text
        assert "cti_ami_connected" not in r.text  # a standby has no AMI link: no 0 to page on
    else:
        assert r.headers["www-authenticate"] == "Bearer"


async def test_without_a_token_no_metrics_on_the_web_port() -> None:
    async with _client(None, STANDBY) as http:
        r = await http.get("/metrics")
    assert r.status_code == 503 and "cti_routing" not in r.text


async def test_a_node_that_took_the_lease_says_it_is_starting() -> None:
    async with _client(TOKEN, StandbyStatus("starting", "node-b", None)) as http:
        health = await http.get("/healthz")
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert health.status_code == 503 and health.json()["role"] == "starting"
    assert "cti_routing 1.0" in scraped.text and "cti_ami_connected 0.0" in scraped.text


async def test_a_consoles_websocket_is_closed_to_try_again_later() -> None:
    app = standby_asgi(EngineMetrics(), token=None, status=lambda: STANDBY)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "websocket", "path": "/ws/agent", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1013}]

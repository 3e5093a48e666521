"""Repeated refused SIP logins reach the administrators: a ``security_alert`` frame on their screens
and an ``alert.security`` row in the audit log; supervisors and managers get neither."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import websockets

from acd.alerts import AlertEngine
from agent_console.supervisor.alerting import AlertRunner
from cti.security import AuthFailuresAlarm
from tests.web.supervisor.conftest import Site, login


async def _no_cases() -> list[Any]:
    return []


async def test_auth_failure_alarm_is_pushed_and_audited(site: Site) -> None:
    pushed: list[dict[str, Any]] = []
    runner = AlertRunner(AlertEngine([]), site.svc.bus, site.svc.audit, agent_since=lambda _a: None,
                         load_cases=_no_cases, push=pushed.append)
    await runner.on_auth_failures(AuthFailuresAlarm(ts=1_800_000_000.0, remote_address="192.0.2.7", count=5,
                                                    window_s=60.0, service="PJSIP", accounts=("1001", "1002")))
    assert pushed == [{"type": "security_alert", "to": [], "event": {
        "kind": "sip_auth_failures", "remote_address": "192.0.2.7", "count": 5, "window_s": 60.0,
        "service": "PJSIP", "accounts": ["1001", "1002"], "at": 1_800_000_000.0}}]
    audit = await site.svc.audit.list(target="address:192.0.2.7")  # type: ignore[attr-defined]
    assert [(a["action"], a["actor"], a["detail"]["count"]) for a in audit] == [("alert.security", "system", 5)]


PASSWORDS = {"admin": "admin-demo-1", "sup1": "sup1-demo-1", "mgr1": "mgr1-demo-1"}


async def _alarm(site: Site) -> None:
    """What cti.security publishes after repeated refused logins, through the engine's own runner."""
    await site.svc.alerts.on_auth_failures(AuthFailuresAlarm(
        ts=time.time(), remote_address="198.51.100.9", count=5, window_s=60.0, service="PJSIP",
        accounts=("1003",)))


async def test_security_alerts_are_the_administrators_over_rest(site: Site) -> None:
    """Source addresses and the endpoints tried are an administrator's matter (docs/security.md):
    supervisors, whatever their queues, and managers get none, nor the audit rows behind them."""
    await _alarm(site)
    async with site.client() as c:
        await login(c, "admin", PASSWORDS["admin"])
        sup1 = next(u["id"] for u in (await c.get("/api/admin/users")).json() if u["username"] == "sup1")
        assert (await c.patch(f"/api/admin/users/{sup1}", json={"queues": ["billing"]})).status_code == 200
    seen: dict[str, tuple[list[str], list[str]]] = {}
    for user, queues in (("admin", None), ("mgr1", None), ("sup1", ["billing"]), ("sup1", [])):
        async with site.client() as c:
            if queues == []:  # sup1 again, unassigned: every queue, still no security alert
                await login(c, "admin", PASSWORDS["admin"])
                assert (await c.patch(f"/api/admin/users/{sup1}", json={"queues": []})).status_code == 200
            await login(c, user, PASSWORDS[user])
            alerts = await c.get("/api/supervisor/alerts")
            audit = await c.get("/api/supervisor/audit")
        assert alerts.status_code == 200 and audit.status_code == 200, (alerts.text, audit.text)
        seen[f"{user}{queues or ''}"] = ([a["remote_address"] for a in alerts.json()["security"]],
                                         [a["target"] for a in audit.json() if a["action"] == "alert.security"])
    assert seen == {"admin": (["198.51.100.9"], ["address:198.51.100.9"]), "mgr1": ([], []),
                    "sup1['billing']": ([], []), "sup1": ([], [])}
    sure = await site.svc.audit.list(action_prefix="alert.security")  # type: ignore[attr-defined]
    assert len(sure) == 1  # kept in the log: only who reads it changed


async def test_security_alert_frames_reach_administrators_only(site: Site) -> None:
    sockets: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        for user in ("admin", "sup1", "mgr1"):
            async with site.client() as c:
                token = await login(c, user, PASSWORDS[user])
            url = site.base.replace("http", "ws") + f"/ws/supervisor?token={token}"
            sockets[user] = await stack.enter_async_context(websockets.connect(url))
            assert json.loads(await asyncio.wait_for(sockets[user].recv(), 5))["type"] == "wallboard"
        await _alarm(site)
        got: dict[str, list[str]] = {}
        for user, ws in sockets.items():
            got[user] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.5):  # the frame is pushed at once; a wallboard every ~2 s
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame["type"] == "security_alert":
                            got[user].append(frame["event"]["remote_address"])
    assert got == {"admin": ["198.51.100.9"], "sup1": [], "mgr1": []}

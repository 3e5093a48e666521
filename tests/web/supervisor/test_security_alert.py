"""Repeated refused SIP logins reach the supervisors: a ``security_alert`` frame on their screens
and an ``alert.security`` row in the audit log."""

from __future__ import annotations

from typing import Any

from acd.alerts import AlertEngine
from agent_console.supervisor.alerting import AlertRunner
from cti.security import AuthFailuresAlarm
from tests.web.supervisor.conftest import Site


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

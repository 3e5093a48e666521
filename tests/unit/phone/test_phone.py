"""The agent phone kinds (what the ACD dials, which device says "registered") and how the
softphone's password reaches Asterisk's AstDB."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from acd.calls import AgentPhone
from agent_console.phone import ASTDB_FAMILY, AstDbPhoneSecrets


@pytest.mark.parametrize(("kind", "dial", "device", "prefix", "registers"), [
    ("webrtc", "PJSIP/web1001", "PJSIP/web1001", "PJSIP/web1001-", True),
    ("sip", "PJSIP/1001", "PJSIP/1001", "PJSIP/1001-", True),
    ("sim", "Local/1001@cti-sim-phone/n", "PJSIP/1001", "Local/1001@cti-sim-phone-", False),
])
def test_each_kind_dials_its_own_device(kind: Any, dial: str, device: str, prefix: str, registers: bool) -> None:
    phone = AgentPhone("1001", kind=kind)
    assert (phone.dial, phone.device, phone.channel_prefix, phone.registers) == (dial, device, prefix, registers)


class Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], **kw: Any) -> Any:
        self.sent.append((action, dict(headers)))


async def test_astdb_secrets_write_a_sorcery_auth_object_and_delete_it() -> None:
    sender = Sender()
    store = AstDbPhoneSecrets(sender)
    await store.put("web1001", "s3cret-Δ")
    await store.delete("web1001")
    await store.clear()
    (put, h), (dele, d), (tree, t) = sender.sent
    assert (put, h["Family"], h["Key"]) == ("DBPut", ASTDB_FAMILY, "web1001") and ASTDB_FAMILY == "cti_phone/auth"
    assert json.loads(h["Val"]) == {"auth_type": "userpass", "username": "web1001", "password": "s3cret-Δ"}
    assert "\n" not in h["Val"] and "\r" not in h["Val"]  # one AMI header line
    assert (dele, d) == ("DBDel", {"Family": ASTDB_FAMILY, "Key": "web1001"})
    assert (tree, t) == ("DBDelTree", {"Family": ASTDB_FAMILY})

"""The agent phone kinds (what the ACD dials, which device says "registered") and how the
softphone's password reaches Asterisk's AstDB."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from acd.calls import AgentPhone
from cti.ami.phone_secrets import ASTDB_FAMILY, AstDbPhoneSecrets


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


async def test_astdb_secrets_are_written_by_the_dialplan_never_by_dbput() -> None:
    """The engine's AMI user has no system class (DBPut would come with shell commands through
    Originate): each write is a Local channel into cti-phone-secret, whose dialplan writes AstDB."""
    sender = Sender()
    store = AstDbPhoneSecrets(sender)
    await store.put("web1001", "s3cret-A_b")
    await store.delete("web1001")
    await store.clear()
    (put, h), (dele, d), (tree, t) = sender.sent
    assert {put, dele, tree} == {"Originate"} and ASTDB_FAMILY == "cti_phone/auth"
    assert h["Channel"] == "Local/put@cti-phone-secret/n" and h["Variable"] == ["CTI_EP=web1001", "CTI_PW=s3cret-A_b"]
    assert d["Channel"] == "Local/del@cti-phone-secret/n" and d["Variable"][0] == "CTI_EP=web1001"
    assert t["Channel"] == "Local/clear@cti-phone-secret/n"


@pytest.mark.parametrize("bad", ["s3cret-Δ", "a,b", "x\r\nAction: Command", "a b", "${SHELL(id)}"])
async def test_astdb_secrets_refuse_anything_but_url_safe_characters(bad: str) -> None:
    sender = Sender()
    with pytest.raises(ValueError):
        await AstDbPhoneSecrets(sender).put("web1001", bad)
    with pytest.raises(ValueError):
        await AstDbPhoneSecrets(sender).delete(bad)
    assert sender.sent == []

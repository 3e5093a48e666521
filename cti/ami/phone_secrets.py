"""The softphones' passwords into Asterisk's AstDB, over AMI: the adapter behind
``agent_console.phone.PhoneSecrets``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

ASTDB_FAMILY = "cti_phone/auth"  # sorcery.conf: auth = astdb,cti_phone (the wizard adds /auth)


class _Sender(Protocol):
    async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                          expect: Any = "response", timeout_s: float = 10.0) -> Any: ...


class AstDbPhoneSecrets:
    """Auth objects in AstDB, read by res_sorcery_astdb on each REGISTER (no reload).

    The engine's AMI user may not write AstDB itself: DBPut/DBDel need the ``system`` class, which
    would also let it run shell commands through Originate. So each write is a Local channel
    originated into ``cti-phone-secret`` (config/asterisk/extensions.conf), whose dialplan writes
    or deletes the entry from the channel's variables and hangs up; the call model knows that
    context and makes no call of it. Endpoint names and passwords are [A-Za-z0-9_-] only."""

    def __init__(self, sender: _Sender) -> None:
        self._sender = sender

    async def _run(self, exten: str, endpoint: str = "", password: str = "") -> None:
        for value in (endpoint, password):
            if not _SAFE.fullmatch(value):
                raise ValueError("softphone endpoint names and passwords are [A-Za-z0-9_-] only")
        variables = [f"CTI_EP={endpoint}", f"CTI_PW={password}"]
        await self._sender.send_action("Originate", {
            "Channel": f"Local/{exten}@cti-phone-secret/n", "Context": "cti-phone-secret", "Exten": "done",
            "Priority": "1", "Timeout": "5000", "Variable": variables}, timeout_s=10.0)

    async def put(self, endpoint: str, password: str) -> None:
        await self._run("put", endpoint, password)

    async def delete(self, endpoint: str) -> None:
        await self._run("del", endpoint)

    async def clear(self) -> None:
        await self._run("clear")


_SAFE = re.compile(r"[A-Za-z0-9_-]*")

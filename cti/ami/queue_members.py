"""The members of the app_queue fallback queues over AMI (the adapter of acd.fallback's port).

Engine queue ``support`` falls back to the app_queue queue ``cti-fallback-support`` (cti.pbx
renders queues.conf); callers of this adapter name the engine queue, the adapter the app_queue one.
Every value goes out through ``send_action``, which checks it with cti.safety first.

Asterisk's answers that are no error for us (app_queue 22's texts):
- ``QueueAdd`` -> "Unable to add interface: Already there": a member left by an earlier engine
  (dynamic members outlive the AMI connection); ``add`` answers False.
- ``QueueRemove`` -> "Unable to remove interface: Not there", ``QueuePause`` -> "Interface not
  found": already gone (an Asterisk restart forgets dynamic members); ``remove``/``pause`` return.
``QueueStatus`` answers one ``QueueMember`` event per member (plus ``QueueParams`` per queue);
the member's interface is ``Location`` (``Interface`` on older builds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from cti.ami.manager import AmiReply
from cti.errors import AmiActionFailed
from cti.pbx_config import FALLBACK_PREFIX

_ALREADY = ("already",)
_GONE = ("not there", "not found")


class _Sender(Protocol):
    async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                          expect: Literal["response", "list", "originate"] = "response",
                          timeout_s: float = 10.0) -> AmiReply: ...


def _says(err: AmiActionFailed, texts: tuple[str, ...]) -> bool:
    message = err.message.lower()
    return any(t in message for t in texts)


def _flag(value: bool) -> str:
    return "true" if value else "false"


class AmiFallbackQueues:
    """acd.fallback.FallbackQueues over AMI actions (through AmiClient.send_action)."""

    def __init__(self, sender: _Sender, *, prefix: str = FALLBACK_PREFIX) -> None:
        self._send = sender.send_action
        self.prefix = prefix

    async def add(self, queue: str, interface: str, *, name: str, state_interface: str, paused: bool) -> bool:
        try:
            await self._send("QueueAdd", {"Queue": self.prefix + queue, "Interface": interface, "MemberName": name,
                                          "StateInterface": state_interface, "Paused": _flag(paused)})
        except AmiActionFailed as err:
            if not _says(err, _ALREADY):
                raise
            return False
        return True

    async def remove(self, queue: str, interface: str) -> None:
        await self._gone_is_fine("QueueRemove", {"Queue": self.prefix + queue, "Interface": interface})

    async def pause(self, queue: str, interface: str, paused: bool) -> None:
        await self._gone_is_fine("QueuePause", {"Queue": self.prefix + queue, "Interface": interface,
                                                "Paused": _flag(paused)})

    async def members(self, queue: str) -> list[str]:
        reply = await self._send("QueueStatus", {"Queue": self.prefix + queue}, expect="list")
        found = []
        for item in reply.items:
            interface = item.get("Location") or item.get("Interface") or ""
            if item.get("Event") == "QueueMember" and interface:
                found.append(interface)
        return found

    async def _gone_is_fine(self, action: str, headers: dict[str, str]) -> None:
        try:
            await self._send(action, headers)
        except AmiActionFailed as err:
            if not _says(err, _GONE):
                raise
